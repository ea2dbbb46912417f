"""No runner outlives its timeout: on the local, emulated and SSH targets a runner that is still
working when the timeout hits is ended whole (proot *and* the qemu it started; the runner on
the far side of an SSH connection), and Ctrl-C ends a target command's whole process group.

The runner is made to outlast a short timeout by asking it for an absurd number of timed runs
(``--runs`` :data:`MARK`), which also marks its processes in /proc so the test can find them."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml

from edgekit.targets._proc import TargetTimeout, run_command
from edgekit.validation.profile import profile

from .sshd_helpers import write_ssh_device

MARK = 987654321


def marked(marker: str) -> list[str]:
    """Live processes (not zombies, not this one) whose command line contains ``marker``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if marker in cmd and int(proc.name) != os.getpid() and stat[stat.rfind(")") + 2] != "Z":
            found.append(f"{proc.name}: {cmd[:160]}")
    return found


def gone(marker: str, within_s: float = 15.0) -> list[str]:
    """What is still running with ``marker`` after waiting up to ``within_s``."""
    deadline = time.monotonic() + within_s
    while (left := marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


class Watch:
    """Records whether a marked process ever ran, so a test cannot pass vacuously."""

    def __init__(self, marker: str) -> None:
        self.marker, self.seen, self._stop = marker, False, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set() and not self.seen:
            self.seen = bool(marked(self.marker))
            time.sleep(0.1)

    def __enter__(self) -> "Watch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def short_timeout(base: Path, dest: Path, name: str, timeout_s: int) -> Path:
    """A copy of a device profile named ``name`` whose runner timeout is ``timeout_s``."""
    profile_ = yaml.safe_load(base.read_text())
    profile_["name"] = name
    profile_["remote"] = {**(profile_.get("remote") or {}), "timeout_s": timeout_s}
    out = dest / f"{name}.yaml"
    out.write_text(yaml.safe_dump(profile_))
    return out


DEVICES = Path(__file__).resolve().parents[2] / "devices"


def _times_out_and_leaves_nothing(artifact: Path, device: Path) -> None:
    with Watch(str(MARK)) as watch, pytest.raises(TargetTimeout):
        profile(artifact, str(device), runs=MARK, warmup=0)
    assert watch.seen, "the runner never started: the test proves nothing"
    assert gone(str(MARK)) == []


def test_local_runner_past_its_timeout_leaves_nothing(small_bundle: Path, tmp_path: Path) -> None:
    device = short_timeout(DEVICES / "cpu.yaml", tmp_path, "cpu-short", 8)
    tfl = next((small_bundle / "artifacts").glob("*fp32.tflite"))
    _times_out_and_leaves_nothing(tfl, device)


def test_emulated_runner_past_its_timeout_leaves_no_qemu(small_bundle: Path, tmp_path: Path) -> None:
    from edgekit.targets import _arm64_root as arm64_root

    absent = arm64_root.missing_tools()
    if absent:
        pytest.skip(f"ARM64 emulation needs apt packages: {' '.join(absent)}")
    arm64_root.build()  # no-op when cached
    device = short_timeout(DEVICES / "arm64-emulated.yaml", tmp_path, "arm64-short", 20)
    tfl = next((small_bundle / "artifacts").glob("*fp32.tflite"))
    _times_out_and_leaves_nothing(tfl, device)
    assert not [p for p in marked("qemu-aarch64") if str(MARK) in p]


def test_ssh_runner_past_its_timeout_leaves_nothing_remote(small_bundle: Path, sshd: dict,
                                                           tmp_path: Path) -> None:
    """The loopback sshd's runner (a child of sshd, not of us) ends when the connection does."""
    dev = write_ssh_device(tmp_path, "pi-short", sshd["port"], sshd["key"], sshd["known_hosts"])
    dev.write_text(dev.read_text().replace("timeout_s: 120", "timeout_s: 8"))
    onnx = next((small_bundle / "artifacts").glob("*.onnx"))
    _times_out_and_leaves_nothing(onnx, dev)


def test_ctrl_c_ends_the_whole_process_group() -> None:
    """KeyboardInterrupt while a target command runs: its children go too."""
    marker = "sleep 98765"

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.alarm(1)
        with pytest.raises(KeyboardInterrupt):
            run_command(["sh", "-c", f"{marker} & {marker}"], what="sleeper", timeout_s=60)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert gone(marker, within_s=5) == []


def test_leftovers_of_a_finished_command_are_ended() -> None:
    """A command that exits but leaves a child holding its output pipe returns at once, and
    the child is ended with it."""
    marker = "sleep 98766"
    t0 = time.monotonic()
    done = run_command(["sh", "-c", f"({marker} &); echo done"], what="leaver", timeout_s=30)
    assert done.stdout.strip() == "done" and time.monotonic() - t0 < 10
    assert gone(marker, within_s=5) == []


def test_ctrl_c_on_the_cli_leaves_no_runner(small_bundle: Path) -> None:
    """SIGINT to ``edgekit profile`` while its runner works (a terminal's Ctrl-C does not reach
    the runner: it has a session of its own): exit 130, and the runner is gone too."""
    import subprocess
    import sys

    marker = str(MARK - 1)
    tfl = next((small_bundle / "artifacts").glob("*fp32.tflite"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    # As a terminal's foreground process has it: SIGINT raises KeyboardInterrupt. Python leaves
    # SIGINT ignored when it starts ignored, as it does under a shell's `&` without job control,
    # so a suite started in the background would otherwise test a CLI that cannot see Ctrl-C.
    foreground = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler);"
                  " runpy.run_module('edgekit', run_name='__main__', alter_sys=True)")
    cli = subprocess.Popen([sys.executable, "-c", foreground, "profile", str(tfl), "--target",
                            "cpu", "--runs", marker], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not [p for p in marked(marker) if "edgekit.device.runner" in p]:
            assert time.monotonic() < deadline and cli.poll() is None, "the runner never started"
            time.sleep(0.2)
        time.sleep(1.0)
        cli.send_signal(signal.SIGINT)
        _, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        left = gone(marker)
        for line in left:  # a failed run must not leave a runner spinning for later tests
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
    assert cli.returncode == 130, err
    assert left == []
