"""The run's disk and memory are estimated before training: a run refuses up front (one line,
exit 2, nothing written) when the disk cannot hold it, states the estimate in report.json, and
the estimate lands near what a real run wrote and used."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import LENET_MINIMAL, REPO
from edgekit.resources import FREE_DISK_ENV
from edgekit.stage_records import run_folder


def test_refuses_before_training_when_the_disk_cannot_hold_the_run(tmp_path: Path) -> None:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(LENET_MINIMAL)
    out = tmp_path / "bundle"
    env = {**os.environ, "PYTHONPATH": str(REPO), FREE_DISK_ENV: "1000"}
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "edgekit", "compress", str(recipe), "--out",
                          str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr[-2000:]
    errors = [ln for ln in res.stderr.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1 and "not enough disk" in errors[0] and "MB are free" in errors[0]
    assert "Traceback" not in res.stderr
    assert "✓ train" not in res.stderr  # the train stage never ran ...
    assert not run_folder(out).exists()  # ... nor began: it would have written its record
    assert not out.exists() and not list(tmp_path.glob(".bundle*"))  # no bundle, no partial
    assert time.monotonic() - t0 < 120


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_report_states_the_estimate_and_it_is_near_the_real_run(
        lenet_bundle: tuple[Path, dict]) -> None:
    """On the real quick LeNet-5 run: disk within 2x of what was written, memory within 2x of
    the measured peak resident memory."""
    out, report = lenet_bundle
    res = report["resources"]
    expected = res["expected"]
    assert expected["disk_bytes"] == (expected["bundle_bytes"] + expected["run_cache_bytes"]
                                      + expected["temp_bytes"])
    assert res["free_disk_bytes"] > 0 and res["measured_peak_rss_bytes"] > 0
    assert expected["parameters"]["reference"] == report["reference"]["parameters"]
    bundle, cache = _size(out), _size(run_folder(out))
    assert 0.5 < expected["bundle_bytes"] / bundle < 2, (expected["bundle_bytes"], bundle)
    assert 0.5 < expected["run_cache_bytes"] / cache < 2, (expected["run_cache_bytes"], cache)
    ratio = expected["memory_bytes"] / res["measured_peak_rss_bytes"]
    assert 0.5 < ratio < 2, (expected["memory_bytes"], res["measured_peak_rss_bytes"])


def _tiny_bert_data(n: int, seq: int, lengths: np.ndarray | None = None):
    from edgekit.data import Dataset, Split

    rng = np.random.default_rng(0)
    own = np.full(n, seq) if lengths is None else lengths
    x = {"input_ids": rng.integers(0, 50, (n, seq)).astype(np.int32),
         "attention_mask": (np.arange(seq)[None, :] < own[:, None]).astype(np.int32),
         "token_type_ids": np.zeros((n, seq), np.int32)}
    split = Split(x, np.arange(n) % 2)
    return Dataset("toy", "classification", split, split, split, 2, "test",
                   extra={"seq_len": seq})


@pytest.mark.parametrize("bucketed", [False, True], ids=["fixed-length", "own-length"])
@pytest.mark.parametrize("stage, params", [("distilbert", {}), ("tinybert", {"student_layers": 2}),
                                           ("ffn_prune", {"keep": 0.5}),
                                           ("head_prune", {"heads": 1})])
def test_bert_footprints_match_built_models_and_the_real_teacher_cache(stage: str, params: dict,
                                                                       bucketed: bool) -> None:
    """Parameter counts from the config alone equal the built models'; the teacher cache
    estimate equals the bytes a real TeacherCache writes for that stage's teacher outputs,
    at the fixed length or (length buckets) at each text's own length."""
    from edgekit.models.bert.config import BertConfig
    from edgekit.models.bert.encoder import build_bert, footprint
    from edgekit.stages import STAGES
    from edgekit.stages._distill import TeacherCache, only
    from edgekit.stages.tinybert import mimicked_blocks

    from edgekit.length_buckets import true_lengths
    from edgekit.models.bert.lengths import any_length

    seq, n = 8, 10
    teacher_cfg = BertConfig(vocab_size=50, hidden_size=16, num_layers=4, num_heads=2,
                             intermediate_size=32, max_position_embeddings=16)
    data = _tiny_bert_data(n, seq, np.array([1, 2, 3, 8, 5, 8, 2, 7, 4, 6]) if bucketed else None)
    lengths = true_lengths(data.train.x) if bucketed else None
    teacher = footprint(teacher_cfg, seq)
    outputs = ("logits", "hidden_states", "attention_scores")
    built = build_bert(teacher_cfg, seq, outputs=outputs)
    assert teacher.params == built.count_params()
    s = STAGES.get(stage)
    got = s.footprint(s.Config.model_validate(params), teacher, data, lengths)
    assert got.model.params == build_bert(got.model.arch, seq).count_params()
    assert got.model.params < teacher.params
    keys = {"distilbert": ("logits", "hidden_states.4"), "ffn_prune": ("logits",),
            "head_prune": ("logits",),
            "tinybert": ("logits", "hidden_states.0",
                         *(f"hidden_states.{b + 1}" for b in mimicked_blocks(4, 2)),
                         *(f"attention_scores.{b}" for b in mimicked_blocks(4, 2)))}[stage]
    cache = TeacherCache(only(any_length(built) if bucketed else built, keys), data.train,
                         lengths=lengths)
    try:
        assert got.temp_bytes == cache.nbytes
    finally:
        cache.close()
