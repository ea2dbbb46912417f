"""The search's Pareto plot (validation metric against the objective, every trial a point, the
eligible trials' 2-D front joined, the chosen ringed) and its section in the chosen bundle's report.html."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from edgekit.optimize.front import objective_value
from edgekit.optimize.trials import Trial
from edgekit.report.charts import FAIL_COLOR, finish, img, log_axis, place_labels, pyplot


def pareto_chart(trials: Sequence[Trial], front: Sequence[Trial], chosen: Trial | None, *,
                 objective: str, metric: str, max_drop: float,
                 higher_is_better: bool = True) -> str | None:
    done = [t for t in trials if t.validation is not None
            and objective_value(t, objective) is not None]
    if not done:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    on_front = {t.number for t in front}
    unit = "p50 latency (ms, log scale)" if objective == "latency" else "size (KiB, log scale)"

    def x(t: Trial) -> float:
        v = objective_value(t, objective) or 0.0
        return v if objective == "latency" else v / 1024

    for group, style in ((lambda t: t.feasible and t.number not in on_front,
                          dict(color="#1f77b4", alpha=0.5, label="eligible, not on the front")),
                         (lambda t: not t.feasible, dict(color=FAIL_COLOR, marker="x",
                                                         label="not eligible (budget or held-out "
                                                               "forecast)")),
                         (lambda t: t.number in on_front and t.feasible,
                          dict(color="#2ca02c", s=45, label="Pareto front, eligible"))):
        pts = [t for t in done if group(t)]
        if pts:
            ax.scatter([x(t) for t in pts], [t.validation["metric"] for t in pts],  # type: ignore[index]
                       zorder=3, **style)
    line = _staircase([t for t in done if t.feasible], x, higher_is_better)
    if len(line) > 1:
        ax.plot([x(t) for t in line], [t.validation["metric"] for t in line],  # type: ignore[index]
                color="#2ca02c", lw=1, alpha=0.6, zorder=2)
    if chosen is not None and chosen.validation is not None:
        ax.scatter([x(chosen)], [chosen.validation["metric"]], s=180, facecolors="none",
                   edgecolors="black", lw=1.5, zorder=4, label="chosen")
        floor = chosen.validation["baseline_metric"] - max_drop
        ax.axhline(floor, color=FAIL_COLOR, ls="--", lw=0.8,
                   label=f"budget floor ({chosen.validation['baseline']} - {max_drop:g})")
    log_axis(ax, "x", [x(t) for t in done])
    named = [t for t in done if (t.number in on_front and t.feasible)
             or (chosen is not None and t.number == chosen.number)]
    place_labels(ax, [(x(t), t.validation["metric"]) for t in named],  # type: ignore[index]
                 [f"#{t.number}" for t in named], colors=["#2ca02c"] * len(named))
    return finish(fig, ax, xlabel=unit, ylabel=f"{metric} on the validation split",
                  title=f"edgekit optimize: {len(done)} scored trials", legend_cols=2)


def _staircase(trials: Sequence[Trial], x: Callable[[Trial], float],
               higher_is_better: bool) -> list[Trial]:
    """The eligible trials no other beats on both axes drawn (the objective down, the metric
    up), left to right: the front's 2-D trace. The front itself is 3-D (metric, latency, size),
    so joining all of it zig-zags on a 2-D plot."""
    sign = 1.0 if higher_is_better else -1.0
    out: list[Trial] = []
    for t in sorted(trials, key=lambda t: (x(t), -sign * t.validation["metric"])):  # type: ignore[index]
        if not out or sign * t.validation["metric"] > sign * out[-1].validation["metric"]:  # type: ignore[index]
            out.append(t)
    return out


def section(chart: str | None, lines: Sequence[str]) -> str:
    """The HTML section added to report.html (before ``</body>``)."""
    body = "".join(f"<li>{html.escape(s)}</li>" for s in lines)
    pic = img(chart, "Pareto front of the search") if chart else ""
    return (f'<section id="optimize"><h2>Search (edgekit optimize)</h2>{pic}<ul>{body}</ul>'
            "<p>Trials were scored on the validation split; only the chosen artifact was "
            "proven on the held-out split (the tables above). Every trial: optimize.json.</p>"
            "</section>")


def add_section(page: str, fragment: str) -> str:
    at = page.rfind("</body>")
    return page[:at] + fragment + page[at:] if at >= 0 else page + fragment
