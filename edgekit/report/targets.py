"""Per-target results (``edgekit validate``) as text lines for the CLI and an HTML section for
report.html. Emulated runs are marked; they carry no timings."""

from __future__ import annotations

import html
from typing import Any


def _fmt(value: float | None, spec: str = ".3g") -> str:
    return "n/a" if value is None else format(value, spec)


def _status(a: dict[str, Any]) -> str:
    if "skipped" in a:
        return f"skipped: {a['skipped']}"
    if "timed_out" in a:
        return f"TIMED OUT: {a['timed_out']}"
    if "verdict" in a:  # a sentence per failed check (edgekit.validation.verdict)
        return a["verdict"]["summary"]
    return "pass" if a["passed"] else "FAIL: " + ", ".join(k for k, v in a["checks"].items() if not v)


def summary_lines(result: dict[str, Any]) -> list[str]:
    t = result["target"]
    head = f"target {t['name']} ({t['connection']}){' [emulated]' if result['emulated'] else ''}"
    if result.get("hardware"):
        from edgekit.hardware import describe

        head += f", ran on {describe(result['hardware'])}"
    sample = result.get("sample")
    if sample and sample.get("sampled"):
        head += f"  sample: {sample['examples']} of {sample['of']} examples (seed {sample['seed']})"
    lines = [head]
    for a in result["artifacts"]:
        if "skipped" in a or "timed_out" in a:
            lines.append(f"  {a['file']:<40} {_status(a)}")
            continue
        ci = a.get("metric_drop_ci95")
        drop = (f"  drop vs {a['baseline']} {a['metric_drop']:.4f} (95% CI {ci['low']:.4f} to "
                f"{ci['high']:.4f})" if ci else "")
        lines.append(f"  {a['file']:<40} {a['runtime']:<18} {a['metric']['name']} "
                     f"{a['metric']['value']:.4f}{drop}  agreement {a['agreement']:.4f}  "
                     f"max|Δ| ref {_fmt(a['max_abs_diff'])}  host {_fmt(a['max_abs_diff_vs_host'])}"
                     f" (atol {_fmt(a['host_atol'])})  {_status(a)}")
    timed_out = result.get("timed_out") or []
    lines.append("PASSED" if result["passed"] else
                 f"FAILED ({len(timed_out)} timed out)" if timed_out else "FAILED")
    return lines


def section(report: dict[str, Any]) -> str:
    """The report.html sections: one table per validated target, then one line per profile
    and the plots across targets ('' when there is neither)."""
    return (_validations(report.get("on_target", {})) + _profiles(report.get("profiles", []))
            + _plots(report))


