"""The report's charts, rendered with matplotlib to PNG and inlined as base64, so report.html is
one file that opens anywhere, offline, without JavaScript.

Both the bundle's own sections (:mod:`edgekit.report.html`) and the per-target sections
(:mod:`edgekit.report.targets`) draw with these helpers; neither imports the other.

Why the charts look the way they do:

- **Latency on a log axis.** A bundle often holds one slow artifact (a teacher kept for the
  side-by-side) next to students ten times faster; on a linear axis the students collapse into
  the leftmost few percent.
- **Numbered markers, not names.** Names printed beside markers overlap as soon as two artifacts
  run equally fast; a short number placed where it overlaps nothing, keyed to the artifact
  table's ``#`` column and to the key under the chart, stays readable for 3 or 15 artifacts.
- **Each artifact's own budget.** Artifacts are judged against their baseline (the reference, or
  ``budgets.baseline`` such as a distilled student); the chart draws that baseline and its
  budget floor across the artifacts judged against it, with the 95% interval of the metric
  drop as an error bar, so what passes is visibly inside its budget.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from typing import Any

from edgekit.report import units

FORMAT_COLORS = {"tflite": "#1f77b4", "onnx": "#ff7f0e", "openvino": "#2ca02c"}
FORMAT_MARKERS = {"tflite": "o", "onnx": "s", "openvino": "^"}
FAIL_COLOR = "#c62828"
FONT_SIZE = 9  # the charts are drawn ~7 inches wide; a phone shows them at about half size


def pyplot() -> Any:
    """matplotlib's pyplot on the non-interactive backend (reports are written headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig: Any) -> str:
    """The figure as base64 PNG; closes it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def img(data: str, alt: str) -> str:
    """An inline ``<img>`` that scales down to the screen (the page's ``img.chart`` style)."""
    return f'<img class="chart" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def metric_range(a: dict[str, Any], higher_is_better: bool) -> tuple[float, float] | None:
    """The artifact's metric range implied by the 95% interval of its drop vs its baseline."""
    ci = (a.get("baseline") or {}).get("metric_drop_ci95")
    if not ci:
        return None
    base = a["baseline"]["metric"]
    return ((base - ci["high"], base - ci["low"]) if higher_is_better
            else (base + ci["low"], base + ci["high"]))


def budget_of(a: dict[str, Any], report: dict[str, Any]) -> float:
    """The metric-drop limit the artifact was judged against (its verdict's, else the recipe's)."""
    for check in (a.get("verdict") or {}).get("checks", []):
        if check["name"] == "metric_drop":
            return float(check["limit"])
    return float((report.get("budgets") or report["resolved_recipe"]["budgets"])["max_metric_drop"])


def log_axis(ax: Any, axis: str, values: Sequence[float]) -> None:
    """A log axis labelled in plain numbers (0.03, 0.1, 2), minor ticks too when the data
    spans less than a decade, so even a narrow range has readable ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    positive = [v for v in values if v > 0]
    getattr(ax, f"set_{axis}scale")("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    target.set_major_formatter(plain)
    narrow = bool(positive) and max(positive) / min(positive) < 20
    target.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0) if narrow else (), numticks=12))
    target.set_minor_formatter(plain if narrow else NullFormatter())


def place_labels(ax: Any, points: Sequence[tuple[float, float]], labels: Sequence[str], *,
                 colors: Sequence[str], radii: Sequence[float] | None = None,
                 fontsize: float = FONT_SIZE) -> None:
    """Annotate each point with its label where it covers no other label or marker: candidate
    spots just outside the marker (``radii`` in points), then in growing rings, with a thin
    leader line once a label moves away. Call after the axes' limits and scales are final."""
    fig = ax.figure
    fig.canvas.draw()  # fixes limits and transforms
    to_pt = 72.0 / fig.dpi
    frame = ax.get_window_extent()
    frame = (frame.x0 * to_pt, frame.y0 * to_pt, frame.x1 * to_pt, frame.y1 * to_pt)
    spots = [tuple(p * to_pt for p in ax.transData.transform(xy)) for xy in points]
    radii = list(radii) if radii is not None else [3.0] * len(spots)
    markers = [(x - r, y - r, x + r, y + r) for (x, y), r in zip(spots, radii)]
    directions = ((1, 0), (1, 0.8), (1, -0.8), (-1, 0), (-1, 0.8), (-1, -0.8), (0, 1), (0, -1))
    placed: list[tuple[float, float, float, float]] = []

    def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
        w = min(a[2], b[2]) - max(a[0], b[0])
        h = min(a[3], b[3]) - max(a[1], b[1])
        return w * h if w > 0 and h > 0 else 0.0

    for k, ((px, py), text, color) in enumerate(zip(spots, labels, colors)):
        w, h, r = 0.62 * fontsize * len(text) + 2, 1.1 * fontsize, radii[k]
        best, best_ring, best_cost = (r + w / 2 + 2, 0.0), 0, math.inf
        for ring in (0, 1, 2, 3, 4):
            for dx, dy in directions:
                ox = dx * (r * (0.75 if dy else 1) + w / 2 + 2 + 10 * ring)
                oy = dy * (r * (0.75 if dx else 1) + h / 2 + 1 + 8 * ring)
                b = (px + ox - w / 2, py + oy - h / 2, px + ox + w / 2, py + oy + h / 2)
                cost = 3 * sum(overlap(b, p) for p in placed)
                cost += sum(overlap(b, m) for j, m in enumerate(markers) if j != k)
                cost += 50 * (max(0.0, frame[0] - b[0]) + max(0.0, b[2] - frame[2])
                              + max(0.0, frame[1] - b[1]) + max(0.0, b[3] - frame[3]))
                cost += 0.02 * (ox * ox + oy * oy)  # among free spots, the nearest
                if cost < best_cost:
                    best, best_ring, best_cost = (ox, oy), ring, cost
        placed.append((px + best[0] - w / 2, py + best[1] - h / 2,
                       px + best[0] + w / 2, py + best[1] + h / 2))
        far = best_ring > 0  # moved off its marker: a leader line says whose it is
        ax.annotate(text, points[k], xytext=best, textcoords="offset points", ha="center",
                    va="center", fontsize=fontsize, color=color, fontweight="bold", zorder=5,
                    arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "#555"} if far else None)


