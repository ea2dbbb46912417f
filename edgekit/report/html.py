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
        ylabel=f"{ref['metric']} on held-out split", title="Accuracy vs latency (marker area ∝ file size)")


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
            "<td>{size:,}</td><td>{metric:.4f}</td><td>{agree:.4f}</td><td>{diff:.3g}</td>"
            "<td>{p50:.3f}</td><td>{p90:.3f}</td><td>{p99:.3f}</td><td>{ok}</td></tr>".format(
                cls="pass" if a["passed"] else "fail", file=esc(a["file"]), fmt=esc(a["format"]),
                prec=esc(a["precision"]), rt=esc(a["runtime"]), size=a["size_bytes"],
                metric=a["metric"]["value"], agree=a["agreement"], diff=a["max_abs_diff"],
                p50=lat["p50"], p90=lat["p90"], p99=lat["p99"],
                ok=("pass" if a["passed"] else "FAIL: " + ", ".join(
                    k for k, v in a["checks"].items() if not v))
                + "".join(f"; warning: {esc(w)}" for w in a.get("warnings", []))))
    stages = "".join(f"<li><b>{esc(s['name'])}</b>: {esc(str(s['facts']))}; {esc(ref['metric'])} "
                     f"{s['metric']:.4f}</li>" for s in report["stages"])
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>edgekit report: {esc(report['recipe'])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:first-child{{text-align:left}}tr.fail{{background:#fde2e2}}tr.pass{{background:#e6f4e6}}</style></head><body>
<h1>edgekit: {esc(report['recipe'])}</h1>
<p>{esc(report['resolved_recipe'].get('description', ''))}</p>
<p>Created {esc(report['created'])} by edgekit {esc(report['edgekit_version'])} on target
<b>{esc(report['target']['name'])}</b>. Overall: <b>{'PASSED' if report['passed'] else 'FAILED'}</b>.</p>
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
