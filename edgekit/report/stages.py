"""The compression stages section of report.html: per stage a small table of its facts with
units (parameters, MB, percent) instead of a Python dict, the metric after it, and its
per-epoch losses as a plot where the stage trained for more than one epoch.

Facts are whatever a stage reported (:class:`edgekit.stages.StageResult`); they are rendered
generically from their keys, so a new stage needs no change here: ``*parameters*`` keys read as
parameter counts, ``*_mb`` as MB, ``*_bytes`` as sizes, ``*sparsity*`` as percent, a
``{"before": x, "after": y}`` pair as ``x → y``, and ``loss_history`` (phase → series →
per-epoch values, :func:`edgekit.training.per_epoch`) as a plot.
"""

from __future__ import annotations

import html
from typing import Any

from edgekit.report import charts, units

Row = tuple[str, str]


def _label(key: str) -> str:
    for suffix in ("_mb", "_bytes"):
        key = key.removesuffix(suffix)
    return key.replace("_", " ")


def value_text(key: str, value: Any) -> str:
    """One fact value with the unit its key implies."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if "parameters" in key:
            return f"{units.count(value)} parameters"
        if key.endswith("_mb"):
            return f"{value:,.1f} MB"
        if key.endswith("_bytes"):
            return units.size(value)
        if "sparsity" in key or key.endswith(("_share", "_fraction")):
            return f"{value:.1%}"
        return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        if any(isinstance(v, (list, tuple)) for v in value):  # e.g. kept heads per block
            return "; ".join(f"[{value_text(key, v)}]" for v in value)
        return ", ".join(value_text(key, v) for v in value)
    if isinstance(value, dict):  # only reached for dicts of scalars (see rows)
        if set(value) == {"before", "after"}:
            return f"{value_text(key, value['before'])} → {value_text(key, value['after'])}"
        return ", ".join(f"{_label(k)} {value_text(key if k in ('before', 'after') else k, v)}"
                         for k, v in value.items())
    return str(value)


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict) or all(not isinstance(v, (dict, list)) for v in value.values())


def rows(facts: dict[str, Any], prefix: str = "") -> list[Row]:
    """``(label, text)`` per fact; nested dicts become ``outer · inner`` rows."""
    out: list[Row] = []
    for key, value in facts.items():
        label = f"{prefix}{_label(key)}"
        if key == "loss_history":
            for phase, series in value.items():
                out.append((f"{prefix}losses per epoch · {phase}", "; ".join(
                    f"{_label(name)} {' → '.join(f'{v:.4g}' for v in values)}"
                    for name, values in series.items())))
        elif isinstance(value, dict) and not _scalar(value):
            out += rows(value, f"{label} · ")
        else:
            out.append((label, value_text(key, value)))
    return out


def _settings(config: dict[str, Any]) -> str:
    return ", ".join(f"{_label(k)} {value_text(k, v)}" for k, v in config.items() if v is not None)


def section(report: dict[str, Any]) -> str:
    """``<h2>`` and one table (plus a loss plot where there is one) per stage."""
    esc = html.escape
    ref = report["reference"]
    metric, before = ref["metric"], ref["value"]
    parts = ["<h2 id='stages'>Compression stages</h2>"]
    if not report["stages"]:
        parts.append("<p>None: the artifacts are exports of the trained reference.</p>")
    for i, stage in enumerate(report["stages"], 1):
        table = [("settings", _settings(stage.get("config") or {}) or "defaults"),
                 (f"{metric} after", f"{stage['metric']:.4f} ({stage['metric'] - before:+.4f} "
                                     "vs the model before)"),
                 *rows(stage.get("facts") or {})]
        before = stage["metric"]
        body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in table)
        parts.append(f"<h3 id='stage-{units.slug(stage['name'])}'>{i}. {esc(stage['name'])}</h3>"
                     f"<div class='scroll'><table class='facts'>{body}</table></div>")
        history = (stage.get("facts") or {}).get("loss_history")
        plot = charts.loss_chart(history, f"{stage['name']}: losses per epoch") if history else None
        if plot:
            parts.append(charts.img(plot, f"{stage['name']} losses per epoch"))
    return "".join(parts)
