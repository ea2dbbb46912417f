"""A user's own data is first class: files without a header or a telling suffix load, the
wrong-column error's fix works, exact duplicates never straddle the splits (and are reported),
and the split report (label counts per split, small-class warnings) reaches the console and
report.json. Every data file is made here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from edgekit.data import DATASETS, Split, SplitPlan, stratified_split
from edgekit.data.duplicates import row_groups
from edgekit.errors import EdgekitError

PLAN = SplitPlan(test_fraction=0.2, val_fraction=0.1, seed=0)
WORDS = ["calm", "bright", "quiet", "rough", "sharp", "soft", "green", "cold", "late", "tidy"]


def _texts(n: int) -> list[tuple[str, str]]:
    """n distinct short texts, labelled 'good'/'bad' as words."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        words = " ".join(rng.choice(WORDS, size=4))
        out.append(("good" if i % 2 else "bad", f"text {i} was {words}, said one"))
    return out


def _load_text(**params):
    loader = DATASETS.get("text_file")
    try:
        return loader.load(loader.Config.model_validate(params), PLAN)
    except EdgekitError as exc:
        if "tokenizer" in str(exc).lower() or "not installed" in str(exc):
            pytest.skip(f"the default tokenizer is not installed here: {exc}")
        raise


def _overlap(a: Split, b: Split) -> int:
    """Examples of ``b`` whose inputs equal some example of ``a``."""
    groups = row_groups({k: np.concatenate([a.x[k], b.x[k]]) for k in a.x})
    return int(np.isin(groups[len(a):], groups[:len(a)]).sum())


def test_headerless_tsv_without_suffix_loads_by_position(tmp_path: Path) -> None:
    """The issue's file: LABEL<TAB>text, labels as words, no header, no suffix."""
    rows = _texts(120)
    path = tmp_path / "reviews"
    path.write_text("".join(f"{y}\t{t}\n" for y, t in rows))
    data = _load_text(path=str(path), header=False)  # label 0, text 1 by default
    assert data.extra["label_names"] == ["bad", "good"]
    assert len(data.train) + len(data.val) + len(data.test) == 120
    assert data.name == "text:reviews" and data.source == str(path.resolve())
    # a header row read as data would be a third label; positions can be given explicitly too
    swapped = tmp_path / "swapped.data"
    swapped.write_text("".join(f"{t}|{y}\n" for y, t in rows))  # pipe-delimited, sniffed
    again = _load_text(path=str(swapped), header=False, text_column=0, label_column=1)
    assert again.extra["label_names"] == ["bad", "good"] and len(again.test) == len(data.test)


def test_wrong_column_error_fix_works(tmp_path: Path) -> None:
    """A headerless file read with the default header: the error names the columns it saw and
    a fix that, applied as written, loads the file."""
    path = tmp_path / "plain.tsv"
    path.write_text("".join(f"{y}\t{t}\n" for y, t in _texts(80)))
    with pytest.raises(EdgekitError) as info:
        _load_text(path=str(path))
    msg = str(info.value)
    assert "no column 'sentence'" in msg and "header=false" in msg and "label_column=0" in msg
    data = _load_text(path=str(path), header=False, label_column=0, text_column=1)
    assert len(data.train) + len(data.val) + len(data.test) == 80
    # with a header, columns may be named or given by position
    named = tmp_path / "named.csv"
    named.write_text("id,review,verdict\n" + "".join(f"{i},\"{t}\",{y}\n"
                                                     for i, (y, t) in enumerate(_texts(80))))
    by_name = _load_text(path=str(named), text_column="review", label_column="verdict")
    by_pos = _load_text(path=str(named), text_column=1, label_column=2)
    assert np.array_equal(by_name.test.y, by_pos.test.y)


def test_jsonl_without_suffix_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "rows"
    path.write_text("".join(json.dumps({"text": t, "y": y}) + "\n" for y, t in _texts(60)))
    data = _load_text(path=str(path), text_column="text", label_column="y")
    assert data.extra["label_names"] == ["bad", "good"]


