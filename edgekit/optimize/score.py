"""A candidate's score: its artifact run over the **validation** split and judged against the
budgets, plus its latency on the target and its size.

Why validation, never held-out: the search picks the best of many candidates, and a figure used
to pick is optimistic by the picking (the winner is partly the luckiest on those examples).
Only the chosen artifact meets the held-out split, once, in the final ``compress`` run, so its
held-out figure is an honest estimate of what the device will see.

A candidate counts as within budget only when its held-out proof is *forecast* to pass too:
the budget must hold at the one-sided 95% bound of what a fresh sample the size of the held-out
split would show (:func:`~edgekit.validation.intervals.forecast_share_low`,
:func:`~edgekit.validation.intervals.forecast_drop_high`). The search picks the best of many, so
a winner chosen right at a budget line fails the held-out proof about half the time: on SST-2
the point-estimate rule chose an FFN-pruned artifact with 95.6% agreement on 3,368 validation
sentences, which showed 94.0% on the 872 held-out ones.

Latency comes from the target when it is reachable: this machine's proof timing for a local
target, ``edgekit profile`` for a remote one; otherwise the roofline estimate (``profile``'s own
fallback). Every trial says which (``measured`` or ``estimated``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.data import Split
from edgekit.device import heldout
from edgekit.devices import DeviceProfile
from edgekit.recipe.schema import Budgets
from edgekit.tasks import Metric, Task
from edgekit.validation.intervals import Interval, forecast_drop_high, forecast_share_low
from edgekit.validation.profile import profile
from edgekit.validation.prove import Baseline, Proof, ProofSettings, prove
from edgekit.validation.verdict import EPS, agreement_with, drop_interval

MEASURED, ESTIMATED = "measured", "estimated"


@dataclass(frozen=True)
class Forecast:
    """The budget's checks at the bounds a held-out split of ``n_heldout`` examples is forecast
    to show (module docstring): ``passes`` is what makes a candidate eligible."""

    n_heldout: int
    drop_high: float
    agreement_low: float
    passes: bool

    def to_json(self) -> dict[str, Any]:
        return {"n_heldout": self.n_heldout, "drop_high": self.drop_high,
                "agreement_low": self.agreement_low, "passes": self.passes}


@dataclass(frozen=True)
class ValidationScore:
    metric: float
    baseline: str
    baseline_metric: float
    drop: float
    agreement: float | None
    passed: bool
    failures: tuple[str, ...]
    forecast: Forecast

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "baseline": self.baseline,
                "baseline_metric": self.baseline_metric, "drop": self.drop,
                "agreement": self.agreement, "passed": self.passed,
                "failures": list(self.failures), "forecast": self.forecast.to_json()}


def forecast(drop: float, interval: Interval, agreement: float, n: int, n_heldout: int,
             budgets: Budgets) -> Forecast:
    """Whether the budget's metric and agreement checks hold at the forecast bounds, from a
    drop (and its interval) and an agreement with the baseline seen on ``n`` examples."""
    high = forecast_drop_high(drop, interval, n, n_heldout)
    low = forecast_share_low(agreement, n, n_heldout)
    passes = high <= budgets.max_metric_drop + EPS and low >= budgets.min_agreement
    return Forecast(n_heldout, high, low, passes)


def float_forecast(task: Task, metric: Metric, baseline: Baseline, outputs: np.ndarray,
                   val: Split, budgets: Budgets, n_heldout: int, drop: float) -> Forecast:
    """The same forecast for the float model a file is converted from, whose drop on
    validation (:func:`keras_drop`) the caller has. A file only approximates its float model,
    so when the float model is already forecast to fail, its chain is out, and so is every
    chain at least as strongly compressed (the search skips those,
    :func:`~edgekit.optimize.search.dominated`)."""
    agreement, _ = agreement_with(task, outputs, baseline.outputs)
    interval = drop_interval(task, metric, outputs, val, baseline.outputs, baseline.metric)
    return forecast(drop, interval, agreement, len(val), n_heldout, budgets)


@dataclass(frozen=True)
class Latency:
    ms: float | None
    source: str  # MEASURED or ESTIMATED
    detail: str


def keras_drop(metric: Metric, baseline: Baseline, outputs: np.ndarray, val: Split) -> float:
    """How far the (float) model to be exported already is from the baseline on validation:
    quantizing it will not win the points back, so a prune beyond the budget stops here."""
    return metric.drop(baseline.metric, metric.evaluate(outputs, val))


def score_artifact(path: Path, precision: str, runtime: Any, val: Split, *, task: Task,
                   metric: Metric, reference_out: np.ndarray, source_out: np.ndarray,
                   baseline: Baseline, budgets: Budgets, size: int, settings: ProofSettings,
                   atol_table: Any, n_heldout: int) -> tuple[ValidationScore, Proof]:
    """The same proof ``compress`` runs, over the validation split instead of held-out, and the
    forecast of the held-out proof (``n_heldout`` examples)."""
    proof = prove(path, precision, runtime, val, task=task,
                  reference_metric=metric.evaluate(reference_out, val),
                  reference_out=reference_out, source_out=source_out, budgets=budgets,
                  conversion_atol=None, size_bytes=size, settings=settings, baseline=baseline,
                  atol_table=atol_table)
    drop = metric.drop(baseline.metric, proof.metric)
    score = ValidationScore(
        metric=proof.metric, baseline=baseline.name, baseline_metric=baseline.metric,
        drop=drop, agreement=proof.baseline_agreement,
        passed=proof.verdict.passed, failures=tuple(c.sentence for c in proof.verdict.failures),
        forecast=forecast(drop, proof.drop_interval, proof.baseline_agreement, len(val),
                          n_heldout, budgets))
    return score, proof


def proves_here(target: DeviceProfile) -> bool:
    """Whether the target is this machine's CPU, where every proof runs: then the proof's own
    timing is the target's latency (a local GPU profile is not: the proofs do not run there)."""
    return target.scheme == "local" and not target.accelerator and not target.execution_providers


def target_latency(path: Path, proof: Proof, target: DeviceProfile, val: Split,
                   scratch: Path) -> Latency:
    """The artifact's p50 on ``target``: the proof's own timing when the target is this
    machine, else ``profile`` on it (validation inputs), else the labelled estimate."""
    if proves_here(target):
        return Latency(proof.latency.p50, MEASURED, f"on {target.name}, {proof.latency.runs} runs")
    inputs = scratch / "val_inputs.npz"
    if not inputs.is_file():
        np.savez(inputs, **{f"{heldout.INPUT_PREFIX}{k}": v for k, v in val.x.items()})
    result = profile(path, target.name, inputs=inputs, threads=target.threads)
    measured = (result.get("measured") or {}).get("latency_ms", {}).get("p50")
    if measured:
        return Latency(float(measured), MEASURED, f"edgekit profile on {target.name}")
    est = result.get("estimate") or {}
    why = result.get("unavailable", "not measured")
    return Latency(est.get("latency_ms"), ESTIMATED, f"roofline estimate ({why})")
