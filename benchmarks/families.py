"""Family × format × precision table, generated from real runs.

Runs every built-in recipe (``--quick`` configs by default; ``--full`` for the recipes' real
settings), reads each bundle's ``report.json`` and writes:

* ``benchmarks/results/families.md``: per family, format and precision: supported (proven on
  its runtime within budget), metric delta vs the uncompressed reference, p50 batch-1 latency
  on this CPU;
* ``docs/support.md``: which format/precision each recipe passes, plus a probe of what TFLite
  built-ins (no Flex) can express for each recurrent layer with and without unrolling.

    PYTHONPATH=. python benchmarks/families.py                 # all recipes, quick
    PYTHONPATH=. python benchmarks/families.py --recipes mlp,gru
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


def family_rows(reports: dict[str, dict[str, Any]], families: dict[str, str]) -> list[str]:
    lines = ["| family | recipe | format | precision | model | supported | metric | delta vs "
             "reference | agreement | p50 ms | size B |", "|" + "---|" * 11]
    for name in sorted(reports, key=lambda n: (families[n], n)):
        rep = reports[name]
        if "error" in rep:
            lines.append(f"| {families[name]} | {name} | - | - | - | **run failed**: "
                         f"{rep['error']} | | | | | |")
            continue
        for a in rep["artifacts"]:
            m = a["metric"]
            lines.append(f"| {families[name]} | {name} | {a['format']} | {a['precision']} | "
                         f"{a['model']} | {'yes' if a['passed'] else 'NO: ' + _failed(a)} | "
                         f"{m['name']} {m['value']:.4f} | {-a['metric_drop']:+.4f} | "
                         f"{a['agreement']:.3f} | {a['latency_ms']['p50']:.3f} | "
                         f"{a['size_bytes']:,} |")
    return lines


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
    from edgekit.recipe import recipe_summaries

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", help="comma-separated names (default: all built-in)")
    ap.add_argument("--full", action="store_true", help="the recipes' full settings, not --quick")
    ap.add_argument("--no-probe", action="store_true", help="skip the recurrent TFLite probe")
    args = ap.parse_args()
    summaries = {s.name: s for s in recipe_summaries()}
    names = args.recipes.split(",") if args.recipes else sorted(summaries)
    families = {n: summaries[n].family for n in names}
    with tempfile.TemporaryDirectory(prefix="edgekit-families-") as tmp:
        reports = run_recipes(names, not args.full, Path(tmp))
    mode = "full" if args.full else "--quick"
    head = [f"# Families × formats × precisions ({mode} recipes)", "",
            f"Generated by `benchmarks/families.py` on {platform.machine()} "
            f"({platform.processor() or platform.platform()}); batch-1 latency p50 on the "
            "`cpu` device profile. *delta* is the artifact's metric minus the uncompressed "
            "reference's (accuracy/AUROC: higher is better; MAE/Fréchet: lower is better). "
            "*supported* = loaded and run by its runtime and within the recipe's budgets.", ""]
    RESULTS.mkdir(parents=True, exist_ok=True)
    from edgekit.atomic import write_text

    write_text(RESULTS / "families.md", "\n".join(head + family_rows(reports, families)) + "\n")
    (RESULTS / "families.json").write_text(json.dumps(
        {n: ({"error": r["error"]} if "error" in r else
             {"family": families[n], "artifacts": r["artifacts"], "reference": r["reference"]})
         for n, r in reports.items()}, indent=1, default=str))
    if not args.no_probe:
        support = (ROOT / "docs" / "support.md")
        text = support.read_text() if support.exists() else ""
        marker = "<!-- recurrent-probe -->"
        probe = "\n".join([marker, *recurrent_tflite_probe(), marker])
        if marker in text:
            before, _, rest = text.partition(marker)
            _, _, after = rest.partition(marker)
            text = before + probe + after
        else:
            text += "\n" + probe + "\n"
        write_text(support, text)
    print(f"wrote {RESULTS / 'families.md'}")


if __name__ == "__main__":
    main()
