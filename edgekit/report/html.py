"""The human report: one self-contained HTML file (charts inlined as PNG, no script, no
network) that reads at a glance on a desktop or a phone.

Top to bottom: a headline generated from what ran, the summary (verdict, recommended artifact
per runtime, the machine), the artifact table (each row linked to its file and to its on-target
results), the metric-vs-latency chart with each artifact's own budget, latency percentiles, the
reference, the compression stages, then the per-target sections (:mod:`edgekit.report.targets`).
"""

from __future__ import annotations

import html
from typing import Any

from edgekit.report import charts, stages, summary, targets, units

STYLE = """
body{font-family:system-ui,-apple-system,sans-serif;margin:0 auto;padding:12px 16px;
max-width:1100px;line-height:1.45;color:#222}
h1{font-size:1.5em;margin:.3em 0}h2{font-size:1.25em;margin-top:1.6em}h3{font-size:1.05em}
h1,h2,h3,p,li,td,th,figcaption{overflow-wrap:anywhere}
.headline{font-size:1.05em}
.summary{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:4px 14px}
.summary ul{padding-left:1.2em}.summary li{margin:.35em 0}
.verdict.passed b{color:#1b5e20}.verdict.failed b{color:#c62828}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%}
table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;vertical-align:top}
td.l,th.l,table.facts td,table.facts th{text-align:left}
.scroll td,.scroll th{white-space:nowrap}
td.v,table.facts td{white-space:normal;min-width:14em;max-width:32em}
table.facts th{font-weight:600;background:#fafafa;white-space:nowrap}
tr.fail{background:#fde2e2}tr.pass{background:#e6f4e6}
.arts td:first-child{font-weight:bold}
img.chart{display:block;max-width:100%;height:auto;margin:8px 0}
.key{display:flex;flex-wrap:wrap;gap:2px 14px;font-size:13px;margin:0}
.note{color:#666;font-size:12px}
a{color:#0b57d0}
"""


def _drop(a: dict[str, Any], share: bool) -> str:
    """The drop vs the artifact's baseline with its 95% interval, under the metric."""
    base = a.get("baseline") or {}
    if "metric_drop" not in base:
        return ""
    ci = base.get("metric_drop_ci95")
    text = f"drop vs {html.escape(base['model'])}: {units.difference(base['metric_drop'], share)}"
    if ci:
        text += (f"<br>95% CI {units.difference(ci['low'], share)} to "
                 f"{units.difference(ci['high'], share)}")
    return f"<br><small>{text}</small>"


def _stored(a: dict[str, Any]) -> str:
    """' (stored fp16)' when the runtime computed in another precision than the file holds."""
    stored = a.get("stored_precision")
    return f" (stored {html.escape(stored)})" if stored and stored != a["precision"] else ""


def _agreement(a: dict[str, Any]) -> str:
    """Top-1 agreement with the baseline the artifact is judged against (that is what the budget
    checks; a student's agreement with the teacher says little), with its 95% interval."""
    base = a.get("baseline") or {}
    value, ci = base.get("agreement"), base.get("agreement_ci95")
    if value is None:
        value, ci = a["agreement"], a.get("agreement_ci95")
    text = f"{value:.4f}"
    if ci:
        text += f"<br><small>95% CI {ci['low']:.4f} to {ci['high']:.4f}</small>"
    return text


def _on_target_links(file: str, on_target: dict[str, dict[str, Any]]) -> str:
    """Links to each target section where ``file`` was validated, marked by its result."""
    links = []
    for name, res in on_target.items():
        for a in res.get("artifacts", []):
            if a["file"] == file:
                mark = "skipped" if "skipped" in a else "pass" if a.get("passed") else "FAIL"
                links.append(f"<a href='#{targets.row_id(name, file)}'>{html.escape(name)}</a> {mark}")
    return "<br>".join(links) or "–"


def artifact_table(report: dict[str, Any]) -> str:
    esc = html.escape
    ref = report["reference"]
    on_target = report.get("on_target", {})
    share = units.metric_is_share(report)
    rows = []
    for i, a in enumerate(report["artifacts"], 1):
        lat = a["latency_ms"]
        ratio = (f"<br><small>{units.smaller(ref['size_bytes'], a['size_bytes'])}</small>"
                 if ref.get("size_bytes") else "")
        rows.append(
            f"<tr id='a{i}' class='{'pass' if a['passed'] else 'fail'}'><td>{i}</td>"
            f"<td class='l'><a href='{esc(a['file'], quote=True)}'>{esc(a['file'].rsplit('/', 1)[-1])}</a>"
            f"<br><small>{esc(a.get('model', ''))}</small></td>"
            f"<td class='l'>{esc(a['format'])} {esc(a['precision'])}{_stored(a)}<br><small>{esc(a['runtime'])}"
            f"</small></td><td title='{a['size_bytes']:,} bytes'>{units.size(a['size_bytes'])}{ratio}</td>"
            f"<td>{a['metric']['value']:.4f}{_drop(a, share)}</td><td>{_agreement(a)}</td>"
            f"<td>{a['max_abs_diff']:.3g}</td><td>{units.ms(lat['p50'])}</td>"
            f"<td>{units.ms(lat['p90'])}</td><td>{units.ms(lat['p99'])}</td>"
            f"<td class='l v'>{esc(targets.with_warnings(a))}</td>"
            f"<td class='l'>{_on_target_links(a['file'], on_target)}</td></tr>")
    head = ("#", "file (model)", "format, precision ran (runtime)", "size", esc(ref["metric"]),
            "agreement with baseline", "max |Δ| vs ref", "p50 ms", "p90 ms", "p99 ms", "verdict", "on target")
    left = {1, 2, 10, 11}  # text columns
    return ("<div class='scroll'><table class='arts'><tr>"
            + "".join(f"<th{' class=l' if i in left else ''}>{h}</th>" for i, h in enumerate(head))
            + "</tr>" + "".join(rows) + "</table></div>")


