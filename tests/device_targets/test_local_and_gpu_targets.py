"""This machine's CPU (LiteRT/XNNPACK, ONNX Runtime CPU EP, OpenVINO CPU) and the desktop-GPU
target (ONNX Runtime CUDA/TensorRT EPs), through `edgekit validate` and `edgekit profile`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.devices import load_device
from edgekit.errors import RuntimeUnavailable
from edgekit.device.runtimes import RUNTIMES
from edgekit.validation.ondevice import validate
from edgekit.validation.profile import profile

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=600)


def test_validate_on_cpu_runs_every_runtime_and_updates_report(small_bundle: Path) -> None:
    result = validate(small_bundle, "cpu")
    ran = {a["runtime"] for a in result["artifacts"] if "skipped" not in a}
    assert ran == {"litert", "onnxruntime", "openvino"}
    report = json.loads((small_bundle / "report.json").read_text())
    for a, proven in zip(result["artifacts"], report["artifacts"]):
        assert a["metric"]["value"] == pytest.approx(proven["metric"]["value"], abs=1e-9)
        assert a["machine"] == "x86_64"
    assert result["passed"]
    saved = json.loads((small_bundle / "targets" / "cpu.json").read_text())
    assert saved["artifacts"][0]["file"] == result["artifacts"][0]["file"]
    html = (small_bundle / "report.html").read_text()
    assert "On target" in html and "cpu" in html
    manifest = json.loads((small_bundle / "manifest.json").read_text())
    assert "targets/cpu.json" in {f["path"] for f in manifest["files"]}


def test_profile_on_cpu_reports_latency_memory_and_gflops(small_bundle: Path) -> None:
    tfl = next((small_bundle / "artifacts").glob("*fp32.tflite"))
    out = profile(tfl, "cpu", runs=30, warmup=3, batch=4)
    m = out["measured"]
    lat = m["latency_ms"]
    assert lat["runs"] == 30 and lat["batch"] == 4
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"]
    assert m["load_ms"] > 0 and m["peak_rss_mb"] > 10
    assert m["throughput_per_s"] == pytest.approx(4e3 / lat["mean"], rel=1e-3)
    flops = out["graph"]["flops"]
    assert m["achieved_gflops"] == pytest.approx(flops * 4 / (lat["p50"] * 1e-3) / 1e9, rel=1e-2)
    assert 0 < m["fraction_of_peak"] < 1
    assert out["estimate"]["kind"].startswith("estimate")
    assert "error_vs_measured" in out["estimate"]
    # Inside a bundle the profile is kept (targets/profiles/) and becomes a line in report.html.
    saved = json.loads(Path(out["saved"]).read_text())
    assert saved["measured"]["latency_ms"]["p50"] == lat["p50"]
    html = (small_bundle / "report.html").read_text()
    assert "id='profiles'>Profiles</h2>" in html and out["bundle_file"] in html and "(estimate)" in html
    for alt in ("metric vs latency vs size across targets", "latency percentiles per target"):
        assert f'alt="{alt}" src="data:image/png;base64,iVBOR' in html  # real PNGs, embedded
    manifest = json.loads((small_bundle / "manifest.json").read_text())
    assert Path(out["saved"]).relative_to(small_bundle).as_posix() in {f["path"] for f in manifest["files"]}


def test_profile_cli_prints_json_and_writes_file(small_bundle: Path, tmp_path: Path) -> None:
    onnx = next((small_bundle / "artifacts").glob("*.onnx"))
    proc = cli("profile", str(onnx), "--target", "cpu", "--runs", "10", "--out", str(tmp_path / "p.json"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["runtime"] == "onnxruntime"
    assert json.loads((tmp_path / "p.json").read_text())["measured"]["latency_ms"]["runs"] == 10


def test_validate_cli_bad_bundle_is_one_line(tmp_path: Path) -> None:
    proc = cli("validate", str(tmp_path), "--target", "cpu")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "not an edgekit bundle" in proc.stderr


def test_gpu_target(small_bundle: Path) -> None:
    """Runs the CUDA EP when present; otherwise proves the skip message names what is missing."""
    gpu = load_device("gpu-nvidia")
    reason = RUNTIMES.get("onnxruntime-cuda").missing()
    if reason:
        assert "onnxruntime-gpu" in reason or "NVIDIA driver" in reason
        with pytest.raises(RuntimeUnavailable, match="onnxruntime-cuda"):
            validate(small_bundle, "gpu-nvidia")
        proc = cli("validate", str(small_bundle), "--target", "gpu-nvidia")
        assert proc.returncode == 2 and ("onnxruntime-gpu" in proc.stderr or "NVIDIA" in proc.stderr)
        pytest.skip(f"desktop GPU target: {reason}")
    result = validate(small_bundle, "gpu-nvidia")
    onnx = [a for a in result["artifacts"] if a["format"] == "onnx" and "skipped" not in a]
    assert onnx and all(a["passed"] for a in onnx)
    assert all(a["host_atol"] == pytest.approx(1e-3 * gpu.tolerance_scale) for a in onnx
               if a["precision"] == "fp32")


def test_validate_reads_a_bundle_written_before_the_streaming_layout(small_bundle: Path,
                                                                     tmp_path: Path) -> None:
    """An older bundle keeps its held-out data in one compressed data/heldout.npz: validate
    still reads it and reaches the same figures as from the mapped data/heldout/ folder."""
    import shutil

    import numpy as np

    from edgekit.device.heldout import open_arrays
    from edgekit.bundle_integrity import write_manifest

    old = tmp_path / "old"
    shutil.copytree(small_bundle, old, ignore=shutil.ignore_patterns("targets"))
    held = open_arrays(old / "data" / "heldout")
    np.savez_compressed(old / "data" / "heldout.npz", **{k: np.asarray(v) for k, v in held.items()})
    del held
    shutil.rmtree(old / "data" / "heldout")
    report = json.loads((old / "report.json").read_text())
    report["dataset"]["heldout_file"] = "data/heldout.npz"
    (old / "report.json").write_text(json.dumps(report))
    write_manifest(old)  # as that older edgekit wrote it: validate verifies the bundle first
    then, now = validate(small_bundle, "cpu"), validate(old, "cpu")
    assert [a["metric"]["value"] for a in now["artifacts"]] == \
        [a["metric"]["value"] for a in then["artifacts"]]
    assert now["passed"]
