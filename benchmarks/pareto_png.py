"""The Pareto plot of an ``edgekit optimize`` bundle, as the PNG README shows: drawn again from
the bundle's ``optimize.json`` by the chart report.html uses (``edgekit/optimize/chart.py``), so
a plot in README follows that chart's current form, not the one the run was made with.

    python benchmarks/pareto_png.py BUNDLE docs/optimize-distilbert-sst2.png
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

from edgekit.optimize.chart import pareto_chart
from edgekit.optimize.trials import Trial


def main(bundle: Path, out: Path) -> None:
    path = bundle / "optimize.json"
    if not path.is_file():
        sys.exit(f"{path} not found (fix: pass a bundle written by 'edgekit optimize')")
    result = json.loads(path.read_text(encoding="utf-8"))
    trials = {t["number"]: Trial(**t) for t in result["trials"]}
    chosen = trials[result["chosen"]["trial"]] if result.get("chosen") else None
    chart = pareto_chart(list(trials.values()), [trials[n] for n in result["front"]], chosen,
                         objective=result["objective"], metric=result["metric"],
                         max_drop=result["max_drop"],
                         # optimize.json written before it kept the direction: accuracy's
                         higher_is_better=result.get("higher_is_better", True))
    if chart is None:
        sys.exit(f"{path}: no scored trial to plot")
    out.write_bytes(base64.b64decode(chart))
    print("wrote", out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python benchmarks/pareto_png.py BUNDLE OUT.png")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