def test_text_duplicates_never_straddle_splits_and_are_reported(tmp_path: Path) -> None:
    """300 distinct texts, 100 repeated with other case/spacing, 10 with the other label."""
    rows = _texts(300)
    dupes = [(y, "  " + t.upper().replace(" ", "   ")) for y, t in rows[:100]]
    conflicting = [("good" if y == "bad" else "bad", t) for y, t in rows[100:110]]
    path = tmp_path / "dupes.tsv"
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for y, t in
                                                  rows + dupes + conflicting))
    data = _load_text(path=str(path))
    report = data.extra["split"]
    assert report["dedup"] and report["examples"] == 410 and report["duplicates"] == 110
    assert report["conflicting_groups"] == 10 and report["conflicting_examples"] == 20
    assert report["heldout_seen_in_training"] == 0
    assert _overlap(data.train, data.test) == 0 and _overlap(data.val, data.test) == 0
    # turned off, the same file splits row by row and the report says what leaked
    loader = DATASETS.get("text_file")
    off = loader.load(loader.Config.model_validate({"path": str(path)}),
                      SplitPlan(0.2, 0.1, 0, dedup=False))
    assert not off.extra["split"]["dedup"]
    assert off.extra["split"]["heldout_seen_in_training"] > 0
    assert _overlap(off.train, off.test) + _overlap(off.val, off.test) > 0


def test_glue_folder_drops_training_rows_that_repeat_a_heldout_text(tmp_path: Path) -> None:
    rows = _texts(200)
    (tmp_path / "train.tsv").write_text("sentence\tlabel\n" + "".join(
        f"{t}\t{y}\n" for y, t in rows[:150] + rows[150:160]))
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\n" + "".join(
        f"{t}\t{y}\n" for y, t in rows[150:]))
    data = _load_text(path=str(tmp_path))
    assert data.extra["split"]["train_rows_dropped_repeating_heldout"] == 10
    assert len(data.test) == 50 and len(data.train) + len(data.val) == 150
    assert _overlap(data.train, data.test) == 0