def _measured(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Profiles with device timings (emulated and estimate-only ones are never plotted)."""
    return [p for p in report.get("profiles", []) if (p.get("measured") or {}).get("latency_ms")]


def _metric_on(report: dict[str, Any], target: str, file: str) -> float | None:
    """The artifact's metric as validated on that target, else as proven when built."""
    for a in report.get("on_target", {}).get(target, {}).get("artifacts", []):
        if a["file"] == file and "metric" in a:
            return a["metric"]["value"]
    return next((a["metric"]["value"] for a in report["artifacts"] if a["file"] == file), None)


def tradeoff_across_targets(report: dict[str, Any], profiles: list[dict[str, Any]]) -> str:
    """Metric vs measured p50 for every profiled (artifact, target); marker area ∝ file size,
    colour = target, marker = format."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgekit.report.html import finish_scatter

    sizes = {a["file"]: a["size_bytes"] for a in report["artifacts"]}
    fmt_of = {a["file"]: a["format"] for a in report["artifacts"]}
    targets = sorted({p["target"] for p in profiles})
    colors = {t: plt.get_cmap("tab10")(i % 10) for i, t in enumerate(targets)}
    markers = {"tflite": "o", "onnx": "s", "openvino": "^"}
    scale = 900 / max([*sizes.values(), 1])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for p in profiles:
        file, p50 = p.get("bundle_file", ""), p["measured"]["latency_ms"]["p50"]
        metric = _metric_on(report, p["target"], file)
        if metric is None:
            continue
        ax.scatter(p50, metric, s=max(20, sizes.get(file, 0) * scale), color=colors[p["target"]],
                   marker=markers.get(fmt_of.get(file, ""), "D"), alpha=0.6, edgecolors="black",
                   linewidths=0.5)
        ax.annotate(file.rsplit("/", 1)[-1], (p50, metric), fontsize=6, xytext=(4, 4),
                    textcoords="offset points")
    for t in targets:
        ax.scatter([], [], color=colors[t], label=t)
    ax.set_xscale("log")
    return finish_scatter(fig, ax, xlabel="measured p50 latency on the target (ms, log scale)",
                          ylabel=f"{report['reference']['metric']} on held-out split",
                          title="Accuracy vs latency vs size across targets (marker area ∝ file size)")


def _plots(report: dict[str, Any]) -> str:
    from edgekit.report.html import latency_chart

    profiles = _measured(report)
    if not profiles:
        return ""
    per_target = {"artifacts": [{"file": f"{p['target']}: {p.get('bundle_file', p['artifact'])}",
                                 "latency_ms": p["measured"]["latency_ms"]} for p in profiles]}
    return ("<h3>Across targets</h3><img alt='accuracy vs latency vs size across targets' "
            f"src='data:image/png;base64,{tradeoff_across_targets(report, profiles)}'>"
            "<h3>Latency distribution per target</h3><img alt='latency percentiles per target' "
            f"src='data:image/png;base64,{latency_chart(per_target)}'>")


def _profile_row(p: dict[str, Any]) -> str:
    esc = html.escape
    kind, figures = "measured", p.get("measured")
    if figures is None and p.get("emulated"):
        kind, figures = "emulated: NOT device timings", p["emulated"]
    figures = figures or {}
    lat = figures.get("latency_ms", {})
    est = p.get("estimate") or {}
    if not figures:
        kind = f"estimate only ({p.get('unavailable', 'not measured')})"
    cells = [p.get("target", "-"), p.get("bundle_file", p.get("artifact", "-")), p.get("runtime", "-"),
             f"{p.get('threads', '-')} / {p.get('batch', '-')}", _fmt(lat.get("p50")),
             _fmt(lat.get("p90")), _fmt(lat.get("p99")), _fmt(figures.get("throughput_per_s")),
             _fmt(figures.get("load_ms")), _fmt(figures.get("peak_rss_mb")),
             f"{_fmt(figures.get('achieved_gflops'))} ({_fmt(figures.get('fraction_of_peak'), '.2%')})",
             f"{_fmt(est.get('latency_ms'))} (estimate)", kind]
    return "<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in cells) + "</tr>"


def _profiles(profiles: list[dict[str, Any]]) -> str:
    if not profiles:
        return ""
    head = ("target", "artifact", "runtime", "threads / batch", "p50 ms", "p90 ms", "p99 ms",
            "per s", "load ms", "peak RSS MB", "GFLOP/s (of peak)", "roofline ms", "figures")
    return ("<h2>Profiles</h2><p><code>edgekit profile</code> runs of this bundle's artifacts. "
            "Roofline figures are estimates from the graph's FLOPs and bytes and the device "
            "profile's peaks, never measurements.</p><table><tr>"
            + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
            + "".join(_profile_row(p) for p in profiles) + "</table>")


def _validations(on_target: dict[str, dict[str, Any]]) -> str:
    if not on_target:
        return ""
    esc = html.escape
    parts = ["<h2>On target</h2><p>Each artifact re-run on the device's runtime over the "
             "bundle's held-out data (<code>edgekit validate</code>). 'vs host' is the max |Δ| "
             "against the same artifact run on the machine that built the bundle.</p>"]
    for name, res in on_target.items():
        t = res["target"]
        label = " (emulated: outputs only, timings are not device timings)" if res["emulated"] else ""
        sample = res.get("sample") or {}
        if sample.get("sampled"):
            label += (f"; a seeded sample of {sample['examples']} of {sample['of']} held-out "
                      f"examples (seed {sample['seed']})")
        rows = "".join(
            f"<tr class='{'pass' if a.get('passed') else 'fail'}'><td>{esc(a['file'])}</td>"
            f"<td>{esc(a.get('runtime', '-'))}</td><td>{esc(a.get('machine') or '-')}</td>"
            f"<td>{_fmt(a.get('metric', {}).get('value'), '.4f')}</td>"
            f"<td>{_fmt(a.get('agreement'), '.4f')}</td><td>{_fmt(a.get('max_abs_diff'))}</td>"
            f"<td>{_fmt(a.get('max_abs_diff_vs_host'))}</td><td>{esc(_status(a))}</td></tr>"
            for a in res["artifacts"])
        parts.append(f"<h3>{esc(name)}: {esc(t.get('description', ''))}{esc(label)}</h3>"
                     "<table><tr><th>file</th><th>runtime</th><th>machine</th><th>metric</th>"
                     "<th>agreement</th><th>max |Δ| vs ref</th><th>max |Δ| vs host</th>"
                     f"<th>result</th></tr>{rows}</table>")
    return "".join(parts)
