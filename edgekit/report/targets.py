"""Per-target results (``edgekit validate``) as text lines for the CLI and an HTML section for
report.html. Emulated runs are marked; they carry no timings."""

from __future__ import annotations

import html
from typing import Any

from edgekit.report import charts, units


def row_id(target: str, file: str) -> str:
    """The HTML id of an artifact's row in a target's table (the artifact table links to it)."""
    return f"target-{units.slug(target)}-{units.slug(file)}"


def _fmt(value: float | None, spec: str = ".3g") -> str:
    return "n/a" if value is None else format(value, spec)


def status(a: dict[str, Any]) -> str:
    """An artifact result's verdict in words: skipped, pass, or FAIL with a sentence per check."""
    if "skipped" in a:
        return f"skipped: {a['skipped']}"
    if "timed_out" in a:
        return f"TIMED OUT: {a['timed_out']}"
    if "verdict" in a:  # a sentence per failed check (edgekit.validation.verdict)
        return a["verdict"]["summary"]
    return "pass" if a["passed"] else "FAIL: " + ", ".join(k for k, v in a["checks"].items() if not v)


def with_warnings(a: dict[str, Any]) -> str:
    """The status, then any warning sentence (e.g. compute nodes that fell back to the CPU, an
    int8 file not much smaller than its fp32 sibling)."""
    return "; ".join([status(a), *[f"warning: {w}" for w in a.get("warnings") or []]])


def summary_lines(result: dict[str, Any]) -> list[str]:
    t = result["target"]
    head = f"target {t['name']} ({t['connection']}){' [emulated]' if result['emulated'] else ''}"
    if result.get("hardware"):
        from edgekit.device.hardware import describe

        head += f", ran on {describe(result['hardware'])}"
    sample = result.get("sample")
    if sample and sample.get("sampled"):
        head += f"  sample: {sample['examples']} of {sample['of']} examples (seed {sample['seed']})"
    lines = [head]
    if result.get("reference_sample"):  # under emulation the reference export runs fewer
        lines.append(f"  reference export: {result['reference_sample']['why']}")
    for a in result["artifacts"]:
        if "skipped" in a or "timed_out" in a:
            lines.append(f"  {a['file']:<40} {status(a)}")
            continue
        ci = a.get("metric_drop_ci95")
        drop = (f"  drop vs {a['baseline']} {a['metric_drop']:.4f} (95% CI {ci['low']:.4f} to "
                f"{ci['high']:.4f})" if ci else "")
        lines.append(f"  {a['file']:<40} {a['runtime']:<18} {a['metric']['name']} "
                     f"{a['metric']['value']:.4f}{drop}  agreement {a['agreement']:.4f}  "
                     f"max|Δ| ref {_fmt(a['max_abs_diff'])}  host {_fmt(a['max_abs_diff_vs_host'])}"
                     f" (atol {_fmt(a['host_atol'])})  {status(a)}")
        lines += [f"    warning: {w}" for w in a.get("warnings") or []]
    lines += generation_lines(result.get("generation"))
    timed_out = result.get("timed_out") or []
    lines.append("PASSED" if result["passed"] else
                 f"FAILED ({len(timed_out)} timed out)" if timed_out else "FAILED")
    return lines


def pair_status(p: dict[str, Any]) -> str:
    """A KV-cache pair's generation result in words."""
    if "skipped" in p:
        return f"skipped: {p['skipped']}"
    if "timed_out" in p:
        return f"TIMED OUT: {p['timed_out']}"
    if not p["gated"]:
        return f"not gated ({p['precision']} stored, computed in {p['executed_precision']})"
    return "pass" if p["passed"] else "FAIL: greedy tokens differ from the float model's"


def pair_timings(p: dict[str, Any]) -> dict[str, Any] | None:
    """Device timings, or (under emulation) the emulated ones, which are labelled so."""
    return p.get("emulated_timings") or (p if "first_token_ms" in p else None)


