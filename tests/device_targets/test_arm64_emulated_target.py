"""ARM64: the real aarch64 LiteRT and ONNX Runtime wheels under qemu-aarch64 (Cortex-A72).

Needs apt packages debootstrap, proot and qemu-user-static; the arm64 root is built on first
use (about 75 s here and ~100 MB of downloads from deb.debian.org and PyPI) and cached under
~/.cache/edgekit/arm64-root (``edgekit targets setup arm64`` builds it ahead of time).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.targets import _arm64_root as arm64_root
from edgekit.validation.ondevice import validate
from edgekit.validation.profile import profile


@pytest.fixture(scope="module")
def arm64() -> None:
    absent = arm64_root.missing_tools()
    if absent:
        pytest.skip(f"ARM64 emulation needs apt packages: {' '.join(absent)}")
    arm64_root.build()  # no-op when cached


def test_validate_under_arm64_matches_x86(small_bundle: Path, arm64: None) -> None:
    result = validate(small_bundle, "arm64-emulated")
    ran = [a for a in result["artifacts"] if "skipped" not in a]
    assert {a["runtime"] for a in ran} == {"litert", "onnxruntime"}
    assert all(a["machine"] == "aarch64" and a["emulated"] for a in ran)
    for a in ran:  # the x86 run of the same file is the yardstick
        assert a["max_abs_diff_vs_host"] is not None
        if a["precision"] == "fp32":
            assert a["max_abs_diff_vs_host"] <= a["host_atol"] == pytest.approx(1e-3)
    assert [a for a in result["artifacts"] if a["format"] == "openvino"][0]["skipped"]
    assert result["passed"] and result["emulated"]
    # emulation runs a seeded sample just large enough to resolve max_metric_drop 0.05
    assert result["sample"]["sampled"] and result["sample"]["examples"] == 80
    assert result["sample"]["seed"] == 0 and result["sample"]["resolves_budget"]


def test_emulated_profile_never_reports_device_timings(small_bundle: Path, arm64: None) -> None:
    tfl = next((small_bundle / "artifacts").glob("*int8.tflite"))
    out = profile(tfl, "arm64-emulated", runs=5, warmup=1)
    assert out["measured"] is None
    assert "NOT device timings" in out["emulated"]["note"]
    assert out["emulated"]["latency_ms"]["runs"] == 5 and out["machine"] == "aarch64"
