"""Run one artifact on its runtime over the held-out split and judge it against the budgets."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.data import Split
from edgekit.errors import EdgekitError
from edgekit.recipe.schema import Budgets
from edgekit.runtimes import Runtime
from edgekit.tasks import Task
from edgekit.validation.latency import Latency, measure, rss_mb


@dataclass(frozen=True)
class ProofSettings:
    threads: int
    warmup: int
    runs: int
    target: str


@dataclass(frozen=True)
class Baseline:
    """What an artifact is judged against: the reference, or e.g. the distilled student."""

    name: str
    metric: float
    outputs: np.ndarray


@dataclass
class Proof:
    metric: float
    agreement: float  # top-1 agreement with the uncompressed reference
    baseline_agreement: float  # ... with the budget's baseline model
    max_abs_diff: float  # vs the uncompressed reference model's outputs
    source_max_abs_diff: float  # vs the Keras model this file was converted from
    executed_precision: str
    latency: Latency
    load_ms: float
    rss_delta_mb: float
    checks: dict[str, bool]

    @property
    def passed(self) -> bool:
        return all(self.checks.values())


def run_all(session: Any, split: Split) -> np.ndarray:
    """Outputs for every example, one at a time (batch 1, as deployed)."""
    return np.concatenate([session.run(split.example(i)) for i in range(len(split))], axis=0)


def prove(path: Path, stored_precision: str, runtime: Runtime, split: Split, *,
          task: Task, reference_metric: float, reference_out: np.ndarray, source_out: np.ndarray,
          budgets: Budgets, conversion_atol: float | None, size_bytes: int,
          settings: ProofSettings, baseline: Baseline | None = None) -> Proof:
    baseline = baseline or Baseline("reference", reference_metric, reference_out)
    reason = runtime.missing()
    if reason:
        raise EdgekitError(f"cannot prove {path.name}: {reason}", fix="install the runtime")
    rss0 = rss_mb()
    t0 = time.perf_counter()
    try:
        session = runtime.load(path, settings.threads)
    except Exception as exc:
        raise EdgekitError(f"{runtime.name} could not load the artifact: "
                           f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                           where=path, fix="re-export it; the file may be corrupt") from exc
    load_ms = (time.perf_counter() - t0) * 1e3
    outputs = run_all(session, split).astype(np.float32)
    latency = measure(session, [split.example(i) for i in range(min(len(split), 64))],
                      runs=settings.runs, warmup=settings.warmup, threads=settings.threads)
    rss_delta = rss_mb() - rss0
    metric = task.score(outputs, split.y)
    src_diff = float(np.max(np.abs(outputs - source_out)))
    baseline_agreement = task.agreement(outputs, baseline.outputs)
    checks = {
        "metric_drop": task.drop(baseline.metric, metric) <= budgets.max_metric_drop + 1e-12,
        "agreement": baseline_agreement >= budgets.min_agreement,
    }
    if budgets.min_reference_ratio is not None:
        ratio = metric / reference_metric if task.higher_is_better else reference_metric / metric
        checks["reference_ratio"] = ratio >= budgets.min_reference_ratio
    if conversion_atol is not None:
        checks["conversion_atol"] = src_diff <= conversion_atol
    if budgets.max_size_bytes is not None:
        checks["size"] = size_bytes <= budgets.max_size_bytes
    return Proof(metric=metric, agreement=task.agreement(outputs, reference_out),
                 baseline_agreement=baseline_agreement,
                 max_abs_diff=float(np.max(np.abs(outputs - reference_out))),
                 source_max_abs_diff=src_diff,
                 executed_precision=session.executed_precision(stored_precision),
                 latency=latency, load_ms=load_ms, rss_delta_mb=max(0.0, rss_delta), checks=checks)
