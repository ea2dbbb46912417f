"""The top of report.html: a headline generated from what ran (model and its shape, data set
and sizes, what each stage made of the model), and the summary a reader wants first: the
verdict, the recommended artifact per runtime (smallest passing, fastest passing) with its size
and speed-up, and the machine the proofs ran on.

The headline reads the report, never the recipe's ``description``: a recipe written for one data
set and run on another (``data.dataset: text_file`` pointed at SST-2) must not claim the first.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgekit.report import units

# A stage's outcome in a few words, from its facts: the first rule whose key the facts have.
_STAGE_RULES: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("student_layers", lambda f: f"a {f['student_layers']}-layer"
     + (f", {f['hidden_size']}-wide" if f.get("hidden_size") else "") + " student"
     + (f" ({units.count(f['parameters'])} parameters)" if isinstance(f.get("parameters"), int)
        else "")),
    ("achieved_kernel_sparsity", lambda f: f"{f['achieved_kernel_sparsity']:.0%} of kernel weights zero"),
    ("scheme", lambda f: f"{f['scheme']} fake-quant training"),
    ("vocab", lambda f: f"vocabulary {f['vocab']['before']:,} → {f['vocab']['after']:,} tokens"),
    ("parameters", lambda f: f"{units.count(f['parameters']['before'])} → "
     f"{units.count(f['parameters']['after'])} parameters"),
)


def _stage_phrase(stage: dict[str, Any]) -> str:
    facts = stage.get("facts") or {}
    for key, phrase in _STAGE_RULES:
        if key in facts:
            try:
                return f"{stage['name']}: {phrase(facts)}"
            except (KeyError, TypeError, ValueError):  # facts of another shape: just the name
                break
    return stage["name"]


def _reference_shape(report: dict[str, Any]) -> str:
    """``6 layers × 384`` from a distillation stage's teacher facts or the model's parameters."""
    for stage in report["stages"]:
        facts = stage.get("facts") or {}
        if "teacher_layers" in facts:
            wide = facts.get("teacher_hidden_size")
            return f"{facts['teacher_layers']} layers" + (f" × {wide}" if wide else "")
    params = report["resolved_recipe"]["model"].get("params") or {}
    if params.get("num_layers"):
        wide = params.get("hidden_size")
        return f"{params['num_layers']} layers" + (f" × {wide}" if wide else "")
    return ""


def _input_shape(report: dict[str, Any]) -> str:
    text = (report.get("extras") or {}).get("text") or {}
    if text.get("seq_len"):
        return f"{text['seq_len']} tokens each"
    params = report["resolved_recipe"]["data"].get("params") or {}
    if isinstance(params.get("image_size"), int):
        return f"{params['image_size']}×{params['image_size']} images"
    return ""


def headline(report: dict[str, Any]) -> str:
    """One paragraph (plain text) saying what ran."""
    recipe = report["resolved_recipe"]
    model, ref, data = recipe["model"], report["reference"], report["dataset"]
    source = (model.get("params") or {}).get("checkpoint")
    shape = ", ".join(s for s in (_reference_shape(report), f"{units.count(ref['parameters'])} "
                                  "parameters") if s)
    epochs = recipe["train"]["epochs"]
    trained = "fine-tuned" if source else "trained"
    inputs = _input_shape(report)
    text = (f"{model['builder']}{f' from {source}' if source else ''} ({shape}), {trained} for "
            f"{epochs} epoch{'s' * (epochs != 1)} on {data['name']}: {data['train_examples']:,} "
            f"training, {data['val_examples']:,} validation and {data['test_examples']:,} held-out "
            f"examples{f' of {inputs}' if inputs else ''}; reference {ref['metric']} "
            f"{ref['value']:.4f}.")
    if report["stages"]:
        text += " Then " + "; ".join(_stage_phrase(s) for s in report["stages"]) + "."
    arts = report["artifacts"]
    runtimes = sorted({a["runtime"] for a in arts})
    text += f" {len(arts)} artifact{'s' * (len(arts) != 1)} on {', '.join(runtimes)}."
    return text


@dataclass(frozen=True)
class Pick:
    """A recommended artifact: ``roles`` ('smallest', 'fastest') on ``runtime``."""

    runtime: str
    roles: tuple[str, ...]
    index: int  # 1-based, the table's '#'
    artifact: dict[str, Any]


def picks(report: dict[str, Any]) -> list[Pick]:
    """Per runtime, the smallest and the fastest passing artifact (one pick when the same)."""
    out: list[Pick] = []
    numbered = list(enumerate(report["artifacts"], 1))
    for runtime in sorted({a["runtime"] for a in report["artifacts"]}):
        passing = [(i, a) for i, a in numbered if a["runtime"] == runtime and a["passed"]]
        if not passing:
            continue
        small = min(passing, key=lambda p: (p[1]["size_bytes"], p[1]["latency_ms"]["p50"]))
        fast = min(passing, key=lambda p: (p[1]["latency_ms"]["p50"], p[1]["size_bytes"]))
        if small[0] == fast[0]:
            out.append(Pick(runtime, ("smallest", "fastest"), *small))
        else:
            out += [Pick(runtime, ("smallest",), *small), Pick(runtime, ("fastest",), *fast)]
    return out


def speed_reference(report: dict[str, Any], runtime: str) -> tuple[int, dict[str, Any], str] | None:
    """What a speed-up is measured against: an export of the reference model (the same runtime's
    if there is one), else this runtime's fp32 export of the earliest model it has."""
    numbered = list(enumerate(report["artifacts"], 1))
    refs = [(i, a) for i, a in numbered if a.get("model") == "reference"]
    pool = [p for p in refs if p[1]["runtime"] == runtime] or refs
    if pool:
        i, a = min(pool, key=lambda p: (p[1].get("stored_precision") != "fp32", p[0]))
        return i, a, "the reference"
    fp32 = [(i, a) for i, a in numbered
            if a["runtime"] == runtime and a.get("stored_precision", a["precision"]) == "fp32"]
    if fp32:
        i, a = fp32[0]
        return i, a, f"this runtime's fp32 {a.get('model', '')}".rstrip()
    return None


