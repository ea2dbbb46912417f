"""``connection: local``: this machine (its CPU, or its GPU through a GPU runtime)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from edgekit.devices import DeviceProfile
from edgekit.device.runtimes import RUNTIMES
from edgekit.targets import TARGETS, RunnerTarget
from edgekit.targets._proc import run_command


def runner_pythonpath(folder: Path, user: str | None) -> str:
    """The staged folder first, so its edgekit copy shadows any other (proving the payload is
    self-contained), then the user's own ``PYTHONPATH``: a runtime installed through it (common
    on Jetsons and conda-style setups) must stay visible to the runner, or it reports the CUDA
    provider missing while ``edgekit targets`` says ready."""
    return os.pathsep.join([str(folder), *[p for p in (user or "").split(os.pathsep) if p]])


class LocalTarget(RunnerTarget):
    scheme = "local"

    def missing(self, device: DeviceProfile) -> str | None:
        """A local device is usable when at least one of its runtimes is installed here."""
        reasons = [f"{name}: {RUNTIMES.get(name).missing()}" for name in device.runtimes
                   if name in RUNTIMES and RUNTIMES.get(name).missing()]
        unknown = [name for name in device.runtimes if name not in RUNTIMES]
        usable = len(device.runtimes) - len(reasons) - len(unknown)
        if usable > 0:
            return None
        return "; ".join(reasons + [f"{n}: unknown runtime" for n in unknown]) or "no runtimes listed"

    def execute(self, device: DeviceProfile, folder: Path, argv: list[str]) -> str:
        env = {**os.environ, "PYTHONPATH": runner_pythonpath(folder, os.environ.get("PYTHONPATH"))}
        proc = run_command([sys.executable, *argv], what=f"runner on '{device.name}'",
                           timeout_s=device.remote.timeout_s, cwd=folder, env=env, check=False)
        return proc.stdout + proc.stderr


TARGETS.register(LocalTarget.scheme, LocalTarget())
