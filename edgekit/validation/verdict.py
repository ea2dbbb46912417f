"""The one budget judgement: ``compress`` (proving on this machine) and ``validate`` (re-proving
a bundle on a target) both measure an artifact into :class:`Evidence` and call :func:`judge`.

The rule (README, "How a verdict is decided"):

- **pass / fail is decided on the point estimates**, exactly against the recipe's budgets: an
  artifact whose accuracy drop is 1.11 points fails a 1-point budget, and one that really
  loses 3 points always fails. Intervals never turn a failure into a pass.
- Every failed check says whether it is **significant**. A metric-drop failure is significant
  when its whole 95% interval lies beyond the budget (the artifact is worse than allowed, not
  just unlucky on this split); an agreement failure when its whole interval lies below the
  minimum. Otherwise the failure is "within the noise of N held-out examples": the split is
  too small to tell, and the fix is more held-out data, not a looser budget. Exact checks
  (size, conversion tolerance, closeness to the host run) are not sampled: their failures are
  always significant.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgekit.data import Split
from edgekit.recipe.schema import Budgets
from edgekit.resolution import examples_to_resolve, resolves
from edgekit.tasks import Metric, Task
from edgekit.validation.intervals import (Interval, bootstrap_method, paired_bootstrap_drop,
                                          wilson)

EPS = 1e-12  # a drop exactly at the budget passes despite float rounding


@dataclass(frozen=True)
class Check:
    """One budget check. ``significant`` is set for failed sampled checks only (see module)."""

    name: str
    passed: bool
    value: float
    limit: float
    sentence: str  # what was measured against what budget, readable as is
    interval: Interval | None = None
    significant: bool | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["interval"] = self.interval.to_json() if self.interval else None
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Check":
        interval = data.get("interval")
        return cls(**{**data, "interval": Interval(**interval) if interval else None})


@dataclass(frozen=True)
class Verdict:
    checks: tuple[Check, ...]
    n_examples: int

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)

    @property
    def significant(self) -> bool | None:
        """None when passed; else whether any failure is beyond the noise (exact checks are)."""
        if self.passed:
            return None
        return any(c.significant is not False for c in self.failures)

    def flags(self) -> dict[str, bool]:
        """``{check name: passed}``, report.json's ``checks``."""
        return {c.name: c.passed for c in self.checks}

    def summary(self) -> str:
        """``pass``, or ``FAIL: <one sentence per failed check>``."""
        if self.passed:
            return "pass"
        return "FAIL: " + "; ".join(c.sentence for c in self.failures)

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "significant": self.significant, "summary": self.summary(),
                "n_examples": self.n_examples, "checks": [c.to_json() for c in self.checks]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Verdict":
        return cls(tuple(Check.from_json(c) for c in data["checks"]), data["n_examples"])


@dataclass(frozen=True)
class Closeness:
    """An exact float check: max |Δ| against what the artifact must reproduce."""

    name: str  # 'conversion_atol' (vs its Keras source) or 'matches_host' (vs the host run)
    max_abs_diff: float
    atol: float
    against: str  # e.g. 'the Keras model it was converted from'


@dataclass(frozen=True)
class Evidence:
    """Everything a verdict is decided from, measured on one artifact."""

    metric: str
    share: bool  # the metric lies in [0, 1]: drops read in points
    higher_is_better: bool
    value: float
    baseline: str
    baseline_value: float
    drop_interval: Interval | None
    reference_value: float
    n_examples: int
    agreement: float | None = None  # with the baseline; None: no agreement check
    agreement_interval: Interval | None = None
    agreement_note: str = ""  # e.g. 'lower bound from the host run'
    closeness: Closeness | None = None
    size_bytes: int | None = None

    @property
    def drop(self) -> float:
        return (self.baseline_value - self.value if self.higher_is_better
                else self.value - self.baseline_value)


def _number(value: float, share: bool) -> str:
    """A metric difference as a number: in points for share metrics, else in its own units."""
    return f"{value * 100:.2f}" if share else f"{value:.4g}"


def drop_text(drop: float, interval: Interval | None, share: bool) -> str:
    """``1.11 points (95% CI 0.00 to 2.50)``: a drop with its interval, as the verdict
    sentences and the console line both print it."""
    text = _number(drop, share) + (" points" if share else "")
    if interval is not None:
        text += f" (95% CI {_number(interval.low, share)} to {_number(interval.high, share)})"
    return text


def _budget(value: float, share: bool) -> str:
    return f"{value * 100:g}-point" if share else f"{value:g}"


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _noise(significant: bool, n: int) -> str:
    return ("significant: the whole interval lies beyond the budget" if significant
            else f"within the noise of {n} held-out examples")


def _metric_check(e: Evidence, budget: float) -> Check:
    drop, word = e.drop, "drop" if e.higher_is_better else "increase"
    passed = drop <= budget + EPS
    text = f"{e.metric} {word} {drop_text(drop, e.drop_interval, e.share)}"
    text += f" vs {e.baseline} {'is within' if passed else 'exceeds'} the {_budget(budget, e.share)} budget"
    significant = None
    if not passed and e.drop_interval is not None:
        significant = e.drop_interval.low > budget + EPS
        text += f" ({_noise(significant, e.n_examples)})"
    return Check("metric_drop", passed, drop, budget, text, e.drop_interval, significant)