def generation_lines(gen: dict[str, Any] | None) -> list[str]:
    """The KV-cache pairs' generation check on the target (none for other bundles)."""
    if gen is None:
        return []
    if "skipped" in gen:
        return [f"  generation: skipped: {gen['skipped']}"]
    sample = gen["sample"]
    seed = f" (seed {sample['seed']})" if sample["sampled"] else ""
    lines = [f"  generation: {sample['prompts']} of {sample['of']} held-out prompts{seed}, "
             f"{gen['new_tokens']} greedy tokens after {gen['prompt_tokens']}"]
    for p in gen["pairs"]:
        if "skipped" in p or "timed_out" in p:
            lines.append(f"  {p['folder']:<40} {pair_status(p)}")
            continue
        t = pair_timings(p) or {}
        label = " [emulated, not device timings]" if "emulated_timings" in p else ""
        lines.append(
            f"  {p['folder']:<40} {p['runtime']:<18} greedy = float model's on "
            f"{p['greedy_match']:.0%} of prompts (compress: {_fmt(p.get('host_greedy_match'), '.0%')}"
            f" of {sample['of']})  "
            f"first token p50 {t['first_token_ms']['p50']:.3g} ms  decode p50/p90/p99 "
            f"{t['decode_ms']['p50']:.3g}/{t['decode_ms']['p90']:.3g}/{t['decode_ms']['p99']:.3g}"
            f" ms  {t['tokens_per_s']:.0f} tokens/s{label}  {pair_status(p)}")
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
    colour = target, marker = format; numbered as the profile table's rows."""
    plt = charts.pyplot()
    sizes = {a["file"]: a["size_bytes"] for a in report["artifacts"]}
    fmt_of = {a["file"]: a["format"] for a in report["artifacts"]}
    targets = sorted({p["target"] for p in profiles})
    colors = {t: plt.get_cmap("tab10")(i % 10) for i, t in enumerate(targets)}
    scale = 900 / max([*sizes.values(), 1])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    points, labels, radii = [], [], []
    for i, p in enumerate(profiles, 1):
        file, p50 = p.get("bundle_file", ""), p["measured"]["latency_ms"]["p50"]
        metric = _metric_on(report, p["target"], file)
        if metric is None:
            continue
        area = max(25.0, sizes.get(file, 0) * scale)
        ax.scatter(p50, metric, s=area, color=colors[p["target"]],
                   marker=charts.FORMAT_MARKERS.get(fmt_of.get(file, ""), "D"), alpha=0.6,
                   edgecolors="black", linewidths=0.5, zorder=3)
        points.append((p50, metric))
        labels.append(str(i))
        radii.append(area ** 0.5 / 2)
    for t in targets:
        ax.scatter([], [], color=colors[t], label=t)
    for fmt in sorted({fmt_of.get(p.get("bundle_file", ""), "") for p in profiles} - {""}):
        ax.scatter([], [], color="white", edgecolors="black", label=fmt,
                   marker=charts.FORMAT_MARKERS.get(fmt, "D"))
    if points:
        charts.log_axis(ax, "x", [x for x, _ in points])
        values = [y for _, y in points]
        pad = (max(values) - min(values)) * 0.15 or 0.01
        ax.set_ylim(min(values) - pad, max(values) + pad)
        ax.set_xlim(*(f([x for x, _ in points]) for f in (lambda v: min(v) / 1.6,
                                                             lambda v: max(v) * 1.6)))
        charts.place_labels(ax, points, labels, colors=["black"] * len(points), radii=radii)
    return charts.finish(fig, ax, legend_cols=3,
                         xlabel="measured p50 latency on the target (ms, log scale)",
                         ylabel=f"{report['reference']['metric']} on held-out split",
                         title="Metric vs latency across targets: numbers as in the profile table")


def _plots(report: dict[str, Any]) -> str:
    profiles = _measured(report)
    if not profiles:
        return ""
    rows = [{"label": f"{p['target']}: {p.get('bundle_file', p['artifact']).rsplit('/', 1)[-1]}",
             "latency_ms": p["measured"]["latency_ms"]} for p in profiles]
    return ("<h3>Across targets</h3>"
            + charts.img(tradeoff_across_targets(report, profiles),
                         "metric vs latency vs size across targets")
            + "<h3>Latency distribution per target</h3>"
            + charts.img(charts.latency_chart(rows), "latency percentiles per target"))


def _profile_row(index: int, p: dict[str, Any]) -> str:
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
             f"{_fmt(est.get('latency_ms'))} (estimate)",
             "; ".join([kind, *[f"warning: {w}" for w in p.get("warnings") or []]])]
    return f"<tr><td>{index}</td>" + "".join(f"<td>{esc(str(c))}</td>" for c in cells) + "</tr>"


def _profiles(profiles: list[dict[str, Any]]) -> str:
    if not profiles:
        return ""
    head = ("target", "artifact", "runtime", "threads / batch", "p50 ms", "p90 ms", "p99 ms",
            "per s", "load ms", "peak RSS MB", "GFLOP/s (of peak)", "roofline ms", "figures")
    return ("<h2 id='profiles'>Profiles</h2><p><code>edgekit profile</code> runs of this bundle's "
            "artifacts. Roofline figures are estimates from the graph's FLOPs and bytes and the "
            "device profile's peaks, never measurements.</p><div class='scroll'><table><tr><th>#</th>"
            + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
            + "".join(_profile_row(i, p) for i, p in enumerate(profiles, 1)) + "</table></div>")


