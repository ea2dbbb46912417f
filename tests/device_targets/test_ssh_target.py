"""Raspberry-Pi-style SSH target, against a real OpenSSH server on 127.0.0.1 (see conftest)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from .sshd_helpers import free_port, write_ssh_device

from edgekit.errors import EdgekitError
from edgekit.validation.ondevice import validate
from edgekit.validation.profile import profile


@pytest.fixture()
def pi(sshd: dict, tmp_path: Path) -> Path:
    return write_ssh_device(tmp_path, "pi-loopback", sshd["port"], sshd["key"], sshd["known_hosts"])


def test_validate_over_ssh(small_bundle: Path, pi: Path) -> None:
    result = validate(small_bundle, str(pi))
    ran = [a for a in result["artifacts"] if "skipped" not in a]
    assert {a["runtime"] for a in ran} == {"litert", "onnxruntime"}
    # The runner ran in a fresh process from the copied payload: same outputs as the host's.
    assert all(a["max_abs_diff_vs_host"] == pytest.approx(0, abs=1e-5) for a in ran)
    assert result["passed"]
    assert not list((pi.parent / "remote-work").iterdir())  # remote scratch cleaned up


def test_profile_over_ssh(small_bundle: Path, pi: Path) -> None:
    onnx = next((small_bundle / "artifacts").glob("*.onnx"))
    out = profile(onnx, str(pi), runs=15, warmup=2)
    assert out["measured"]["latency_ms"]["runs"] == 15
    assert out["measured"]["peak_rss_mb"] > 10
    assert out["measured"]["achieved_gflops"] > 0


def test_wrong_host_key_is_refused(small_bundle: Path, sshd: dict, tmp_path: Path) -> None:
    other = tmp_path / "other_known_hosts"
    fake = (sshd["dir"] / "user_key.pub").read_text().split()  # a key that is not the host's
    other.write_text(f"[127.0.0.1]:{sshd['port']} {fake[0]} {fake[1]}\n")
    dev = write_ssh_device(tmp_path, "pi-mitm", sshd["port"], sshd["key"], other)
    with pytest.raises(EdgekitError) as err:
        validate(small_bundle, str(dev))
    assert "\n" not in str(err.value) and "failed" in str(err.value)


def test_unreachable_host_gives_the_estimate(small_bundle: Path, sshd: dict, tmp_path: Path) -> None:
    """An SSH device that does not answer (a closed loopback port) is treated as the adb target
    without a phone: the labelled roofline estimate, "measured": null and the reason."""
    dev = write_ssh_device(tmp_path, "pi-off", free_port(), sshd["key"], sshd["known_hosts"])
    tfl = next((small_bundle / "artifacts").glob("*fp32.tflite"))
    t0 = time.monotonic()
    out = profile(tfl, str(dev), runs=1)
    assert time.monotonic() - t0 < 30
    assert out["measured"] is None
    reason = out["unavailable"]
    assert "\n" not in reason and "127.0.0.1" in reason and "refused" in reason.lower()
    assert out["estimate"]["kind"].startswith("estimate") and out["estimate"]["latency_ms"] > 0
    # validate has no estimate to fall back on: one line naming the host
    with pytest.raises(EdgekitError) as err:
        validate(small_bundle, str(dev))
    assert "\n" not in str(err.value) and "127.0.0.1" in str(err.value)


def test_cli_profile_unreachable_exit_codes(small_bundle: Path, sshd: dict, tmp_path: Path) -> None:
    """Exit 0 with the estimate; exit 5 only when --require-measurement asks for a measurement."""
    import json
    import os
    import subprocess
    import sys

    dev = write_ssh_device(tmp_path, "pi-off2", free_port(), sshd["key"], sshd["known_hosts"])
    tfl = next((small_bundle / "artifacts").glob("*fp32.tflite"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    cmd = [sys.executable, "-m", "edgekit", "profile", str(tfl), "--target", str(dev), "--runs", "1"]
    plain = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["measured"] is None
    strict = subprocess.run([*cmd, "--require-measurement"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert strict.returncode == 5 and "no measurement" in strict.stderr
    assert json.loads(strict.stdout)["estimate"]["latency_ms"] > 0