def test_table_rows_and_images_are_grouped_by_their_bytes() -> None:
    """Tabular rows and images: the shared split groups identical inputs."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 4)).astype(np.float32)
    x = {"features": np.concatenate([base, base[:80]])}
    y = np.concatenate([np.arange(200) % 2, np.arange(80) % 2])
    parts = stratified_split(x, y, PLAN)
    assert parts.report.duplicates == 80 and parts.report.heldout_seen_in_training == 0
    assert _overlap(parts[0], parts[2]) == 0 and _overlap(parts[1], parts[2]) == 0
    loose = stratified_split(x, y, SplitPlan(0.2, 0.1, 0, dedup=False))
    assert loose.report.heldout_seen_in_training == _overlap(
        Split({k: np.concatenate([loose[0].x[k], loose[1].x[k]]) for k in x},
              np.concatenate([loose[0].y, loose[1].y])), loose[2]) > 0

    from edgekit.data._images import ImageTaskConfig, image_dataset

    images = rng.random((150, 8, 8)).astype(np.float32)
    images = np.concatenate([images, images[:50]])
    labels = np.arange(200) % 3
    data = image_dataset("imgs", images, labels, ImageTaskConfig(), PLAN, source="made here")
    assert data.extra["split"]["duplicates"] == 50
    assert _overlap(data.train, data.test) == 0


def _csv_rows(n: int, rng: np.random.Generator, labels: list[int]) -> list[str]:
    return [f"{rng.normal() + y:.3f};{rng.normal() - y:.3f};{y}" for y in labels[:n]]


def test_user_csv_run_reports_its_splits(tmp_path: Path) -> None:
    """A small non-BERT recipe on a user table (no header, semicolons, no suffix, duplicate
    rows, a rare class): the console and report.json describe that file's splits."""
    rng = np.random.default_rng(0)
    labels = [0] * 150 + [1] * 150 + [2] * 40
    rows = _csv_rows(len(labels), rng, labels)
    rows += rows[:30]  # exact duplicate rows
    path = tmp_path / "table"
    path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    res = subprocess.run(
        [sys.executable, "-m", "edgekit", "compress", "perceptron", "--quick",
         "--set", "data.dataset=csv", "--set",
         f"data.params={{path: {path}, header: false}}",
         "--set", "export=[{format: onnx, precision: fp32}]", "--out", str(out)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "labels: train 0 " in res.stderr and "duplicates: 30 of 370" in res.stderr
    assert "fewer than 30" in res.stderr and "class '2'" in res.stderr
    report = json.loads((out / "report.json").read_text())
    data = report["dataset"]
    assert data["name"] == "csv:table" and data["source"] == str(path.resolve())
    split = data["split_report"]
    counts = split["label_counts"]
    assert sum(counts["test"].values()) == data["test_examples"]
    assert sum(sum(c.values()) for c in counts.values()) == 370
    assert split["duplicates"]["duplicates"] == 30
    assert split["duplicates"]["heldout_seen_in_training"] == 0
    assert any("class '2'" in w for w in split["warnings"])
    html = (out / "report.html").read_text()
    assert "labels: train 0 " in html and "duplicates: 30 of 370" in html
    described = report["resolved_recipe"]["description"]
    assert "written for data set breast_cancer; this run: csv" in described


def test_known_third_party_noise_is_quiet(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """ONNX Runtime's pre-processing advice is dropped from a real dynamic quantization, and
    transformers' progress bar is off inside :func:`transformers_progress` (and back after)."""
    import logging

    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime.quantization")
    from onnx import TensorProto, helper, numpy_helper

    from edgekit.exporters.onnx import quantize_dynamic_int8

    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(16, 16)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])], [w])
    src = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), src)
    with caplog.at_level(logging.WARNING):
        quantize_dynamic_int8(src, tmp_path / "q.onnx")
    assert (tmp_path / "q.onnx").is_file()
    assert not [r for r in caplog.records if "pre-processing" in r.getMessage()]

    hf_logging = pytest.importorskip("transformers.utils.logging")
    from edgekit.quiet import transformers_progress

    hf_logging.enable_progress_bar()
    with transformers_progress():
        assert not hf_logging.is_progress_bar_enabled()
    assert hf_logging.is_progress_bar_enabled()


def test_glue_folder_can_draw_validation_from_dev(tmp_path: Path) -> None:
    """validation_from_heldout: validation is a stratified share of dev (texts of dev's kind),
    train keeps every train row, and no dev text is in two splits."""
    rows = _texts(200)
    (tmp_path / "train.tsv").write_text("sentence\tlabel\n" + "".join(
        f"{t}\t{y}\n" for y, t in rows[:150]))
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\n" + "".join(
        f"{t}\t{y}\n" for y, t in rows[150:]))
    data = _load_text(path=str(tmp_path), validation_from_heldout=0.5)
    assert len(data.train) == 150 and len(data.val) == 25 and len(data.test) == 25
    assert _overlap(data.val, data.test) == 0 and _overlap(data.train, data.val) == 0
    dev_texts = {t for _, t in rows[150:]}
    assert set(data.extra["test_texts"]) <= dev_texts
    assert data.extra["split"]["validation_from_heldout"] == {"share": 0.5, "val": 25,
                                                              "heldout": 25}
    assert sorted(np.bincount(data.val.y)) == [12, 13]  # stratified


def test_validation_from_heldout_on_one_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "all.tsv"
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for y, t in _texts(40)))
    with pytest.raises(EdgekitError, match="validation_from_heldout needs a folder"):
        _load_text(path=str(path), validation_from_heldout=0.5)
