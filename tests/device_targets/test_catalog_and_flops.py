"""Device catalog as data, the target registry, FLOP counting and the roofline estimate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.devices import all_devices, load_device
from edgekit.roofline import estimate_latency
from edgekit.flops import graph_cost
from edgekit.targets import TARGETS, target_for

REPO = Path(__file__).resolve().parents[2]
REQUIRED = {"cpu", "gpu-nvidia", "rpi4", "rpi5", "android", "jetson-orin-nano", "arm64-emulated"}

# LeNet-5 (32x32x1 input): conv 6@28x28 k5x5x1, conv 16@10x10 k5x5x6, fc 400-120-84-10.
LENET_MACS = 6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84 + 84 * 10


def test_catalog_has_every_required_target_with_sourced_peaks() -> None:
    devices = {d.name: d for _, d in all_devices()}
    assert REQUIRED <= set(devices)
    for name, d in devices.items():
        assert d.scheme in TARGETS, f"{name}: no target for scheme {d.scheme}"
        if d.peak.gflops:
            assert d.peak.source, f"{name}: peak figures need a source"
    assert devices["rpi4"].scheme == "ssh" and devices["android"].scheme == "adb"
    assert devices["arm64-emulated"].emulation and devices["gpu-nvidia"].tolerance_scale > 1


def test_devices_cli_lists_catalog_without_tensorflow() -> None:
    code = ("import sys; from typer.testing import CliRunner; from edgekit.cli import app; "
            "r = CliRunner().invoke(app, ['devices']); print(r.output); "
            "print('TF', 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}).stdout
    for name in REQUIRED:
        assert name in out
    assert "TF False" in out


def test_unknown_scheme_is_one_line_error(tmp_path: Path) -> None:
    from edgekit.errors import EdgekitError

    y = tmp_path / "x.yaml"
    y.write_text("name: x\nconnection: telnet://box\n")
    with pytest.raises(EdgekitError, match="unknown connection scheme 'telnet'"):
        target_for(load_device(str(y)))


def test_flops_match_analytic_lenet_count_in_every_format(small_bundle: Path) -> None:
    arts = small_bundle / "artifacts"
    files = sorted(arts.glob("*.tflite")) + sorted(arts.glob("*.onnx"))
    assert len(files) >= 3
    for f in files:
        cost = graph_cost(f)
        assert cost is not None
        assert cost.flops == 2 * LENET_MACS, f.name
        assert cost.bytes > 0
    assert graph_cost(next(arts.glob("*.xml"))) is None  # no IR counter: reported as null


def test_roofline_estimate_is_labelled_and_scales_with_peak(small_bundle: Path) -> None:
    cost = graph_cost(next((small_bundle / "artifacts").glob("*fp32.tflite")))
    pi4, pi5 = load_device("rpi4"), load_device("rpi5")
    e4, e5 = estimate_latency(cost, pi4), estimate_latency(cost, pi5)
    assert e4.to_json()["kind"].startswith("estimate")
    assert e5.latency_ms < e4.latency_ms  # faster cores and memory: never a slower estimate
    assert estimate_latency(cost, pi4, batch=8).latency_ms > e4.latency_ms
    assert estimate_latency(cost, load_device("arm64-emulated")) is None  # no peak: no estimate


def test_runtime_choice_follows_device_preference() -> None:
    from edgekit.validation.ondevice import runtime_for

    onnx = {"format": "onnx", "runtime": "onnxruntime"}
    tflite = {"format": "tflite", "runtime": "litert"}
    assert runtime_for(onnx, load_device("jetson-orin-nano")) == "onnxruntime-cuda"
    assert runtime_for(onnx, load_device("cpu")) == "onnxruntime"
    assert runtime_for(tflite, load_device("rpi4")) == "litert"
    assert runtime_for({"format": "openvino", "runtime": "openvino"}, load_device("rpi4")) is None
