"""``edgekit optimize``: the search (optuna TPE) against an exhaustive grid over the same space,
side by side, each from a cold run folder.

    PYTHONPATH=. python benchmarks/optimize.py lenet5 --objective size --trials 6 --quick
    PYTHONPATH=. python benchmarks/optimize.py distilbert --objective latency --trials 12 \\
        --set data.dataset=text_file --set data.params.path=../shared/data/sst2   # not run yet

Goals (issue 17): the search's chosen artifact within 10% of the grid's best on the objective,
at no more than a third of the grid's wall time, its held-out metric within budget. Writes
``benchmarks/results/optimize-<recipe>-<objective>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from edgekit.optimize.front import objective_value
from edgekit.optimize.run import OptimizeRequest, distinct_candidates, make_plan, optimize
from edgekit.optimize.trials import Trial
from edgekit.progress import SilentProgress
from edgekit.recipe.loader import parse_overrides

RESULTS = Path(__file__).parent / "results"


def run(request: OptimizeRequest, out: Path) -> dict[str, Any]:
    t0 = time.monotonic()
    result = optimize(request, out, SilentProgress())
    result["total_wall_s"] = round(time.monotonic() - t0, 1)
    return result


def best(result: dict[str, Any], objective: str) -> float:
    chosen = result["trials"][result["chosen"]["trial"]]
    return float(objective_value(Trial(**chosen), objective))  # type: ignore[arg-type]


def _fmt(value: float, unit: str) -> str:
    return f"{value:.4g}" if unit == "ms" else f"{value:,.0f}"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("recipe")
    p.add_argument("--objective", default="size")
    p.add_argument("--target", default="cpu")
    p.add_argument("--max-drop", type=float, default=0.01)
    p.add_argument("--trials", type=int, default=6)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--name", help="results file stem (default optimize-RECIPE-OBJECTIVE)")
    args = p.parse_args()
    common = dict(target=args.target, max_drop=args.max_drop, objective=args.objective,
                  quick=args.quick, overrides=parse_overrides(args.set))
    grid_req = OptimizeRequest(args.recipe, strategy="grid", **common)
    search_req = OptimizeRequest(args.recipe, strategy="tpe", trials=args.trials, **common)
    plan = make_plan(search_req)
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-opt-") as tmp:
        grid = run(grid_req, Path(tmp) / "grid")
        search = run(search_req, Path(tmp) / "search")
    unit = "ms" if args.objective == "latency" else "B"
    g, s = best(grid, args.objective), best(search, args.objective)
    within = s <= 1.1 * g
    ratio = search["total_wall_s"] / grid["total_wall_s"]
    held = search["chosen"]["heldout"]
    rows = [("strategy", "grid (every candidate)", f"TPE, {args.trials} trials"),
            ("trials", len(grid["trials"]), len(search["trials"])),
            ("chosen", grid["chosen"]["file"], search["chosen"]["file"]),
            (f"chosen {args.objective} ({unit})", _fmt(g, unit), _fmt(s, unit)),
            ("chosen validation metric", grid["trials"][grid["chosen"]["trial"]]["validation"]["metric"],
             search["trials"][search["chosen"]["trial"]]["validation"]["metric"]),
            ("held-out metric / passed",
             f"{grid['chosen']['heldout']['metric']['value']:.4f} / {grid['chosen']['heldout']['passed']}",
             f"{held['metric']['value']:.4f} / {held['passed']}"),
            ("search wall (s)", grid["search_wall_s"], search["search_wall_s"]),
            ("total wall incl. held-out proof (s)", grid["total_wall_s"], search["total_wall_s"])]
    goals = [(f"chosen {args.objective} within 10% of the grid's best", within,
              f"{_fmt(s, unit)} vs {_fmt(g, unit)} {unit} ({s / g - 1:+.1%})"),
             ("at most 1/3 of the grid's wall time", ratio <= 1 / 3, f"{ratio:.2f} of it"),
             ("held-out metric within budget", bool(held["passed"]),
              f"{held['metric']['value']:.4f}, baseline {held['baseline']['metric']:.4f}")]
    cmd = ("PYTHONPATH=. python benchmarks/optimize.py " + args.recipe
           + f" --objective {args.objective} --target {args.target} --max-drop {args.max_drop:g}"
           + f" --trials {args.trials}" + (" --quick" if args.quick else "")
           + "".join(f" --set '{s_}'" for s_ in args.set)
           + (f" --name {args.name}" if args.name else ""))
    lines = [f"# edgekit optimize: {args.recipe}, --objective {args.objective}, grid vs search", "",
             f"Command: `{cmd}`", "",
             f"Space: {plan.space.size} combinations, {distinct_candidates(plan)} distinct "
             f"candidates; target {args.target}; --max-drop {args.max_drop:g}; scored on the "
             "validation split, the choice proven once on held-out. Each run starts from a cold "
             "run folder (the grid runs first, in the same process: the search gains the warm "
             "imports only).", "", "| | grid | search |", "|---|---|---|",
             *(f"| {a} | {b} | {c} |" for a, b, c in rows), "", "## Goals", "",
             *(f"- {'MET' if ok else 'NOT MET'}: {name} ({detail})" for name, ok, detail in goals)]
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / (args.name or f"optimize-{args.recipe}-{args.objective}")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    stem.with_suffix(".json").write_text(json.dumps({"grid": grid, "search": search}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
