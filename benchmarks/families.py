"""Family × format × precision table, generated from real runs.

Runs every built-in recipe (``--quick`` configs by default), reads each bundle's
``report.json`` and writes the tables below. ``--full`` runs the recipes' real settings instead
and writes only ``benchmarks/results/families-full.md`` + ``.json`` (wall time, peak memory,
reference metric beside a published figure, every artifact; see ``families_full.py``), never
the quick tables, README or docs/support.md.

* ``benchmarks/results/families.md``: per family, format and precision: supported (proven on
  its runtime within budget), metric delta vs the uncompressed reference, p50 batch-1 latency
  on this CPU;
* ``benchmarks/results/families.json``: the per-artifact facts behind it, keyed by recipe;
  ``--recipes`` re-runs only those and keeps the others' earlier results;
* the README's family × format × precision table (between ``<!-- families-table:begin -->``
  and ``<!-- families-table:end -->``, nothing else in README is touched);
* ``docs/support.md``: a probe of what TFLite built-ins (no Flex) can express for each
  recurrent layer with and without unrolling (``--no-probe`` skips it).

    PYTHONPATH=. python benchmarks/families.py                 # all recipes, quick
    PYTHONPATH=. python benchmarks/families.py --recipes mlp,gru
    PYTHONPATH=. python benchmarks/families.py --tables-only   # rewrite tables from the JSON
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"
# Families benchmarked by their own script (run only when named with --recipes).
ELSEWHERE = {"bert": "benchmarks/recipe_table.py distilbert"}


def run_recipes(names: list[str], quick: bool, work: Path) -> dict[str, dict[str, Any]]:
    """name → report (or {'error': message} when the run itself failed)."""
    from edgekit.errors import EdgekitError
    from edgekit.pipeline import compress
    from edgekit.recipe import load_recipe

    reports: dict[str, dict[str, Any]] = {}
    for name in names:
        print(f"[families] {name}", flush=True)
        try:
            reports[name] = compress(load_recipe(name, quick=quick), work / name)
        except EdgekitError as exc:
            reports[name] = {"error": str(exc)}
    return reports


def facts(report: dict[str, Any], family: str) -> dict[str, Any]:
    """What the tables need from one report (kept in families.json)."""
    if "error" in report:
        return {"family": family, "error": report["error"]}
    return {"family": family, "reference": report["reference"], "artifacts": report["artifacts"],
            "dataset": report["dataset"]["name"], "created": report["created"]}


def family_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    """One row per artifact of every recipe."""
    lines = ["| family | recipe | format | precision | model | supported | metric | drop vs "
             "reference | agreement | p50 ms | size B |", "|" + "---|" * 11]
    for name in sorted(results, key=lambda n: (results[n]["family"], n)):
        rep = results[name]
        fam = rep["family"]
        if "error" in rep:
            lines.append(f"| {fam} | {name} | - | - | - | **run failed**: {rep['error']} "
                         "| | | | | |")
            continue
        for a in rep["artifacts"]:
            m = a["metric"]
            lines.append(f"| {fam} | {name} | {a['format']} | {a['precision']} | "
                         f"{a['model']} | {'yes' if a['passed'] else 'NO: ' + _failed(a)} | "
                         f"{m['name']} {m['value']:.4f} | {a['metric_drop'] + 0.0:+.4f} | "
                         f"{a['agreement']:.3f} | {a['latency_ms']['p50']:.3f} | "
                         f"{a['size_bytes']:,} |")
    return lines


def summary_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    """The README table: per family × format × stored precision, how many of the family's
    recipes that export it pass, the worst metric delta and the median p50 latency."""
    import statistics

    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    failed_runs: dict[str, list[str]] = {}
    for name, rep in results.items():
        if "error" in rep:
            failed_runs.setdefault(rep["family"], []).append(name)
            continue
        for a in rep["artifacts"]:
            key = (rep["family"], a["format"], a["stored_precision"])
            cells.setdefault(key, []).append({**a, "recipe": name,
                                              "higher": rep["reference"]["higher_is_better"]})
    lines = ["| family | format | precision | supported (recipes passing) | worst metric drop vs "
             "reference (+ = worse) | p50 latency ms (median) |", "|---|---|---|---|---|---|"]
    for (fam, fmt, prec), arts in sorted(cells.items()):
        passing = sorted({a["recipe"] for a in arts if a["passed"]})
        recipes = sorted({a["recipe"] for a in arts})
        worst = max(arts, key=lambda a: a["metric_drop"])
        lat = statistics.median(a["latency_ms"]["p50"] for a in arts)
        support = "yes" if len(passing) == len(recipes) else "partial"
        lines.append(f"| {fam} | {fmt} | {prec} | {support} ({len(passing)}/{len(recipes)}: "
                     f"{', '.join(recipes)}) | {worst['metric_drop'] + 0.0:+.4f} "
                     f"{worst['metric']['name']} ({worst['recipe']}) | {lat:.3f} |")
    for fam, names in sorted(failed_runs.items()):
        lines.append(f"| {fam} | - | - | run failed: {', '.join(names)} | | |")
    return lines


def replace_between(path: Path, begin: str, end: str, body: list[str]) -> None:
    """Rewrite only what lies between two marker lines of ``path``."""
    from edgekit.atomic import write_text

    text = path.read_text(encoding="utf-8")
    if begin not in text or end not in text:
        raise SystemExit(f"{path}: markers {begin} / {end} not found")
    before, _, rest = text.partition(begin)
    _, _, after = rest.partition(end)
    write_text(path, before + "\n".join([begin, *body, end]) + after)


def _failed(artifact: dict[str, Any]) -> str:
    return ", ".join(k for k, v in artifact["checks"].items() if not v)


def recurrent_tflite_probe() -> list[str]:
    """Convert each recurrent builder with and without unrolling, TFLite built-ins only, then
    with Flex allowed: which need TensorFlow ops on the device."""
    from edgekit import _tf
    from edgekit.data import DATASETS, SplitPlan
    from edgekit.models import MODELS

    tf = _tf.tf()
    loader = DATASETS.get("sunspots")
    data = loader.load(loader.Config(window=8), SplitPlan(0.2, 0.1, 0))
    lines = ["| layer | unroll | TFLite built-ins only | with Flex (SELECT_TF_OPS) |",
             "|---|---|---|---|"]
    for builder_name in sorted(n for n in MODELS.names() if MODELS.get(n).family == "recurrent"):
        builder = MODELS.get(builder_name)
        for unroll in (True, False):
            model = builder.build(builder.Config(units=8, unroll=unroll), data)
            results = []
            for ops in ([tf.lite.OpsSet.TFLITE_BUILTINS],
                        [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]):
                conv = tf.lite.TFLiteConverter.from_keras_model(model)
                conv.target_spec.supported_ops = ops
                try:
                    flat = conv.convert()
                    results.append(f"ok ({_op_summary(flat)})")
                except Exception as exc:  # the converter's error types vary
                    results.append("fails: " + _first_line(exc)[:120])
            lines.append(f"| {builder_name} | {unroll} | {results[0]} | {results[1]} |")
    return lines


def _op_summary(flatbuffer: bytes) -> str:
    """Notable ops in the converted model: loops, fused RNN kernels, Flex (TensorFlow) ops. Op
    names are stored as strings in the flatbuffer, so a byte search finds them."""
    import re

    names = set(re.findall(rb"(WHILE|UNIDIRECTIONAL_SEQUENCE_[A-Z]+|BIDIRECTIONAL_SEQUENCE_[A-Z]+"
                           rb"|Flex[A-Za-z0-9]+)", flatbuffer))
    return ", ".join(sorted(n.decode() for n in names)) or "plain ops"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        if "error" in line.lower() or "flex" in line.lower():
            return line.strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main() -> None:
    from edgekit.atomic import write_text
    from edgekit.recipe import recipe_summaries

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", help="comma-separated names (default: all built-in)")
    ap.add_argument("--full", action="store_true",
                    help="the recipes' full settings, not --quick; writes families-full.md/json "
                         "only (see families_full.py)")
    ap.add_argument("--results-dir", type=Path, default=RESULTS,
                    help="where --full writes families-full.md/json")
    ap.add_argument("--no-probe", action="store_true", help="skip the recurrent TFLite probe")
    ap.add_argument("--tables-only", action="store_true",
                    help="run nothing; rewrite the tables from families.json")
    args = ap.parse_args()
    summaries = {s.name: s for s in recipe_summaries()}
    if args.full:  # its own results path: the quick tables stay as they are
        from families_full import rewrite_tables, run_full

        if args.tables_only:  # rewrite families-full.md from its JSON: run nothing
            print(f"wrote {rewrite_tables(args.results_dir, sorted(summaries))}")
            return
        names = args.recipes.split(",") if args.recipes else sorted(
            n for n, s in summaries.items() if s.family not in ELSEWHERE)
        print(f"wrote {run_full(names, args.results_dir, sorted(summaries))}")
        return
    store = RESULTS / "families.json"
    results: dict[str, dict[str, Any]] = json.loads(store.read_text()) if store.exists() else {}
    if not args.tables_only:
        names = args.recipes.split(",") if args.recipes else sorted(
            n for n, s in summaries.items() if s.family not in ELSEWHERE)
        for name in names:  # saved after each run: a long sweep keeps what it finished
            with tempfile.TemporaryDirectory(prefix="edgekit-families-") as tmp:
                reports = run_recipes([name], not args.full, Path(tmp))
            results[name] = facts(reports[name], summaries[name].family)
            write_text(store, json.dumps(dict(sorted(results.items())), indent=1, default=str))
    results = {n: r for n, r in results.items() if n in summaries}  # recipes since removed
    mode = "full" if args.full else "--quick"
    head = [f"# Families × formats × precisions ({mode} recipes)", "",
            f"Generated by `PYTHONPATH=. python benchmarks/families.py` on {platform.machine()} "
            f"({platform.processor() or platform.platform()}); batch-1 latency p50 on the "
            "`cpu` device profile, on a 2-core machine shared with other jobs (OpenVINO's thread "
            "pool suffers most from that: compare latencies within a runtime). *drop* is how "
            "much worse the artifact's metric is than the uncompressed reference's, in the "
            "metric's units (negative = better; accuracy/AUROC higher is better, MAE/"
            "frechet_pca lower). "
            "*supported* = loaded and run by its runtime and within the recipe's budgets.", ""]
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_text(RESULTS / "families.md", "\n".join(head + summary_rows(results) + [""]
                                                  + family_rows(results)) + "\n")
    write_text(store, json.dumps(dict(sorted(results.items())), indent=1, default=str))
    replace_between(ROOT / "README.md", "<!-- families-table:begin -->",
                    "<!-- families-table:end -->",
                    [f"Generated from `{mode}` runs on this CPU ({platform.machine()}) by "
                     "`PYTHONPATH=. python benchmarks/families.py`; per-artifact detail in "
                     "[benchmarks/results/families.md](benchmarks/results/families.md). A "
                     "precision a family does not list is not offered (see docs/support.md). "
                     "Latency: batch 1 on a 2-core machine shared with other jobs; compare "
                     "within a runtime.",
                     "", *summary_rows(results)])
    if not args.no_probe and not args.tables_only:
        replace_between(ROOT / "docs" / "support.md", "<!-- recurrent-probe -->",
                        "<!-- recurrent-probe -->", recurrent_tflite_probe())
    print(f"wrote {RESULTS / 'families.md'}")


if __name__ == "__main__":
    main()