def finish(fig: Any, ax: Any, *, xlabel: str, ylabel: str, title: str,
           legend_cols: int = 1) -> str:
    """The shared tail of every chart: :func:`decorate`, then PNG."""
    decorate(fig, ax, xlabel=xlabel, ylabel=ylabel, title=title, legend_cols=legend_cols)
    return png(fig)


def decorate(fig: Any, ax: Any, *, xlabel: str, ylabel: str, title: str,
             legend_cols: int = 1) -> None:
    """Axis labels, title, a legend below the axes (never over the data), grid."""
    ax.set_xlabel(xlabel, fontsize=FONT_SIZE)
    ax.set_ylabel(ylabel, fontsize=FONT_SIZE)
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    ax.tick_params(labelsize=FONT_SIZE - 1, which="both")
    if ax.get_legend_handles_labels()[0]:
        # below the x label whatever the axes' height: a fixed 0.5 inch under the axes
        below = 0.5 / (fig.get_figheight() * ax.get_position().height)
        ax.legend(fontsize=FONT_SIZE - 1, loc="upper center", bbox_to_anchor=(0.5, -below),
                  ncol=legend_cols, frameon=False)
    ax.grid(alpha=0.3, which="major")
    ax.grid(alpha=0.12, which="minor")


def _span(xs: Sequence[float], pad: float = 1.3) -> tuple[float, float]:
    return min(xs) / pad, max(xs) * pad


def tradeoff_chart(report: dict[str, Any]) -> str:
    """Metric vs p50 latency (log), one numbered marker per artifact (area ∝ file size, colour =
    format, red ring = failed), its drop interval as an error bar, and per baseline its value
    and budget floor across the artifacts judged against it."""
    return png(tradeoff_figure(report))


