"""Batch-1 latency percentiles after warm-up, and the memory the engine took."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from edgekit.device.runtimes import Inputs, Session


@dataclass(frozen=True)
class Latency:
    p50: float
    p90: float
    p99: float
    mean: float
    std: float
    runs: int
    warmup: int
    threads: int
    batch: int = 1

    def to_json(self) -> dict[str, float | int]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def measure(session: Session, examples: list[Inputs], *, runs: int, warmup: int,
            threads: int) -> Latency:
    """Time ``runs`` calls cycling over real examples (not zeros: sparsity-aware kernels and
    data-dependent paths would make zeros look faster than real inputs)."""
    for i in range(warmup):
        session.run(examples[i % len(examples)])
    times = np.empty(runs)
    for i in range(runs):
        x = examples[i % len(examples)]
        t0 = time.perf_counter_ns()
        session.run(x)
        times[i] = (time.perf_counter_ns() - t0) / 1e6
    return Latency(p50=float(np.percentile(times, 50)), p90=float(np.percentile(times, 90)),
                   p99=float(np.percentile(times, 99)), mean=float(times.mean()),
                   std=float(times.std()), runs=runs, warmup=warmup, threads=threads)


def rss_mb() -> float:
    """Resident memory of this process (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
