"""Interleaved latency sampling shared by the benchmarks that compare engines side by side.

Every engine runs ``per_round`` calls in turn, ``rounds`` times, so load that drifts on a shared
machine (or a GPU that clocks down) hits all engines alike; a ratio between two engines of one
run is then meaningful even when the absolute figures are noisy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def interleaved_samples(engines: Mapping[str, Callable[[Any], Any]], feeds: Sequence[Any],
                        rounds: int, per_round: int, warmup: int) -> dict[str, list[float]]:
    """Milliseconds per call, per engine, after ``warmup`` untimed calls each."""
    samples: dict[str, list[float]] = {name: [] for name in engines}
    for run in engines.values():
        for i in range(warmup):
            run(feeds[i % len(feeds)])
    for r in range(rounds):
        for name, run in engines.items():
            for i in range(per_round):
                feed = feeds[(r * per_round + i) % len(feeds)]
                t0 = time.perf_counter()
                run(feed)
                samples[name].append((time.perf_counter() - t0) * 1e3)
    return samples

