"""How many held-out examples a budget needs before a single example cannot decide its verdict.

For a metric that is a share of examples (accuracy, agreement), one example moves it by 1/n.
A verdict that one example can flip says more about the split than about the artifact, so a
split *resolves* a budget only when one example is worth at most a quarter of it. Both the
recipe check (a warning when a held-out split is too small) and sampled validation on slow
targets (a sample must still resolve the budget) use this one rule.
"""

from __future__ import annotations

import math

EXAMPLE_SHARE_OF_BUDGET = 0.25
"""The most one example may be worth, as a share of ``max_metric_drop``."""


def examples_to_resolve(max_metric_drop: float) -> int | None:
    """The fewest examples for which one example moves a share-of-examples metric by at most a
    quarter of ``max_metric_drop``; None when the budget is 0 (no finite split resolves it)."""
    if max_metric_drop <= 0:
        return None
    return math.ceil(1.0 / (EXAMPLE_SHARE_OF_BUDGET * max_metric_drop) - 1e-9)


def resolves(n_examples: int, max_metric_drop: float) -> bool:
    """Whether ``n_examples`` held-out examples resolve ``max_metric_drop`` (see the module)."""
    needed = examples_to_resolve(max_metric_drop)
    return needed is not None and n_examples >= needed
