"""Text (BERT) bundles on targets: the bundle's raw held-out texts, tokenized on the device by the
TensorFlow-free text runner (whose token ids must equal the stored int32 input_ids /
attention_mask / token_type_ids), on this CPU, over SSH and (marked slow) under arm64
emulation, judged against the bundle's baseline (here the distilled student).

The bundle is the BERT pipeline tests' own (``bert_bundle`` in tests/conftest.py: a 2-layer,
hidden-32 random-init BERT on Rotten Tomatoes snippets, distilled to 1 layer, exported to
TFLite and ONNX fp32 / dynamic-int8 and OpenVINO fp32), so these tests add seconds, not a build."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgekit.device.heldout import open_arrays
from edgekit.validation.ondevice import validate

from .sshd_helpers import write_ssh_device


@pytest.fixture(scope="module")
def text_bundle(bert_bundle: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's tiny BERT bundle (tests/conftest.py): validate writes into the
    bundle it checks, and the BERT pipeline tests read theirs untouched."""
    dest = tmp_path_factory.mktemp("tgt-text") / "bundle"
    shutil.copytree(bert_bundle[0], dest)
    return dest


def _ran(result: dict) -> list[dict]:
    return [a for a in result["artifacts"] if "skipped" not in a]


def test_text_bundle_inputs_are_int32_token_arrays(text_bundle: Path) -> None:
    held = open_arrays(text_bundle / "data" / "heldout")
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        assert held[f"x__{name}"].dtype == np.int32 and held[f"x__{name}"].ndim == 2


def test_validate_text_bundle_on_cpu(text_bundle: Path) -> None:
    result = validate(text_bundle, "cpu")
    report = json.loads((text_bundle / "report.json").read_text())
    ran = _ran(result)
    assert {a["runtime"] for a in ran} == {"litert", "onnxruntime", "openvino"} and len(ran) == 5
    for a, proven in zip(ran, report["artifacts"]):
        assert a["baseline"] == "distilbert"
        assert a["metric"]["value"] == pytest.approx(proven["metric"]["value"], abs=1e-9)
        assert a["max_abs_diff_vs_host"] == 0.0 and a["host_agreement"] == 1.0
        assert a["runner_imported_tensorflow"] is False
        assert set(a["checks"]) >= {"metric_drop", "agreement", "text_path"}
        assert a["text_path"]["ids_match_host_tokenizer"] and a["text_path"]["passed"]
        assert a["text_path"]["examples"] == len(open_arrays(text_bundle / "data" / "heldout")["reference"])
        assert a["text_path"]["host_label_agreement"] == 1.0
    assert result["passed"]


def test_text_path_catches_a_tokenizer_that_disagrees(text_bundle: Path, tmp_path: Path) -> None:
    """Texts that do not tokenize to the stored ids (here: shuffled) fail the text_path check."""
    from edgekit.bundle_integrity import write_manifest

    bundle = tmp_path / "bundle"
    shutil.copytree(text_bundle, bundle)
    texts = np.load(bundle / "data" / "heldout" / "texts.npy")
    np.save(bundle / "data" / "heldout" / "texts.npy", texts[::-1].copy())
    write_manifest(bundle)
    result = validate(bundle, "cpu", examples=12)
    ran = _ran(result)
    assert ran and all(not a["text_path"]["passed"] and not a["checks"]["text_path"] for a in ran)
    assert all("input_ids" in a["text_path"]["mismatched_inputs"] for a in ran)
    assert not result["passed"]


def test_validate_text_bundle_over_ssh(text_bundle: Path, sshd: dict, tmp_path: Path) -> None:
    pi = write_ssh_device(tmp_path, "pi-text", sshd["port"], sshd["key"], sshd["known_hosts"])
    result = validate(text_bundle, str(pi))
    ran = _ran(result)
    assert len(ran) == 4 and result["passed"]  # the loopback "Pi" lists LiteRT and ONNX Runtime
    assert all(a["max_abs_diff_vs_host"] <= 1e-5 and not a["runner_imported_tensorflow"] for a in ran)
    assert all(a["text_path"]["passed"] and a["checks"]["text_path"] for a in ran)
    saved = json.loads((text_bundle / "targets" / "pi-text.json").read_text())
    assert saved["passed"]


