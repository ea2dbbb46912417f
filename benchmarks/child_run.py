"""One benchmark run in its own child process, measured from outside: wall time, the child's
own peak resident memory, and the load around it.

The parent reaps the child with ``os.wait4``, whose ``ru_maxrss`` is the child's (and its
waited-for descendants') maximum resident set size; ``getrusage(RUSAGE_CHILDREN)`` would give
the largest of *all* children so far instead. Load averages are read before and after: the
machine may be shared, and a wall time means little without them.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from pydantic import BaseModel, Field


class ChildRun(BaseModel):
    """What the parent measured around one child process."""
    wall_s: float
    peak_rss_mb: float = Field(description="os.wait4 ru_maxrss of the child process")
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    exit_code: int
    started: str


def measure_child(argv: list[str], *, env: dict[str, str], cwd: Path) -> ChildRun:
    """Run ``argv`` to its end; its output goes where ours does."""
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen.wait
    return ChildRun(wall_s=round(wall, 1), peak_rss_mb=round(usage.ru_maxrss / 1024, 1),  # KiB
                    load_before=load_before, load_after=os.getloadavg(),
                    exit_code=proc.returncode, started=started)