def tradeoff_figure(report: dict[str, Any]) -> Any:
    """The figure :func:`tradeoff_chart` encodes (kept open, for tests to measure)."""
    plt = pyplot()
    share = units.metric_is_share(report)
    arts = report["artifacts"]
    ref = report["reference"]
    higher = ref.get("higher_is_better", True)
    fig, ax = plt.subplots(figsize=(7, 4.6))
    scale = 700 / max([a["size_bytes"] for a in arts] or [1])
    xs = [a["latency_ms"]["p50"] for a in arts]
    ys: list[float] = [ref["value"]]

    fails: list[tuple[float, float, float]] = []  # (x from, x to, budget floor) per baseline
    groups: dict[str, list[dict[str, Any]]] = {}
    for a in arts:
        groups.setdefault((a.get("baseline") or {}).get("model", "reference"), []).append(a)
    for name, members in groups.items():
        base = (members[0].get("baseline") or {}).get("metric", ref["value"])
        limit = budget_of(members[0], report)
        floor = base - limit if higher else base + limit
        x0, x1 = _span([a["latency_ms"]["p50"] for a in members])
        ax.hlines(base, x0, x1, colors="#444", linestyles="--", lw=1)
        ax.hlines(floor, x0, x1, colors=FAIL_COLOR, linestyles="-", lw=1.2)
        fails.append((x0, x1, floor))
        ax.annotate(f"{name} {base:.4f}", (x0, base), xytext=(2, 3), textcoords="offset points",
                    fontsize=FONT_SIZE - 2, color="#444")
        amount = f"{limit * 100:g} pt{'' if round(limit * 100, 9) == 1 else 's'}" if share else f"{limit:g}"
        ax.annotate(f"budget: {amount} {'below' if higher else 'above'}", (x0, floor), xytext=(2, -9),
                    textcoords="offset points", fontsize=FONT_SIZE - 2, color=FAIL_COLOR)
        ys += [base, floor]
    if set(groups) != {"reference"}:
        ax.axhline(ref["value"], color="#999", ls=":", lw=1, label=f"reference {ref['value']:.4f}")
    ratio = (report.get("budgets") or {}).get("min_reference_ratio")
    if ratio:
        line = ref["value"] * ratio if higher else ref["value"] / ratio
        ax.axhline(line, color=FAIL_COLOR, ls="-.", lw=0.8, alpha=0.7,
                   label=f"{ratio:g} × reference (min_reference_ratio)")
        ys.append(line)

    areas = [max(25.0, a["size_bytes"] * scale) for a in arts]  # pt², as scatter's s
    for a, area in zip(arts, areas):
        x, y = a["latency_ms"]["p50"], a["metric"]["value"]
        ys.append(y)
        ax.scatter(x, y, s=area, color=FORMAT_COLORS.get(a["format"], "gray"),
                   marker=FORMAT_MARKERS.get(a["format"], "D"), alpha=0.55, zorder=3,
                   edgecolors=FAIL_COLOR if not a["passed"] else "black",
                   linewidths=2 if not a["passed"] else 0.5)
        bar = metric_range(a, higher)
        if bar is not None:
            ys += list(bar)
            ax.errorbar(x, y, yerr=[[max(0.0, y - bar[0])], [max(0.0, bar[1] - y)]],
                        color="black", lw=0.9, capsize=3, zorder=4)
    low, high = min(ys), max(ys)
    pad = (high - low) * 0.12 or abs(high) * 0.01 or 0.01
    ax.set_ylim(low - pad, high + pad)
    for x0, x1, floor in fails:  # shade where an artifact of that baseline would fail
        ax.fill_between([x0, x1], floor, low - pad if higher else high + pad,
                        color=FAIL_COLOR, alpha=0.07, lw=0)
    log_axis(ax, "x", xs)
    x0, x1 = _span(xs, 1.6)
    ax.set_xlim(x0, x1)
    place_labels(ax, [(a["latency_ms"]["p50"], a["metric"]["value"]) for a in arts],
                 [str(i) for i in range(1, len(arts) + 1)],
                 colors=["black" if a["passed"] else FAIL_COLOR for a in arts],
                 radii=[math.sqrt(area) / 2 for area in areas])
    for fmt in sorted({a["format"] for a in arts}):
        ax.scatter([], [], color=FORMAT_COLORS.get(fmt, "gray"), marker=FORMAT_MARKERS.get(fmt, "D"),
                   alpha=0.55, edgecolors="black", linewidths=0.5, label=fmt)
    ax.plot([], [], color="#444", ls="--", lw=1, label="baseline it is judged against")
    ax.plot([], [], color=FAIL_COLOR, lw=1.2,
            label=f"budget limit ({'below' if higher else 'above'} fails)")
    ax.errorbar([], [], yerr=[], color="black", lw=0.9, capsize=3, label="95% interval")
    if not all(a["passed"] for a in arts):
        ax.scatter([], [], facecolors="none", edgecolors=FAIL_COLOR, linewidths=2, label="failed")
    threads = arts[0]["latency_ms"].get("threads", "?") if arts else "?"
    decorate(fig, ax, legend_cols=3,
             xlabel=f"p50 latency, batch 1, {threads} threads (ms, log scale)",
             ylabel=f"{ref['metric']} on the held-out split",
             title="Metric vs latency: numbers as in the table; marker area ∝ file size")
    return fig