@pytest.mark.slow
def test_validate_text_bundle_under_arm64(text_bundle: Path) -> None:
    """~60 s: four artifacts, each a fresh emulated Python with NumPy and a runtime."""
    from edgekit.targets import _arm64_root as arm64_root

    absent = arm64_root.missing_tools()
    if absent:
        pytest.skip(f"ARM64 emulation needs apt packages: {' '.join(absent)}")
    arm64_root.build()
    result = validate(text_bundle, "arm64-emulated")
    ran = _ran(result)
    assert len(ran) == 4 and all(a["machine"] == "aarch64" for a in ran)
    # the aarch64 tokenizers wheel tokenized the raw texts exactly as the host did
    assert all(a["text_path"]["ids_match_host_tokenizer"] for a in ran)
    for a in ran:
        if a["precision"] == "fp32":
            assert a["max_abs_diff_vs_host"] <= a["host_atol"]
        else:  # int8 dynamic quant: ARM's integer matmul kernels, judged by the budgets
            assert a["host_agreement"] >= 0.9
    assert result["passed"]


def test_judge_bounds_agreement_with_a_non_reference_baseline() -> None:
    """Bundles store only the reference's outputs: with a distilled-student baseline the device's
    agreement is bounded from the host's proven agreement and device-vs-host agreement."""
    from edgekit.devices import load_device
    from edgekit.validation.ondevice import judge

    rng = np.random.default_rng(0)
    host = rng.normal(size=(100, 2)).astype(np.float32)
    data = {"y": host.argmax(1), "reference": host}
    report = {"dataset": {"task": "classification"}, "reference": {"value": 1.0},
              "budgets": {"max_metric_drop": 0.05, "min_agreement": 0.9}}
    art = {"conversion_atol": None,
           "baseline": {"model": "distilbert", "metric": 1.0, "agreement": 0.95}}
    device = load_device("cpu")
    same = judge(art, report, device, host, data, host)
    assert same["checks"]["agreement"] and same["passed"]
    flipped = host.copy()
    flipped[:8] = flipped[:8, ::-1]  # the device disagrees with the host on 8 % of examples
    worse = judge(art, report, device, flipped, data, host)
    assert worse["host_agreement"] == pytest.approx(0.92)
    assert not worse["checks"]["agreement"]  # 0.95 - 0.08 = 0.87 < 0.9


def test_bert_flops_match_the_analytic_count_in_every_format(text_bundle: Path) -> None:
    """Q/K/V/O projections, Q·Kᵀ and attention·V, the FFN, pooler and classifier, at batch 1:
    the count must see through the converters' [batch*seq, hidden] reshapes."""
    from edgekit.flops import graph_cost

    report = json.loads((text_bundle / "report.json").read_text())
    s = json.loads((text_bundle / "text.json").read_text())["seq_len"]
    layers, h, f, labels = report["stages"][0]["facts"]["student_layers"], 32, 64, 2
    macs = layers * (4 * s * h * h + 2 * s * s * h + 2 * s * h * f) + h * h + h * labels
    costs = {p.name: graph_cost(p) for p in (text_bundle / "artifacts").glob("*")
             if p.suffix in (".tflite", ".onnx")}
    # The ONNX dynamic export is fused (fusion: bert): its QAttention etc. are named, not counted.
    fused = {n for n, c in costs.items() if c.uncounted}
    assert all("not counted" in costs[n].to_json()["note"] for n in fused)
    counted = {n: c.flops for n, c in costs.items() if n not in fused}
    assert len(counted) >= 3 and set(counted.values()) == {2.0 * macs}, counted