def _agreement_check(e: Evidence, minimum: float) -> Check:
    assert e.agreement is not None
    passed = e.agreement >= minimum
    text = f"agreement {_pct(e.agreement)} with {e.baseline}"
    if e.agreement_note:
        text += f" ({e.agreement_note})"
    if e.agreement_interval is not None:
        text += (f" (95% CI {_pct(e.agreement_interval.low)} to "
                 f"{_pct(e.agreement_interval.high)})")
    text += f" is {'at or above' if passed else 'below'} the {_pct(minimum)} minimum"
    significant = None
    if not passed and e.agreement_interval is not None:
        significant = e.agreement_interval.high < minimum
        text += f" ({_noise(significant, e.n_examples)})"
    return Check("agreement", passed, e.agreement, minimum, text, e.agreement_interval, significant)


def judge(e: Evidence, budgets: Budgets) -> Verdict:
    """Apply ``budgets`` to ``e`` (the rule is the module docstring)."""
    checks = [_metric_check(e, budgets.max_metric_drop)]
    if e.agreement is not None:
        checks.append(_agreement_check(e, budgets.min_agreement))
    if budgets.min_reference_ratio is not None:
        ratio = (e.value / e.reference_value if e.higher_is_better
                 else e.reference_value / e.value) if e.value and e.reference_value else 0.0
        ok = ratio >= budgets.min_reference_ratio
        checks.append(Check("reference_ratio", ok, ratio, budgets.min_reference_ratio,
                            f"{e.metric} is {ratio:.4f} of the reference's, "
                            f"{'at or above' if ok else 'below'} the {budgets.min_reference_ratio:g} minimum"))
    if e.closeness is not None:
        c = e.closeness
        ok = c.max_abs_diff <= c.atol
        checks.append(Check(c.name, ok, c.max_abs_diff, c.atol,
                            f"max |Δ| {c.max_abs_diff:.3g} vs {c.against} "
                            f"{'is within' if ok else 'exceeds'} the tolerance {c.atol:.3g}"))
    if budgets.max_size_bytes is not None and e.size_bytes is not None:
        ok = e.size_bytes <= budgets.max_size_bytes
        checks.append(Check("size", ok, e.size_bytes, budgets.max_size_bytes,
                            f"size {e.size_bytes:,} B {'is within' if ok else 'exceeds'} the "
                            f"{budgets.max_size_bytes:,} B budget"))
    return Verdict(tuple(checks), e.n_examples)


# --- measuring: the same numbers on the host (compress) and on a target (validate) -------------

def budget_metric(task: Task, budgets: Budgets) -> Metric:
    """The metric the budget is on (``budgets.metric``, default the task's); an unknown name
    raises ValueError (the recipe check and the bundle reader turn it into a one-line error)."""
    metric = task.metric_named(budgets.metric)
    if metric is None:
        raise ValueError(f"task '{task.name}' has no metric '{budgets.metric}' "
                         f"(use one of: {task.metric_names()})")
    return metric


def drop_interval(task: Task, metric: Metric, outputs: np.ndarray, split: Split,
                  baseline_outputs: np.ndarray | None, baseline_value: float) -> Interval:
    """The drop's 95% interval: paired bootstrap when the baseline's outputs are at hand;
    otherwise (a bundle re-proven against a non-reference baseline, whose outputs it does not
    keep) the bootstrap of the artifact's metric alone, the baseline's value held fixed."""
    n = len(outputs)
    artifact_on = metric.resampler(outputs, split)
    if baseline_outputs is not None:
        baseline_on = metric.resampler(baseline_outputs, split)
        return paired_bootstrap_drop(n, lambda idx: metric.drop(baseline_on(idx), artifact_on(idx)),
                                     resamples=task.interval_resamples)
    unpaired = paired_bootstrap_drop(n, lambda idx: metric.drop(baseline_value, artifact_on(idx)),
                                     resamples=task.interval_resamples)
    return Interval(unpaired.low, unpaired.high,
                    bootstrap_method(task.interval_resamples).replace(
                        "artifact and baseline scored on the same draw",
                        "artifact only, baseline value held fixed (its outputs are not in the bundle)"))


def agreement_with(task: Task, outputs: np.ndarray, other: np.ndarray) -> tuple[float, Interval]:
    """Agreement (a share of examples) and its Wilson interval."""
    share = task.agreement(outputs, other)
    return share, wilson(int(round(share * len(outputs))), len(outputs))


def resolution_warning(metric: Metric, n_examples: int, budgets: Budgets) -> str | None:
    """One line when ``n_examples`` cannot resolve the budget of a share-of-examples metric
    (:mod:`edgekit.resolution`); None when they can or the rule does not apply."""
    if not metric.share_of_examples or resolves(n_examples, budgets.max_metric_drop):
        return None
    needed = examples_to_resolve(budgets.max_metric_drop)
    worth = 100.0 / n_examples
    return (f"warning: {n_examples} held-out examples cannot resolve a "
            f"{_budget(budgets.max_metric_drop, True)} {metric.name} budget: one example is "
            f"{worth:.2f} points; {needed if needed else 'no finite number of'} examples would "
            "be needed (one example at most a quarter of the budget); raise data.test_fraction "
            "or use more data")


def class_report(task: Task, outputs: np.ndarray, labels: np.ndarray) -> dict[str, Any] | None:
    """Per-class precision/recall/F1 and macro averages, for tasks that have classes."""
    return task.per_class(outputs, np.asarray(labels)) if task.per_class is not None else None