def latency_chart(rows: Sequence[dict[str, Any]], *, label_key: str = "label") -> str:
    """p50, p90 and p99 per row on a log axis: a line from p50 to p99, a tick at p90. Each row
    is ``{label_key: str, "latency_ms": {...}}``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.34 * len(rows) + 1.3))
    for y, r in enumerate(rows):
        lat = r["latency_ms"]
        ax.hlines(y, lat["p50"], lat["p99"], color="#999", lw=2, zorder=1)
        ax.scatter(lat["p50"], y, color="#1f77b4", s=30, zorder=3, label="p50" if y == 0 else None)
        ax.scatter(lat["p90"], y, color="#ff9896", marker="|", s=120, lw=2, zorder=2,
                   label="p90" if y == 0 else None)
        ax.scatter(lat["p99"], y, color="#d62728", marker="D", s=18, zorder=2,
                   label="p99" if y == 0 else None)
    ax.set_yticks(range(len(rows)), [r[label_key] for r in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    values = [r["latency_ms"][k] for r in rows for k in ("p50", "p99")]
    log_axis(ax, "x", values)
    if values:
        ax.set_xlim(*_span(values, 1.25))
    return finish(fig, ax, legend_cols=3, xlabel="latency (ms, log scale)", ylabel="",
                  title="Latency percentiles, batch 1")


def loss_chart(history: dict[str, dict[str, list[float]]], title: str) -> str | None:
    """Per-epoch losses, one panel per phase (e.g. TinyBERT's intermediate and prediction
    distillation); None when no series has two epochs to draw a line between."""
    phases = {p: {k: v for k, v in series.items() if len(v) >= 2}
              for p, series in history.items()}
    phases = {p: s for p, s in phases.items() if s}
    if not phases:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(phases), figsize=(3.4 * len(phases) + 0.4, 2.6), squeeze=False)
    for ax, (phase, series) in zip(axes[0], phases.items()):
        for name, values in series.items():
            ax.plot(range(1, len(values) + 1), values, marker="o", ms=3, lw=1.2, label=name)
        ax.set_title(phase, fontsize=FONT_SIZE)
        ax.set_xlabel("epoch", fontsize=FONT_SIZE - 1)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.tick_params(labelsize=FONT_SIZE - 2)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=FONT_SIZE - 2)
    fig.suptitle(title, fontsize=FONT_SIZE + 1)
    fig.tight_layout()
    return png(fig)
