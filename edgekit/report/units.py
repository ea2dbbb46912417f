"""Numbers as a reader wants them in report.html: sizes in kB/MB, parameter counts in
thousands/millions, shares in percent, latencies with enough digits to compare."""

from __future__ import annotations

import re


def size(n_bytes: float) -> str:
    """``77.9 kB``, ``7.40 MB``, ``1.20 GB`` (decimal units, as file managers show them)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            value = n_bytes / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{int(n_bytes)} B"


def count(n: float) -> str:
    """``61,706`` below a million, ``7.33 M`` above."""
    return f"{n / 1e6:.3g} M" if n >= 1e6 else f"{int(n):,}"


def ms(value: float) -> str:
    """A latency in ms with three significant digits (0.0312, 1.27, 32.9)."""
    return f"{value:.3g}"


def ratio(value: float) -> str:
    """``3.2×``; ``12×`` from ten up."""
    return f"{value:.2g}×" if value < 10 else f"{value:.0f}×"


def metric_is_share(report: dict) -> bool:
    """Whether the budget's metric lies in [0, 1] (accuracy, F1), so differences read in points;
    False when the task or metric is unknown here."""
    from edgekit.tasks import TASKS

    try:
        budgets = report.get("budgets") or report["resolved_recipe"]["budgets"]
        metric = TASKS.get(report["dataset"]["task"]).metric_named(budgets.get("metric"))
        return bool(metric and metric.share)
    except Exception:  # a report from another version: plain metric units are still right
        return False


def difference(value: float, share: bool) -> str:
    """A metric difference: ``−0.56 pts`` for share metrics, ``−0.0056`` otherwise."""
    return f"{value * 100:+.2f} pts".replace("-", "−") if share else f"{value:+.4g}".replace("-", "−")


def smaller(reference_bytes: float, n_bytes: float) -> str:
    """``3.6× smaller``, ``about the same size``, ``1.2× larger`` (``n_bytes`` vs the reference)."""
    factor = reference_bytes / n_bytes if n_bytes else 0.0
    if factor >= 1.1:
        return f"{ratio(factor)} smaller"
    if factor > 1 / 1.1:
        return "about the same size"
    return f"{ratio(1 / factor)} larger" if factor else "empty"


def slug(text: str) -> str:
    """An HTML id from a name (targets, artifact files)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"
