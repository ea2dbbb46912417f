"""``connection: qemu-aarch64[:cpu]``: the real aarch64 LiteRT / ONNX Runtime wheels, run on this
machine through QEMU user-mode emulation inside a cached Debian arm64 root.

proot supplies the root and QEMU without binfmt_misc or privileges (``proot -q``); the runtimes'
CPU probes read stand-in ARM ``/proc/cpuinfo`` and ``/sys/devices/system/cpu/{present,possible}``
files bound over the host's. Outputs are real ARM-kernel outputs; timings are emulation
timings and are labelled so (``emulated: true``), never reported as device timings.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgekit.devices import DeviceProfile
from edgekit.targets import TARGETS, RunnerTarget
from edgekit.targets import _arm64_root as arm64_root
from edgekit.targets._proc import run_command

GUEST_WORKDIR = "/edgekit-run"


def qemu_cpu(device: DeviceProfile) -> str:
    _, _, cpu = device.connection.partition(":")
    return cpu or "cortex-a72"


def command(device: DeviceProfile, root: Path, folder: Path, argv: list[str]) -> list[str]:
    """The proot command line running ``python3 argv`` in the root with ``folder`` mounted."""
    binds = [a for guest, host in arm64_root.standin_files(root).items()
             for a in ("-b", f"{host}:{guest}")]
    return ["proot", "-q", f"qemu-aarch64-static -cpu {qemu_cpu(device)}", "-r", str(root),
            *binds, "-b", f"{folder}:{GUEST_WORKDIR}", "-w", GUEST_WORKDIR,
            "/usr/bin/env", "-i", f"PYTHONPATH={GUEST_WORKDIR}:/{arm64_root.SITE}",
            "HOME=/root", "PATH=/usr/bin:/bin", "/usr/bin/python3", *argv]


class Arm64EmulatedTarget(RunnerTarget):
    scheme = "qemu-aarch64"

    def missing(self, device: DeviceProfile) -> str | None:
        absent = arm64_root.missing_tools()
        if absent:
            return f"missing {', '.join(absent)} (apt-get install {' '.join(absent)})"
        if not arm64_root.is_ready() or not all(p.is_file() for p in arm64_root.standin_files().values()):
            return (f"no arm64 root at {arm64_root.root_dir()} "
                    "(build it once with: edgekit targets setup arm64)")
        return None

    def execute(self, device: DeviceProfile, folder: Path, argv: list[str]) -> str:
        root = arm64_root.root_dir()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "PROOT_NO_SECCOMP": "1",  # seccomp acceleration breaks under some container kernels
               "TMPDIR": os.environ.get("TMPDIR", "/tmp")}
        proc = run_command(command(device, root, folder, argv), what=f"runner on '{device.name}'",
                           timeout_s=device.remote.timeout_s, env=env, check=False)
        return proc.stdout + proc.stderr



TARGETS.register(Arm64EmulatedTarget.scheme, Arm64EmulatedTarget())
