"""``edgekit validate`` of a GPT bundle re-runs the generation check of its KV-cache pairs on
the target: on this CPU, over a real OpenSSH server on loopback and (slow) under arm64
emulation, against the float model's greedy tokens stored in the bundle; a stored token
changed (and the manifest re-hashed, so the bundle still verifies) fails it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .sshd_helpers import write_ssh_device

from edgekit.validation.ondevice import validate

# The gpt recipe cut to a model that trains in seconds: one ONNX export (a whole-sequence
# artifact and one KV-cache pair), 16-token windows, so 8 greedy tokens after 8.
TINY = {"data.params": {"seq_len": 16, "vocab_size": 256, "limit": 600},
        "model.params": {"dim": 16, "depth": 1, "heads": 2, "mlp_dim": 32, "dropout": 0.0},
        "train.epochs": 1, "compression": [], "budgets.baseline": "reference",
        "export": [{"format": "onnx", "precision": "fp32"}],
        "validation.runs": 2, "validation.warmup": 0, "validation.max_examples": 16}


@pytest.fixture(scope="module")
def gpt_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgekit.device.runtimes import RUNTIMES
    from edgekit.pipeline import compress
    from edgekit.recipe import load_recipe

    if RUNTIMES.get("onnxruntime").missing():
        pytest.skip(f"onnxruntime: {RUNTIMES.get('onnxruntime').missing()}")
    out = tmp_path_factory.mktemp("gpt-bundle") / "gpt"
    report = compress(load_recipe("gpt", quick=True, overrides=TINY), out)
    assert report["extras"]["generation"]["passed"]
    return out


def copy_of(bundle: Path, tmp_path: Path) -> Path:
    shutil.copytree(bundle, tmp_path / "gpt")
    return tmp_path / "gpt"


def test_validate_regenerates_on_this_cpu(gpt_bundle: Path, tmp_path: Path) -> None:
    bundle = copy_of(gpt_bundle, tmp_path)
    result = validate(bundle, "cpu")
    gen = result["generation"]
    assert gen["sample"] == {"prompts": gen["sample"]["of"], "of": gen["sample"]["of"],
                             "sampled": False, "seed": None,
                             "why": "every stored held-out prompt"}
    (pair,) = gen["pairs"]
    assert pair["folder"] == "generation/final-onnx-fp32" and pair["runtime"] == "onnxruntime"
    assert pair["gated"] and pair["passed"] and pair["greedy_match"] == 1.0
    assert pair["runner_imported_tensorflow"] is False and not pair["emulated"]
    assert pair["first_token_ms"]["p50"] > 0 and pair["tokens_per_s"] > 0
    assert pair["decode_ms"]["p50"] <= pair["decode_ms"]["p90"] <= pair["decode_ms"]["p99"]
    assert gen["passed"] and result["passed"]
    saved = json.loads((bundle / "targets" / "cpu.json").read_text())
    assert saved["generation"]["pairs"][0]["greedy_match"] == 1.0
    from edgekit.report.targets import summary_lines

    line = next(ln for ln in summary_lines(result) if "generation/final-onnx-fp32" in ln)
    assert "100% of prompts" in line and "tokens/s" in line and line.endswith("pass")
    assert "Generation over the KV-cache pairs" in (bundle / "report.html").read_text()


def test_a_changed_stored_token_fails_validate(gpt_bundle: Path, tmp_path: Path) -> None:
    """One float-model token changed in generation/prompts.json, the manifest re-hashed (as a
    bundle built from a different model would be): the pair's greedy tokens no longer match,
    the pair and the run fail, and the CLI exits 3 naming the pair."""
    from edgekit.bundle_integrity import write_manifest

    bundle = copy_of(gpt_bundle, tmp_path)
    path = bundle / "generation" / "prompts.json"
    stored = json.loads(path.read_text())
    tokens = stored["float_greedy"]["final"]
    tokens[0][3] = (tokens[0][3] + 1) % 256
    path.write_text(json.dumps(stored))
    write_manifest(bundle)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run([sys.executable, "-m", "edgekit", "validate", str(bundle), "--target",
                           "cpu"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if "generation/final-onnx-fp32" in ln)
    assert "FAIL: greedy tokens differ" in line
    result = json.loads((bundle / "targets" / "cpu.json").read_text())
    (pair,) = result["generation"]["pairs"]
    assert pair["greedy_match"] == pytest.approx(1 - 1 / len(tokens)) and pair["passed"] is False
    assert result["artifacts"][0]["passed"] and not result["passed"]


def test_a_bundle_without_stored_tokens_is_named_not_failed(gpt_bundle: Path,
                                                            tmp_path: Path) -> None:
    from edgekit.bundle_integrity import write_manifest

    bundle = copy_of(gpt_bundle, tmp_path)
    (bundle / "generation" / "prompts.json").unlink()
    write_manifest(bundle)
    result = validate(bundle, "cpu")
    assert "prompts.json" in result["generation"]["skipped"] and result["passed"]


def test_validate_regenerates_over_ssh(gpt_bundle: Path, sshd: dict, tmp_path: Path) -> None:
    bundle = copy_of(gpt_bundle, tmp_path)
    pi = write_ssh_device(tmp_path, "pi-gpt", sshd["port"], sshd["key"], sshd["known_hosts"])
    result = validate(bundle, str(pi))
    (pair,) = result["generation"]["pairs"]
    assert pair["passed"] and pair["greedy_match"] == 1.0 and pair["tokens_per_s"] > 0
    assert pair["threads"] == 1  # the device profile's, handed to the runner there
    assert result["passed"]
    assert not list((tmp_path / "remote-work").iterdir())  # remote scratch cleaned up


def test_emulation_runs_a_seeded_sample_of_prompts() -> None:
    from edgekit.devices import load_device
    from edgekit.validation.ondevice_generation import EMULATED_PROMPTS, plan_prompts

    real = plan_prompts(load_device("cpu"), 16, seed=0)
    assert real.indices is None and real.size == 16
    emulated = plan_prompts(load_device("arm64-emulated"), 16, seed=0)
    assert emulated.size == EMULATED_PROMPTS and len(set(emulated.indices)) == EMULATED_PROMPTS
    assert list(emulated.indices) == sorted(emulated.indices)
    assert list(plan_prompts(load_device("arm64-emulated"), 16, seed=0).indices) == \
        list(emulated.indices)
    assert plan_prompts(load_device("arm64-emulated"), 3, seed=0).indices is None


@pytest.mark.slow
def test_validate_regenerates_under_arm64(gpt_bundle: Path, tmp_path: Path) -> None:
    """The aarch64 ONNX Runtime wheel under qemu: the same greedy tokens as the float model on
    the sampled prompts; the timings are kept apart, labelled as emulated."""
    from edgekit.targets import _arm64_root as arm64_root

    absent = arm64_root.missing_tools()
    if absent:
        pytest.skip(f"ARM64 emulation needs apt packages: {' '.join(absent)}")
    arm64_root.build()  # no-op when cached
    bundle = copy_of(gpt_bundle, tmp_path)
    result = validate(bundle, "arm64-emulated")
    gen = result["generation"]
    assert gen["sample"]["sampled"] and gen["sample"]["seed"] == 0
    (pair,) = gen["pairs"]
    assert pair["machine"] == "aarch64" and pair["emulated"]
    assert pair["gated"] and pair["passed"] and pair["greedy_match"] == 1.0
    assert "first_token_ms" not in pair and "NOT device timings" in pair["emulated_timings"]["note"]
    assert result["passed"]