def _validations(on_target: dict[str, dict[str, Any]]) -> str:
    if not on_target:
        return ""
    from edgekit.device.hardware import describe

    esc = html.escape
    parts = ["<h2 id='on-target'>On target</h2><p>Each artifact re-run on the device's runtime over the "
             "bundle's held-out data (<code>edgekit validate</code>). 'vs host' is the max |Δ| "
             "against the same artifact run on the machine that built the bundle.</p>"]
    for name, res in on_target.items():
        t = res["target"]
        label = " (emulated: outputs only, timings are not device timings)" if res["emulated"] else ""
        sample = res.get("sample") or {}
        if sample.get("sampled"):
            label += (f"; a seeded sample of {sample['examples']} of {sample['of']} held-out "
                      f"examples (seed {sample['seed']})")
        if res.get("reference_sample"):
            label += f"; the reference export on {res['reference_sample']['examples']} of them"
        rows = "".join(
            f"<tr id='{row_id(name, a['file'])}' class='{'pass' if a.get('passed') else 'fail'}'>"
            f"<td class='l'><a href='{esc(a['file'], quote=True)}'>{esc(a['file'])}</a></td>"
            f"<td>{esc(a.get('runtime', '-'))}</td><td>{esc(a.get('machine') or '-')}</td>"
            f"<td>{_fmt(a.get('metric', {}).get('value'), '.4f')}</td>"
            f"<td>{_fmt(a.get('agreement'), '.4f')}</td><td>{_fmt(a.get('max_abs_diff'))}</td>"
            f"<td>{_fmt(a.get('max_abs_diff_vs_host'))}</td><td class='l v'>{esc(with_warnings(a))}</td></tr>"
            for a in res["artifacts"])
        machine = f"; ran on {esc(describe(res['hardware']))}" if res.get("hardware") else ""
        parts.append(f"<h3 id='target-{units.slug(name)}'>{esc(name)}: "
                     f"{esc(t.get('description', ''))}{esc(label)}{machine}</h3>"
                     "<div class='scroll'><table><tr><th>file</th><th>runtime</th><th>machine</th><th>metric</th>"
                     "<th>agreement</th><th>max |Δ| vs ref</th><th>max |Δ| vs host</th>"
                     f"<th>result</th></tr>{rows}</table></div>" + _generation(res.get("generation")))
    return "".join(parts)


def _generation(gen: dict[str, Any] | None) -> str:
    """A target's table of KV-cache pairs generating there ('' for bundles without pairs)."""
    if gen is None:
        return ""
    esc = html.escape
    if "skipped" in gen:
        return f"<p>Generation: skipped: {esc(gen['skipped'])}</p>"
    rows = []
    for p in gen["pairs"]:
        t = pair_timings(p) or {}
        first, decode = t.get("first_token_ms") or {}, t.get("decode_ms") or {}
        rows.append(f"<tr class='{'fail' if p.get('passed') is False else 'pass'}'>"
                    f"<td class='l'>{esc(p['folder'])}</td><td>{esc(p.get('runtime', '-'))}</td>"
                    f"<td>{_fmt(p.get('greedy_match'), '.0%')}</td>"
                    f"<td>{_fmt(first.get('p50'))}</td><td>{_fmt(decode.get('p50'))}</td>"
                    f"<td>{_fmt(decode.get('p99'))}</td><td>{_fmt(t.get('tokens_per_s'), '.0f')}</td>"
                    f"<td class='l v'>{esc(pair_status(p))}</td></tr>")
    sample = gen["sample"]
    emulated = any("emulated_timings" in p for p in gen["pairs"])
    return (f"<p>Generation over the KV-cache pairs: {sample['prompts']} of {sample['of']} "
            f"held-out prompts, {gen['new_tokens']} greedy tokens each, against the float "
            f"model's{' (timings emulated, not device timings)' if emulated else ''}.</p>"
            "<div class='scroll'><table><tr><th>pair</th><th>runtime</th><th>greedy = float</th>"
            "<th>first token p50 ms</th><th>decode p50 ms</th><th>decode p99 ms</th>"
            f"<th>tokens/s</th><th>result</th></tr>{''.join(rows)}</table></div>")
