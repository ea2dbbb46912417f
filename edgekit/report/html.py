"""The human report: the artifact table and an accuracy / latency / size chart, one HTML file
with the plots embedded as PNG so it opens anywhere without a server."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

_FORMAT_COLORS = {"tflite": "#1f77b4", "onnx": "#ff7f0e", "openvino": "#2ca02c"}


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def finish_scatter(fig: Any, ax: Any, *, xlabel: str, ylabel: str, title: str) -> str:
    """The shared tail of the accuracy-vs-latency charts (per bundle, across targets)."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    out = _png(fig)
    plt.close(fig)
    return out


def _metric_range(a: dict[str, Any], higher_is_better: bool) -> tuple[float, float] | None:
    """The artifact's metric range implied by the 95% interval of its drop vs its baseline."""
    ci = (a.get("baseline") or {}).get("metric_drop_ci95")
    if not ci:
        return None
    base = a["baseline"]["metric"]
    return ((base - ci["high"], base - ci["low"]) if higher_is_better
            else (base + ci["low"], base + ci["high"]))


def _drop_ci(a: dict[str, Any]) -> str:
    """' (drop 95% CI lo to hi)' for the artifact table, '' for bundles without intervals."""
    ci = (a.get("baseline") or {}).get("metric_drop_ci95")
    return f"<br><small>drop CI {ci['low']:.4f} to {ci['high']:.4f}</small>" if ci else ""


def tradeoff_chart(report: dict[str, Any]) -> str:
    """Metric vs p50 latency; marker area proportional to artifact size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arts = report["artifacts"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sizes = [a["size_bytes"] for a in arts] or [1]
    scale = 900 / max(sizes)
    for a in arts:
        ax.scatter(a["latency_ms"]["p50"], a["metric"]["value"], s=max(20, a["size_bytes"] * scale),
                   color=_FORMAT_COLORS.get(a["format"], "gray"), alpha=0.6,
                   edgecolors="black", linewidths=0.5)
        bar = _metric_range(a, report["reference"].get("higher_is_better", True))
        if bar is not None:  # the 95% interval of the drop, read as a range of the metric
            value = a["metric"]["value"]
            ax.errorbar(a["latency_ms"]["p50"], value, yerr=[[max(0.0, value - bar[0])],
                                                             [max(0.0, bar[1] - value)]],
                        color="black", lw=0.8, capsize=2)
        ax.annotate(f"{a['format']} {a['precision']}", (a["latency_ms"]["p50"], a["metric"]["value"]),
                    fontsize=7, xytext=(4, 4), textcoords="offset points")
    ref = report["reference"]
    ax.axhline(ref["value"], color="gray", ls="--", lw=1, label=f"reference {ref['value']:.4f}")
    ax.axhline(ref["value"] - report["resolved_recipe"]["budgets"]["max_metric_drop"]
               if ref.get("higher_is_better", True) else ref["value"], color="red", ls=":", lw=1,
               label="budget")
    for fmt, color in _FORMAT_COLORS.items():
        ax.scatter([], [], color=color, label=fmt)
    return finish_scatter(
        fig, ax, xlabel=f"p50 latency, batch 1 (ms, {arts[0]['latency_ms']['threads'] if arts else '?'} threads)",
        ylabel=f"{ref['metric']} on held-out split", title="Accuracy vs latency (marker area ∝ file size; bars: 95% interval)")


def latency_chart(report: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arts = report["artifacts"]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(arts) + 1.2))
    labels = [a["file"] for a in arts]
    for key, color in (("p99", "#d62728"), ("p90", "#ff9896"), ("p50", "#1f77b4")):
        ax.barh(labels, [a["latency_ms"][key] for a in arts], color=color, label=key)
    ax.set_xlabel("latency (ms)")
    ax.legend(fontsize=7)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    out = _png(fig)
    plt.close(fig)
    return out


def render(report: dict[str, Any]) -> str:
    from edgekit.report.targets import section as targets_section

    esc = html.escape
    ref = report["reference"]
    rows = []
    for a in report["artifacts"]:
        lat = a["latency_ms"]
        rows.append(
            "<tr class='{cls}'><td>{file}</td><td>{fmt}</td><td>{prec}</td><td>{rt}</td>"
            "<td>{size:,}</td><td>{metric:.4f}{ci}</td><td>{agree:.4f}</td><td>{diff:.3g}</td>"
            "<td>{p50:.3f}</td><td>{p90:.3f}</td><td>{p99:.3f}</td><td>{ok}</td></tr>".format(
                cls="pass" if a["passed"] else "fail", file=esc(a["file"]), fmt=esc(a["format"]),
                prec=esc(a["precision"]), rt=esc(a["runtime"]), size=a["size_bytes"],
                metric=a["metric"]["value"], ci=_drop_ci(a), agree=a["agreement"],
                diff=a["max_abs_diff"],
                p50=lat["p50"], p90=lat["p90"], p99=lat["p99"],
                ok=esc(a["verdict"]["summary"]) if "verdict" in a else "pass" if a["passed"]
                else "FAIL: " + ", ".join(k for k, v in a["checks"].items() if not v)))
    stages = "".join(f"<li><b>{esc(s['name'])}</b>: {esc(str(s['facts']))}; {esc(ref['metric'])} "
                     f"{s['metric']:.4f}</li>" for s in report["stages"])
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>edgekit report: {esc(report['recipe'])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:first-child{{text-align:left}}tr.fail{{background:#fde2e2}}tr.pass{{background:#e6f4e6}}</style></head><body>
<h1>edgekit: {esc(report['recipe'])}</h1>
<p>{esc(report['resolved_recipe'].get('description', ''))}</p>
<p>Created {esc(report['created'])} by edgekit {esc(report['edgekit_version'])}, proven on
<b>{esc(report.get('proved_on') or report['target']['name'])}</b> with the
<b>{esc(report['target']['name'])}</b> profile's settings. Overall: <b>{'PASSED' if report['passed'] else 'FAILED'}</b>.</p>
<p style="color:#666;font-size:12px">{esc(report.get('verdict_rule', ''))}</p>
<h2>Reference (uncompressed, Keras)</h2>
<p>{esc(ref['metric'])} = {ref['value']:.4f} on {report['dataset']['test_examples']} held-out examples of
{esc(report['dataset']['name'])}; {ref['parameters']:,} parameters, {ref['size_bytes']:,} bytes of fp32 weights.</p>
<h2>Compression stages</h2><ul>{stages or '<li>none</li>'}</ul>
<h2>Artifacts, each run on its runtime</h2>
<table><tr><th>file</th><th>format</th><th>precision (ran)</th><th>runtime</th><th>bytes</th>
<th>{esc(ref['metric'])}</th><th>agreement</th><th>max |Δ| vs ref</th><th>p50 ms</th><th>p90 ms</th>
<th>p99 ms</th><th>budget</th></tr>{''.join(rows)}</table>
{targets_section(report)}
<h2>Trade-off</h2><img alt="accuracy vs latency vs size" src="data:image/png;base64,{tradeoff_chart(report)}">
<h2>Latency percentiles</h2><img alt="latency percentiles" src="data:image/png;base64,{latency_chart(report)}">
<p style="color:#666;font-size:12px">Latency: batch 1, after warm-up, threads as stated; a single noisy
machine, so compare artifacts within this run rather than across runs.</p>
</body></html>"""
