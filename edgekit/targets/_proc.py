"""Subprocess helper shared by the targets: run, time out, and turn failure into one line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from edgekit.errors import EdgekitError


def run_command(cmd: list[str], *, what: str, timeout_s: float, cwd: Path | None = None,
                env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``cmd`` with captured text output; a timeout or (with ``check``) a non-zero exit becomes
    an :class:`EdgekitError` naming ``what`` and the last line the command printed."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise EdgekitError(f"{what} timed out after {timeout_s:g} s",
                           fix="check that the device is reachable, or raise remote.timeout_s") from None
    except FileNotFoundError:
        raise EdgekitError(f"{what}: '{cmd[0]}' is not installed", fix=f"install {cmd[0]}") from None
    if check and proc.returncode != 0:
        raise EdgekitError(f"{what} failed (exit {proc.returncode}): {last_line(proc)}")
    return proc


def last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in (proc.stderr + "\n" + proc.stdout).splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "(no output)"
