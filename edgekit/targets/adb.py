"""``connection: adb[:serial]``: an Android phone, profiled with LiteRT's ``benchmark_model``.

Phones run no Python, so instead of edgekit's runner we push the ``.tflite`` and run the
``benchmark_model`` binary the user pushed once (docs/targets.md), then parse its output. It
reports timings and memory, not outputs: this target profiles but cannot validate.
"""

from __future__ import annotations

import shlex
import shutil

from edgekit.device.formats import Format, format_of
from edgekit.devices import DeviceProfile
from edgekit.errors import EdgekitError
from edgekit.targets import TARGETS, RunRequest, RunResult, Target, _benchmark_model
from edgekit.targets._proc import run_command

_DELEGATE_FLAGS = {"gpu": "--use_gpu=true", "nnapi": "--use_nnapi=true", "xnnpack": "--use_xnnpack=true"}


def serial(device: DeviceProfile) -> str | None:
    _, _, s = device.connection.partition(":")
    return s or None


class ADBTarget(Target):
    scheme = "adb"
    validates = False

    def adb(self, device: DeviceProfile, *args: str, what: str, check: bool = True) -> str:
        s = serial(device)
        proc = run_command(["adb", *(["-s", s] if s else []), *args], what=what,
                           timeout_s=device.remote.timeout_s, check=check)
        return proc.stdout + proc.stderr

    def missing(self, device: DeviceProfile) -> str | None:
        if shutil.which("adb") is None:
            return "adb is not installed (Android platform-tools, or apt-get install adb)"
        listed = run_command(["adb", "devices"], what="adb devices", timeout_s=30).stdout
        attached = [ln.split()[0] for ln in listed.splitlines()[1:]
                    if ln.strip() and ln.split()[-1] == "device"]
        s = serial(device)
        if not attached:
            return "no Android device attached ('adb devices' lists none)"
        if s and s not in attached:
            return f"device {s} is not attached (attached: {', '.join(attached)})"
        return None

    def run(self, device: DeviceProfile, request: RunRequest) -> RunResult:
        self.ensure(device)
        if format_of(request.artifact) is not Format.TFLITE:
            raise EdgekitError("the adb target runs .tflite files only (LiteRT benchmark_model)",
                               where=request.artifact)
        work = device.remote.workdir.rstrip("/")
        remote = f"{work}/{request.artifact.name}"
        self.adb(device, "shell", f"mkdir -p {shlex.quote(work)}", what="adb shell mkdir")
        self.adb(device, "push", str(request.artifact), remote, what="adb push")
        flags = [f"--graph={remote}", f"--num_threads={request.threads}",
                 f"--num_runs={max(request.runs, 1)}", f"--warmup_runs={request.warmup}"]
        flags += [_DELEGATE_FLAGS[d] for d in device.delegates[:1] if d in _DELEGATE_FLAGS]
        out = self.adb(device, "shell", " ".join([shlex.quote(device.remote.benchmark_model),
                                                  *flags]), what="benchmark_model", check=False)
        info = _benchmark_model.parse(out)
        info["latency_ms"] |= {"threads": request.threads, "batch": 1, "warmup": request.warmup}
        return RunResult(device=device.name, info={"runtime": "litert benchmark_model",
                                                   "machine": "android", **info},
                         notes=["timings from LiteRT benchmark_model on the device"])


TARGETS.register(ADBTarget.scheme, ADBTarget())
