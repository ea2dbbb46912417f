"""Run a recipe end to end and write its results table (Markdown + the raw report).

    .venv/bin/python benchmarks/recipe_table.py lenet5

writes benchmarks/results/lenet5.md and benchmarks/results/lenet5.report.json. Ratios are
within one run (the machines are noisy): size against the reference's fp32 weights, latency
against the fp32 TFLite artifact of the same run.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from edgekit.pipeline import compress
from edgekit.progress import RichProgress
from edgekit.recipe import load_recipe

RESULTS = Path(__file__).resolve().parent / "results"


def table(report: dict, wall_s: float, command: str) -> str:
    ref = report["reference"]
    base = next((a for a in report["artifacts"]
                 if a["format"] == "tflite" and a["stored_precision"] == "fp32"), report["artifacts"][0])
    lines = [
        f"# {report['recipe']}: results",
        "",
        f"Command: `{command}`  ",
        f"Run {report['created']} on {platform.machine()} ({report['target']['name']}, "
        f"{base['latency_ms']['threads']} threads), edgekit {report['edgekit_version']}, "
        f"whole run {wall_s:.0f} s.  ",
        f"Reference (Keras, uncompressed): {ref['metric']} {ref['value']:.4f} on "
        f"{report['dataset']['test_examples']} held-out examples; {ref['parameters']:,} parameters, "
        f"{ref['size_bytes']:,} B fp32 weights.",
        "",
        f"| artifact | runtime | precision ran | size B | size / ref | gzip B | {ref['metric']} | Δ vs ref "
        f"| agreement | p50 ms | p90 ms | p99 ms | p50 / tflite-fp32 | budget |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for a in report["artifacts"]:
        lat = a["latency_ms"]
        lines.append(
            f"| {Path(a['file']).name} | {a['runtime']} | {a['precision']} | {a['size_bytes']:,} | "
            f"{a['size_bytes'] / ref['size_bytes']:.2f} | {a['size_gzip_bytes']:,} | "
            f"{a['metric']['value']:.4f} | {a['metric']['value'] - ref['value']:+.4f} | "
            f"{a['agreement']:.4f} | {lat['p50']:.3f} | {lat['p90']:.3f} | {lat['p99']:.3f} | "
            f"{lat['p50'] / base['latency_ms']['p50']:.2f} | {'pass' if a['passed'] else 'FAIL'} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("recipe")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    command = "python benchmarks/recipe_table.py " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        report = compress(load_recipe(args.recipe, quick=args.quick), Path(tmp) / "bundle",
                          RichProgress())
        wall = time.perf_counter() - t0
    RESULTS.mkdir(exist_ok=True)
    stem = args.recipe + ("-quick" if args.quick else "")
    (RESULTS / f"{stem}.md").write_text(table(report, wall, command))
    (RESULTS / f"{stem}.report.json").write_text(json.dumps(report, indent=1))
    print((RESULTS / f"{stem}.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
