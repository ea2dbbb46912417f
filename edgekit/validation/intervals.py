"""95% confidence intervals for the two numbers every proof judges: the metric drop against a
baseline and the agreement with it.

Why intervals: a held-out split of a few hundred examples cannot tell a 1-point loss from
noise. On 360 digits one example is 0.28 points, so a verdict that four examples decide says
as much about the split as about the artifact. The interval says which it is.

- Metric drop: a **seeded paired bootstrap**. The artifact and its baseline were run on the
  same held-out examples, so each resample draws example indices once and scores *both* on
  them; the drop's 2.5th and 97.5th percentiles over the resamples are the interval. Pairing
  matters: the two models' errors are highly correlated (most examples both get right), and an
  unpaired interval would be several times wider than the real uncertainty of the drop. It
  works for any metric (accuracy, macro-F1, per-class F1, MAE, AUROC), which is why we chose it
  over an exact test on the discordant examples (accuracy only). The seed is fixed, so the same
  outputs always give the same interval.
- Agreement (a share of examples): the **Wilson score interval**, which unlike the normal
  approximation stays inside [0, 1] and behaves at 100% agreement.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

LEVEL = 0.95
Z_95 = 1.959963984540054  # two-sided 95% normal quantile
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Interval:
    """A two-sided ``level`` confidence interval and how it was computed."""

    low: float
    high: float
    method: str
    level: float = LEVEL

    def to_json(self) -> dict[str, object]:
        return {"low": self.low, "high": self.high, "level": self.level, "method": self.method}


def bootstrap_method(resamples: int) -> str:
    return (f"paired bootstrap: {resamples} resamples of the held-out examples (seed "
            f"{BOOTSTRAP_SEED}), artifact and baseline scored on the same draw; percentile interval")


def wilson_method() -> str:
    return "Wilson score interval"


def paired_bootstrap_drop(n: int, drop_on: Callable[[np.ndarray], float], *,
                          resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> Interval:
    """Interval for ``drop_on(all indices)``: ``drop_on(idx)`` scores the artifact and its
    baseline on the examples ``idx`` (with repeats) and returns baseline-minus-artifact (or the
    reverse for lower-is-better metrics), so both see the same resample."""
    if n <= 0:
        raise ValueError("no held-out examples to resample")
    rng = np.random.default_rng(seed)
    drops = np.array([drop_on(rng.integers(0, n, n)) for _ in range(resamples)], dtype=np.float64)
    drops = drops[np.isfinite(drops)]  # a resample with one class only has no AUROC
    if not len(drops):
        point = float(drop_on(np.arange(n)))
        return Interval(point, point, bootstrap_method(resamples))
    low, high = np.quantile(drops, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2])
    return Interval(float(low), float(high), bootstrap_method(resamples))


def wilson(successes: int, n: int) -> Interval:
    """Wilson score interval for a share ``successes / n``."""
    if n <= 0:
        return Interval(0.0, 1.0, wilson_method())
    p = successes / n
    z2 = Z_95 * Z_95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z_95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Interval(max(0.0, centre - half), min(1.0, centre + half), wilson_method())


# --- forecasting a later proof from this one -------------------------------------------------

Z_ONE_SIDED_95 = 1.6448536269514722  # one-sided 95% normal quantile


def forecast_share_low(share: float, n: int, n_next: int, z: float = Z_ONE_SIDED_95) -> float:
    """One-sided lower bound of the share a **fresh** sample of ``n_next`` examples will show,
    given ``share`` seen on ``n``: both samples' noise counts (normal approximation of the
    difference of two binomial shares), so a share just above a minimum on a large split still
    falls short of it on a small held-out split about half the time."""
    if n <= 0 or n_next <= 0:
        return 0.0
    return share - z * math.sqrt(share * (1 - share) * (1 / n + 1 / n_next))


def forecast_drop_high(drop: float, interval: Interval, n: int, n_next: int,
                       z: float = Z_ONE_SIDED_95) -> float:
    """One-sided upper bound of the metric drop a fresh sample of ``n_next`` examples will show,
    given ``drop`` and its bootstrap ``interval`` on ``n``: the interval's width gives the
    standard error on ``n`` (it is a paired bootstrap, so it already knows how correlated the two
    models' errors are), which shrinks as 1/sqrt(n) on the other sample; the two add in variance."""
    if n <= 0 or n_next <= 0:
        return math.inf
    se = (interval.high - interval.low) / (2 * NormalDist().inv_cdf(1 - (1 - interval.level) / 2))
    return drop + z * se * math.sqrt(1 + n / n_next)
