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
    return "pass" if a["passed"] else "FAIL: " + ", ".join(k for k, v in a["checks"].items() if not v)


def summary_lines(result: dict[str, Any]) -> list[str]:
    t = result["target"]
    head = f"target {t['name']} ({t['connection']}){' [emulated]' if result['emulated'] else ''}"
    lines = [head]
    for a in result["artifacts"]:
        if "skipped" in a:
            lines.append(f"  {a['file']:<40} {_status(a)}")
            continue
        lines.append(f"  {a['file']:<40} {a['runtime']:<18} {a['metric']['name']} "
                     f"{a['metric']['value']:.4f}  agreement {a['agreement']:.4f}  "
                     f"max|Δ| ref {_fmt(a['max_abs_diff'])}  host {_fmt(a['max_abs_diff_vs_host'])}"
                     f" (atol {_fmt(a['host_atol'])})  {_status(a)}")
    lines.append("PASSED" if result["passed"] else "FAILED")
    return lines


def section(on_target: dict[str, dict[str, Any]]) -> str:
    """The report.html section: one table per validated target ('' when there is none)."""
    if not on_target:
        return ""
    esc = html.escape
    parts = ["<h2>On target</h2><p>Each artifact re-run on the device's runtime over the "
             "bundle's held-out data (<code>edgekit validate</code>). 'vs host' is the max |Δ| "
             "against the same artifact run on the machine that built the bundle.</p>"]
    for name, res in on_target.items():
        t = res["target"]
        label = " (emulated: outputs only, timings are not device timings)" if res["emulated"] else ""
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