def chart_key(report: dict[str, Any]) -> str:
    """The numbers on the chart, as text that wraps on a phone."""
    esc = html.escape
    return "<p class='key'>" + "".join(
        f"<span><a href='#a{i}'><b>{i}</b></a> {esc(a['format'])} {esc(a['precision'])}"
        f" · {esc(a.get('model', ''))}{'' if a['passed'] else ' (FAIL)'}</span>"
        for i, a in enumerate(report["artifacts"], 1)) + "</p>"


def _contents(report: dict[str, Any]) -> str:
    sections = [("artifacts", "Artifacts"), ("tradeoff", "Trade-off"), ("latency", "Latency"),
                ("reference", "Reference"), ("stages", "Stages")]
    if report.get("on_target"):
        sections.append(("on-target", "On target"))
    if report.get("profiles"):
        sections.append(("profiles", "Profiles"))
    return "<p>" + " · ".join(f"<a href='#{k}'>{v}</a>" for k, v in sections) + "</p>"


def _data_note(data: dict[str, Any]) -> str:
    """The split report (label counts per split, duplicates, small-class warnings)."""
    from edgekit.data.split_report import console_lines

    split = data.get("split_report")
    if not split:
        return ""
    ex = split.get("examples") or {}
    head = (f"Data: {ex.get('train', 0):,} training, {ex.get('val', 0):,} validation, "
            f"{ex.get('test', 0):,} held-out examples")
    lines = [head, *console_lines(split)]
    return "<p class='note' id='data'>" + "<br>".join(html.escape(ln) for ln in lines) + "</p>"


def render(report: dict[str, Any]) -> str:
    esc = html.escape
    ref = report["reference"]
    data = report["dataset"]
    arts = report["artifacts"]
    warning = data.get("resolution_warning")
    latency_rows = [{"label": f"{i} {a['file'].rsplit('/', 1)[-1]}", "latency_ms": a["latency_ms"]}
                    for i, a in enumerate(arts, 1)]
    on_target_note = ("" if report.get("on_target") else
                      "<p class='note'>Not yet validated on a target: <code>edgekit validate "
                      "BUNDLE --target DEVICE</code> re-runs every artifact there and adds its "
                      "section to this page.</p>")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgekit report: {esc(report['recipe'])}</title>
<style>{STYLE}</style></head><body>
<h1>edgekit: {esc(report['recipe'])}</h1>
<p class="headline">{esc(summary.headline(report))}</p>
{summary.summary_html(report)}
{_contents(report)}
{f'<p class="note">{esc(warning)}</p>' if warning else ''}
<h2 id="artifacts">Artifacts, each run on its runtime</h2>
<p class="note">Each artifact is judged against its baseline ("drop vs"), on {data['test_examples']:,}
held-out examples. File names link to the artifact in this bundle; "on target" links to its
results on each validated device.</p>
{artifact_table(report)}
{on_target_note}
<h2 id="tradeoff">Trade-off</h2>
{charts.img(charts.tradeoff_chart(report), "metric vs latency per artifact, with each artifact's baseline and budget")}
{chart_key(report)}
<h2 id="latency">Latency percentiles</h2>
{charts.img(charts.latency_chart(latency_rows), "latency percentiles per artifact")}
<p class="note">Batch 1, after warm-up, {arts[0]['latency_ms'].get('threads', '?') if arts else '?'} threads;
a single noisy machine, so compare artifacts within this run rather than across runs.</p>
<h2 id="reference">Reference (uncompressed, Keras)</h2>
<p>{esc(ref['metric'])} = {ref['value']:.4f} on {data['test_examples']:,} held-out examples of
{esc(data['name'])} ({esc(data.get('source', ''))}); {units.count(ref['parameters'])} parameters,
{units.size(ref['size_bytes'])} of fp32 weights.</p>
{_data_note(data)}
{stages.section(report)}
{targets.section(report)}
<h2 id="rule">How the verdicts were decided</h2>
<p class="note">{esc(report.get('verdict_rule', ''))}</p>
<p class="note">Created {esc(report['created'])} by edgekit {esc(report['edgekit_version'])}.</p>
</body></html>"""