def _pick_html(report: dict[str, Any], pick: Pick) -> str:
    esc = html.escape
    a = pick.artifact
    ref = report["reference"]
    name = a["file"].rsplit("/", 1)[-1]
    size = units.size(a["size_bytes"])
    if ref.get("size_bytes"):
        relation = units.smaller(ref["size_bytes"], a["size_bytes"])
        size += (f" ({relation} {'as' if relation.startswith('about') else 'than'} the "
                 f"reference's fp32 weights, {units.size(ref['size_bytes'])})")
    speed = f"p50 {units.ms(a['latency_ms']['p50'])} ms"
    against = speed_reference(report, pick.runtime)
    if against is not None and against[0] != pick.index:
        j, b, what = against
        factor = b["latency_ms"]["p50"] / a["latency_ms"]["p50"]
        relation = (f"{units.ratio(factor)} faster than" if factor >= 1
                    else f"{units.ratio(1 / factor)} slower than")
        speed += (f", {relation} {esc(what)} (<a href='#a{j}'>#{j}</a>, {units.ms(b['latency_ms']['p50'])} ms)")
    return (f"{' and '.join(pick.roles)}: <a class='pick' href='#a{pick.index}'>#{pick.index} "
            f"{esc(name)}</a> "
            f"({esc(a['precision'])}), {esc(size)}; {speed}")


def summary_html(report: dict[str, Any]) -> str:
    """The summary block at the top of the page."""
    from edgekit.device.hardware import describe

    esc = html.escape
    arts = report["artifacts"]
    passed = sum(a["passed"] for a in arts)
    verdict = "PASSED" if report["passed"] else "FAILED"
    lines = [f"<p class='verdict {verdict.lower()}'><b>{verdict}</b>: {passed} of {len(arts)} "
             f"artifacts within their budgets.</p>"]
    by_runtime: dict[str, list[str]] = {}
    for pick in picks(report):
        by_runtime.setdefault(pick.runtime, []).append(_pick_html(report, pick))
    if by_runtime:
        lines.append("<p><b>Recommended, per runtime</b> (passing artifacts only):</p><ul>" + "".join(
            f"<li><b>{esc(rt)}</b>: {'<br>'.join(items)}</li>" for rt, items in by_runtime.items())
            + "</ul>")
    else:
        lines.append("<p><b>No artifact passed</b>: nothing to recommend; each row below says "
                     "which budget it missed.</p>")
    hw = (report.get("environment") or {}).get("hardware")
    machine = report.get("proved_on") or report["target"]["name"]
    if hw:  # 'this machine: <model> (<arch>)' -> 'this machine: <model> (<arch>; <flags>)'
        where, _, _ = machine.partition(":")
        machine = f"{where}: {describe(hw)}" if where == "this machine" else f"{machine}, {describe(hw)}"
    threads = report["target"].get("threads")
    lines.append(f"<p>Proven on <b>{esc(machine)}</b>"
                 + f" with the <b>{esc(report['target']['name'])}</b> profile's settings"
                 + (f" ({threads} threads)" if threads else "") + ".</p>")
    return "<div class='summary'>" + "".join(lines) + "</div>"
