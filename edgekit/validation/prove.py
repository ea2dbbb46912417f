"""Run one artifact on its runtime over the held-out split and judge it against the budgets
(the judgement itself is :mod:`edgekit.validation.verdict`, shared with ``edgekit validate``)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.data import Split
from edgekit.errors import EdgekitError
from edgekit.recipe.schema import Budgets
from edgekit.device.runtimes import Runtime
from edgekit.tasks import Task
from edgekit.validation.intervals import Interval
from edgekit.device.latency import Latency, measure, rss_mb
from edgekit.validation.verdict import (Closeness, Evidence, Verdict, agreement_with,
                                        budget_metric, class_report, drop_interval, judge)


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
    """What proving one artifact measured, and the verdict on it (:mod:`.verdict`)."""

    metric: float  # the budget's metric (budgets.metric, default the task's)
    agreement: float  # top-1 agreement with the uncompressed reference
    agreement_interval: Interval
    baseline_agreement: float  # ... with the budget's baseline model
    baseline_agreement_interval: Interval
    drop_interval: Interval  # 95% interval of the metric drop against the baseline
    max_abs_diff: float  # vs the uncompressed reference model's outputs
    source_max_abs_diff: float  # vs the Keras model this file was converted from
    conversion_atol: float | None  # the tolerance that diff was held to (None: not a float file)
    executed_precision: str
    latency: Latency
    load_ms: float
    rss_delta_mb: float
    verdict: Verdict
    classes: dict[str, Any] | None = None  # per-class precision/recall/F1 (classification)

    @property
    def checks(self) -> dict[str, bool]:
        return self.verdict.flags()

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("agreement_interval", "baseline_agreement_interval", "drop_interval",
                     "latency", "verdict"):
            out[name] = out[name].to_json()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Proof":
        """The inverse of :meth:`to_json` (a cached proof, :mod:`edgekit.stage_keys`)."""
        intervals = {k: Interval(**data[k]) for k in
                     ("agreement_interval", "baseline_agreement_interval", "drop_interval")}
        return cls(**{**data, **intervals, "latency": Latency(**data["latency"]),
                      "verdict": Verdict.from_json(data["verdict"])})


#: A half-width float's error, as a share of the outputs' largest magnitude: 8 units of its
#: rounding (2^-8 for bf16, 2^-11 for fp16) at the scale of the outputs. Rounding error grows
#: with what is rounded, so a fixed absolute tolerance, set on small smoke models, failed the
#: same conversion of the longer-trained full models, whose logits are larger: OpenVINO's bf16
#: run of the full Fashion-MNIST inception and mobilenet was 0.212 and 0.205 from Keras
#: against the cnn family's 0.2 (benchmarks/results/families-full.md), on CPUs that compute
#: bf16 only (an AVX2 machine runs the same file in fp32 and passes). A broken conversion is
#: off by the order of the outputs themselves, far beyond 8 units of rounding.
RELATIVE_ATOL = {"fp16": 8 * 2.0 ** -11, "bf16": 8 * 2.0 ** -8}


def family_atol(table: Mapping[str, float], stored: str, executed: str,
                peak: float = 0.0) -> float | None:
    """Conversion tolerance for an artifact: the looser of its stored and executed precision
    (fp16 weights run in fp32 still carry fp16 rounding), and for a half-width float no
    tighter than :data:`RELATIVE_ATOL` of ``peak``, the largest |output| of the source model.
    None when either is not a float precision: int8 error is expected and judged by the
    accuracy budget instead."""
    if stored not in table or executed not in table:
        return None
    relative = max(RELATIVE_ATOL.get(stored, 0.0), RELATIVE_ATOL.get(executed, 0.0))
    return max(table[stored], table[executed], relative * peak)


def run_all(session: Any, split: Split) -> np.ndarray:
    """Outputs for every example, one at a time (batch 1, as deployed)."""
    return np.concatenate([session.run(split.example(i)) for i in range(len(split))], axis=0)


def prove(path: Path, stored_precision: str, runtime: Runtime, split: Split, *,
          task: Task, reference_metric: float, reference_out: np.ndarray, source_out: np.ndarray,
          budgets: Budgets, conversion_atol: float | None, size_bytes: int,
          settings: ProofSettings, baseline: Baseline | None = None,
          atol_table: Mapping[str, float] | None = None) -> Proof:
    """Run the artifact over ``split`` and judge it. ``reference_metric`` and
    ``baseline.metric`` are in the budget's metric. The float tolerance is ``conversion_atol``,
    or, with ``atol_table`` (the family's), the one for the precision that actually ran."""
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
    metric = budget_metric(task, budgets)
    value = metric.evaluate(outputs, split)
    src_diff = float(np.max(np.abs(outputs - source_out)))
    executed = session.executed_precision(stored_precision)
    if atol_table is not None:
        conversion_atol = family_atol(atol_table, stored_precision, executed,
                                      peak=float(np.max(np.abs(source_out))))
    baseline_agreement, baseline_interval = agreement_with(task, outputs, baseline.outputs)
    agreement, agreement_interval = agreement_with(task, outputs, reference_out)
    interval = drop_interval(task, metric, outputs, split, baseline.outputs, baseline.metric)
    evidence = Evidence(
        metric=metric.name, share=metric.share, higher_is_better=metric.higher_is_better,
        value=value, baseline=baseline.name, baseline_value=baseline.metric,
        drop_interval=interval, reference_value=reference_metric, n_examples=len(split),
        agreement=baseline_agreement, agreement_interval=baseline_interval,
        closeness=Closeness("conversion_atol", src_diff, conversion_atol,
                            "the Keras model it was converted from")
        if conversion_atol is not None else None,
        size_bytes=size_bytes)
    return Proof(metric=value, agreement=agreement, agreement_interval=agreement_interval,
                 baseline_agreement=baseline_agreement,
                 baseline_agreement_interval=baseline_interval, drop_interval=interval,
                 max_abs_diff=float(np.max(np.abs(outputs - reference_out))),
                 source_max_abs_diff=src_diff, conversion_atol=conversion_atol,
                 executed_precision=executed, latency=latency, load_ms=load_ms,
                 rss_delta_mb=max(0.0, rss_delta), verdict=judge(evidence, budgets),
                 classes=class_report(task, outputs, split.y))
