"""The first end-to-end path, checked through the bundle a real run wrote."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgekit.device.hashing import sha256_of
from edgekit.device.heldout import open_arrays
from edgekit.recipe import load_recipe
from edgekit.device.runtimes import RUNTIMES
from edgekit.validation.prove import run_all
from edgekit.data import Split

ARTIFACT_KEYS = {"format", "precision", "file", "size_bytes", "sha256", "runtime", "target",
                 "metric", "agreement", "max_abs_diff", "latency_ms", "passed"}


def test_report_contract(lenet_bundle: tuple[Path, dict]) -> None:
    out, report = lenet_bundle
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["recipe"] == "lenet5" and on_disk["edgekit_version"]
    assert on_disk["created"] and on_disk["resolved_recipe"]["name"] == "lenet5"
    ref = on_disk["reference"]
    assert ref["metric"] == "accuracy" and 0.9 < ref["value"] <= 1.0
    assert ref["parameters"] > 40_000 and ref["size_bytes"] == 4 * ref["parameters"]
    assert {a["format"] for a in on_disk["artifacts"]} == {"tflite", "onnx", "openvino"}
    for art in on_disk["artifacts"]:
        assert ARTIFACT_KEYS <= set(art), set(ARTIFACT_KEYS) - set(art)
        lat = art["latency_ms"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] and lat["threads"] == 2
        assert lat["batch"] == 1 and lat["runs"] == 50
        assert art["precision"] in {"fp32", "fp16", "bf16", "int8", "int8+bf16"}


def test_artifacts_match_their_hashes_and_manifest(lenet_bundle: tuple[Path, dict]) -> None:
    out, report = lenet_bundle
    for art in report["artifacts"]:
        assert sha256_of(out / art["file"]) == art["sha256"]
        assert sum((out / f).stat().st_size for f in art["files"]) == art["size_bytes"]
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {f["path"]: f for f in manifest["files"]}
    for path in out.rglob("*"):
        if path.is_file() and path.name != "manifest.json":
            entry = listed[path.relative_to(out).as_posix()]
            assert entry["sha256"] == sha256_of(path)
    assert not list(out.parent.glob(".lenet5.partial-*")), "temporary bundle left behind"


def test_int8_artifacts_within_budget_and_smaller(lenet_bundle: tuple[Path, dict]) -> None:
    _, report = lenet_bundle
    budget = report["budgets"]["max_metric_drop"]
    ref = report["reference"]["value"]
    by_key = {(a["format"], a["stored_precision"], a["model"]): a for a in report["artifacts"]}
    fp32 = by_key[("tflite", "fp32", "prune")]
    for key in [("tflite", "int8", "prune"), ("tflite", "int8", "qat"), ("onnx", "int8", "prune"),
                ("openvino", "int8", "prune")]:
        art = by_key[key]
        assert ref - art["metric"]["value"] <= budget, (key, art["metric"], ref)
        assert art["passed"], (key, art["checks"])
        if key[0] == "tflite":
            assert art["size_bytes"] < fp32["size_bytes"] / 3
    assert all(a["passed"] for a in report["artifacts"]), [
        (a["file"], a["checks"]) for a in report["artifacts"] if not a["passed"]]


def test_pruning_shows_in_compressed_size(lenet_bundle: tuple[Path, dict]) -> None:
    _, report = lenet_bundle
    prune = next(s for s in report["stages"] if s["name"] == "prune")
    assert prune["facts"]["achieved_kernel_sparsity"] >= 0.45
    fp32 = next(a for a in report["artifacts"] if a["file"].endswith("prune-fp32.tflite"))
    assert fp32["size_gzip_bytes"] < 0.75 * fp32["size_bytes"]


def test_reported_metric_is_reproduced_by_rerunning_the_file(lenet_bundle: tuple[Path, dict]) -> None:
    """The report's numbers come from running the file: re-run each one on its runtime."""
    out, report = lenet_bundle
    held = open_arrays(out / report["dataset"]["heldout_file"])
    split = Split(held.inputs(), held["y"])
    for art in report["artifacts"]:
        session = RUNTIMES.get(art["runtime"]).load(out / art["file"], threads=1)
        outputs = run_all(session, split)
        acc = float(np.mean(outputs.argmax(-1) == split.y))
        assert abs(acc - art["metric"]["value"]) < 1e-9, art["file"]
        agree = float(np.mean(outputs.argmax(-1) == held["reference"].argmax(-1)))
        assert abs(agree - art["agreement"]) < 1e-9


def test_html_report_has_table_and_charts(lenet_bundle: tuple[Path, dict]) -> None:
    out, report = lenet_bundle
    html = (out / "report.html").read_text()
    # trade-off, latency percentiles, and the pruning stage's loss curve (2 epochs)
    assert html.count("<img") == 3 and "data:image/png;base64," in html
    for art in report["artifacts"]:
        assert art["file"] in html


def test_openvino_precision_is_what_ran(lenet_bundle: tuple[Path, dict]) -> None:
    import openvino as ov

    out, report = lenet_bundle
    art = next(a for a in report["artifacts"] if a["format"] == "openvino" and a["stored_precision"] == "fp32")
    compiled = ov.Core().compile_model(str(out / art["file"]), "CPU")
    hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    assert art["precision"] == {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}[hint]


def test_quick_recipe_is_the_one_that_ran(lenet_bundle: tuple[Path, dict]) -> None:
    _, report = lenet_bundle
    assert report["resolved_recipe"]["train"]["epochs"] == load_recipe("lenet5", quick=True).train.epochs
