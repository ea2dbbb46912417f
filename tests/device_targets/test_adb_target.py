"""Android over adb: benchmark_model output parsing on real output, and clear failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgekit.devices import load_device
from edgekit.errors import EdgekitError
from edgekit.targets import _benchmark_model as benchmark_model
from edgekit.targets import target_for

FIXTURES = Path(__file__).parent / "fixtures"


def test_parses_current_benchmark_model_output() -> None:
    info = benchmark_model.parse((FIXTURES / "benchmark_model_mobilenet_v1.txt").read_text())
    lat = info["latency_ms"]
    assert lat["runs"] == 50  # the measured phase, not the 1-run warm-up line before it
    assert lat["mean"] == pytest.approx(2950.34)
    assert lat["min"] == pytest.approx(2727.568) and lat["max"] == pytest.approx(3189.954)
    assert lat["std"] == pytest.approx(109.798)
    assert lat["p99"] is None  # benchmark_model prints none: never invented
    assert info["load_ms"] == pytest.approx(17.187)
    assert info["first_inference_ms"] == pytest.approx(3512.391)
    assert info["peak_rss_mb"] == pytest.approx(46.0859)


def test_parses_legacy_op_profiling_output() -> None:
    info = benchmark_model.parse((FIXTURES / "benchmark_model_tf_readme.txt").read_text())
    assert info["latency_ms"]["mean"] == pytest.approx(79.732)  # count=50 ... avg=79732
    assert info["latency_ms"]["runs"] == 50
    assert info["load_ms"] == pytest.approx(38.467)


def test_output_without_timings_is_one_line_error() -> None:
    with pytest.raises(EdgekitError, match="no timings: .*not found"):
        benchmark_model.parse("STARTING!\n/data/local/tmp/benchmark_model: not found\n")


def test_android_without_device_fails_clearly(small_bundle: Path) -> None:
    android = load_device("android")
    reason = target_for(android).missing(android)
    if shutil.which("adb") and reason is None:
        pytest.skip("an Android device is attached: the no-device path cannot be tested here")
    assert reason and ("adb is not installed" in reason or "no Android device" in reason)
    from edgekit.validation.ondevice import validate
    from edgekit.validation.profile import profile

    with pytest.raises(EdgekitError, match="timings only"):
        validate(small_bundle, "android")
    tfl = next((small_bundle / "artifacts").glob("*fp32.tflite"))
    out = profile(tfl, "android")
    assert out["measured"] is None and out["unavailable"] == reason
    assert out["estimate"]["kind"].startswith("estimate") and out["estimate"]["latency_ms"] > 0
