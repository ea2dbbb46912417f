"""The real command, slow: `edgekit compress distilbert --quick` and `tinybert --quick` on the
packaged MiniLM-L6 teacher and real review snippets (several minutes each on 2 cores)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("recipe,share", [("distilbert", 0.93), ("tinybert", 0.8)])
def test_quick_run_distils_a_student_that_keeps_the_teacher_s_accuracy(
        tmp_path: Path, recipe: str, share: float) -> None:
    out = tmp_path / recipe
    res = run_cli("compress", recipe, "--quick", "--out", str(out), timeout=3600)
    assert res.returncode in (0, 3), res.stderr[-2000:]  # 3: some artifact missed a budget
    report = json.loads((out / "report.json").read_text())
    teacher = report["reference"]["value"]
    assert teacher > 0.7, "the fine-tuned teacher should clearly beat chance on reviews"
    facts = report["stages"][0]["facts"]
    assert facts["student_layers"] == 3 and facts["parameters"] < facts["teacher_parameters"]
    students = [a for a in report["artifacts"] if a["model"] == recipe]
    float_student = next(a for a in students if a["stored_precision"] == "fp32")
    assert float_student["metric"]["value"] >= share * teacher
    for art in students:  # every format/precision reproduces its float student
        assert art["baseline"]["agreement"] >= 0.9, (art["file"], art["baseline"])
    assert report["extras"]["hf_checkpoint"]["transformers_check"]["status"] in ("passed", "skipped")
    text = json.loads((out / "text.json").read_text())
    assert text["labels"] == ["rotten", "fresh"] and text["seq_len"] <= 64
