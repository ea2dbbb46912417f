"""Parse the console output of LiteRT's ``benchmark_model`` tool into edgekit's timing JSON.

The tool prints (microseconds) a ``count=.. first=.. curr=.. min=.. max=.. avg=.. std=..`` line
per phase (warm-up, then the measured runs; newer builds add ``p5= median= p95=``), a summary
``Inference timings in us: Init: .., First inference: .., Warmup (avg): .., Inference (avg): ..``
(older builds: ``Average inference timings in us: Warmup: .., Init: .., Inference: ..``) and a
memory line whose wording changed across releases. Android's logcat prefix (``I tflite  : ``)
is tolerated. It reports no p90/p99: those fields are None rather than invented.
"""

from __future__ import annotations

import re
from typing import Any

from edgekit.errors import EdgekitError

_PREFIX = r"^(?:[A-Z] tflite\s*:\s*)?(?:Timings \(microseconds\): )?"
_NUM = r"([0-9.]+(?:e[+-]?\d+)?)"
_RUN = re.compile(_PREFIX + r"count=(\d+) (?:first=\S+ )?curr=\S+ min=" + _NUM + r" max=" + _NUM
                  + r" avg=" + _NUM + r" std=" + _NUM + r"(?: p5=" + _NUM + r" median=" + _NUM
                  + r" p95=" + _NUM + r")?", re.M)
_SUMMARY = re.compile(r"Inference timings in us: Init: " + _NUM + r", First inference: " + _NUM
                      + r", Warmup \(avg\): " + _NUM + r", Inference \(avg\): " + _NUM)
_LEGACY = re.compile(r"Average inference timings in us: Warmup: " + _NUM + r", Init: " + _NUM
                     + r", Inference: " + _NUM)
_MEMORY = (re.compile(r"Overall peak memory footprint \(MB\) via periodic monitoring: " + _NUM),
           re.compile(r"(?:Peak memory footprint|Memory footprint delta from the start of the "
                      r"tool) \(MB\): init=" + _NUM + r" overall=" + _NUM))


def _ms(us: str | None) -> float | None:
    return None if us is None else round(float(us) / 1e3, 4)


def parse(text: str) -> dict[str, Any]:
    """Timings (ms) and memory (MB) from one benchmark_model run's output."""
    runs = list(_RUN.finditer(text))
    summary, legacy = _SUMMARY.search(text), _LEGACY.search(text)
    if not runs and not summary and not legacy:
        tail = [ln for ln in text.strip().splitlines() if ln.strip()][-1:] or ["(no output)"]
        raise EdgekitError(f"benchmark_model printed no timings: {tail[0]}")
    latency: dict[str, Any] = {}
    if runs:  # the last count= line is the measured phase (the first one is the warm-up)
        m = runs[-1]
        count, lo, hi, avg, std, p5, median, p95 = m.groups()
        latency = {"runs": int(count), "mean": _ms(avg), "std": _ms(std), "min": _ms(lo),
                   "max": _ms(hi), "p50": _ms(median), "p90": None, "p95": _ms(p95), "p99": None}
    init = first = None
    if summary:
        init, first, _, avg = summary.groups()
        latency.setdefault("mean", _ms(avg))
    elif legacy:
        _, init, avg = legacy.groups()
        latency.setdefault("mean", _ms(avg))
    memory = None
    overall = _MEMORY[0].search(text) or _MEMORY[1].search(text)
    if overall:
        memory = float(overall.groups()[-1])
    return {"latency_ms": latency, "load_ms": _ms(init), "first_inference_ms": _ms(first),
            "peak_rss_mb": memory}
