"""The memory estimate against the measured peak, from finished bundles' report.json.

    PYTHONPATH=. python benchmarks/memory_estimate.py BUNDLE [BUNDLE ...]

Prints one markdown row per bundle: recipe, data set, expected memory (what ``compress``
printed before training), the run's measured peak resident memory, and their ratio
(README claims the estimate is within 2x: 0.5 < expected / measured < 2).
benchmarks/results/memory-estimate-bert.md records the BERT runs and their commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def row(bundle: Path) -> str:
    report = json.loads((bundle / "report.json").read_text())
    res = report["resources"]
    expected, measured = res["expected"]["memory_bytes"], res["measured_peak_rss_bytes"]
    gb = 1 << 30
    return (f"| {report['recipe']} | {report['dataset']['name']} | {expected / gb:.2f} GB | "
            f"{measured / gb:.2f} GB | {expected / measured:.2f} |")


def main(argv: list[str]) -> int:
    print("| recipe | data | expected | measured peak | expected / measured |")
    print("|---|---|---|---|---|")
    for arg in argv:
        print(row(Path(arg)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
