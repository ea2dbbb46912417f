"""``edgekit optimize``: the search (optuna TPE) against an exhaustive grid over the same space,
side by side, each from a cold run folder.

    PYTHONPATH=. python benchmarks/optimize.py lenet5 --objective size --trials 4 --quick
    PYTHONPATH=. python benchmarks/optimize.py distilbert --objective latency --trials 8 \\
        --set data.dataset=text_file --set data.params.path=../shared/data/sst2 \\
        --set data.params.max_train_examples=4000 --keep /tmp/opt-sst2

Goals (issue 17): the search's chosen artifact within 10% of the grid's best on the objective,
at no more than a third of the grid's wall time, its held-out metric within budget. Writes
``benchmarks/results/optimize-<recipe>-<objective>.md`` and ``.json``.

A latency objective is judged twice: on the figures each run measured while it searched (minutes
apart, on a machine others share), and on the two chosen artifacts re-measured at the end in
this process, interleaved round by round at the threads each run chose, on the held-out inputs
(so drifting load hits both alike). The goal is marked on the re-measured figures.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from timing import interleaved_samples

from edgekit.device.heldout import INPUT_PREFIX, open_arrays
from edgekit.device.runtimes import RUNTIMES
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


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def chosen_threads(result: dict[str, Any], default: int) -> int:
    """The thread count the chosen trial was timed at (its ``validation.threads`` knob, if the
    space has one)."""
    params = result["trials"][result["chosen"]["trial"]]["params"]
    return int(params.get("validation.threads", default))


def remeasure(bundles: dict[str, Path], results: dict[str, dict[str, Any]], default_threads: int,
              rounds: int, per_round: int) -> dict[str, dict[str, float]]:
    """p50/p90 of each run's chosen artifact, both timed in this process in interleaved rounds
    (:func:`timing.interleaved_samples`) at the threads that run chose, on the held-out inputs
    of the first bundle (batch 1)."""
    first = next(iter(bundles.values()))
    report = json.loads((first / "report.json").read_text())
    held = open_arrays(first / report["dataset"]["heldout_file"])
    names = [k[len(INPUT_PREFIX):] for k in held if k.startswith(INPUT_PREFIX)]
    feeds = [{n: held[INPUT_PREFIX + n][i:i + 1] for n in names} for i in range(len(held["y"]))]
    engines = {}
    for run_name, bundle in bundles.items():
        art = json.loads((bundle / "report.json").read_text())["artifacts"][0]
        threads = chosen_threads(results[run_name], default_threads)
        session = RUNTIMES.get(art["runtime"]).load(bundle / art["file"], threads)
        engines[run_name] = session.run
    samples = interleaved_samples(engines, feeds, rounds, per_round, warmup=20)
    return {name: {"p50": float(np.percentile(s, 50)), "p90": float(np.percentile(s, 90)),
                   "runs": len(s), "threads": chosen_threads(results[name], default_threads)}
            for name, s in samples.items()}


def _fmt(value: float, unit: str) -> str:
    return f"{value:.4g}" if unit == "ms" else f"{value:,.0f}"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("recipe")
    p.add_argument("--objective", default="size")
    p.add_argument("--target", default="cpu")
    p.add_argument("--max-drop", type=float, default=0.01)
    p.add_argument("--trials", type=int, default=4)  # the committed lenet5 goal run
    p.add_argument("--quick", action="store_true")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--name", help="results file stem (default optimize-RECIPE-OBJECTIVE)")
    p.add_argument("--keep", type=Path, help="keep the two bundles here (KEEP/grid, KEEP/search; "
                   "must not exist yet: each run starts cold)")
    p.add_argument("--rounds", type=int, default=20, help="interleaved re-measure rounds")
    p.add_argument("--per-round", type=int, default=25)
    args = p.parse_args()
    common = dict(target=args.target, max_drop=args.max_drop, objective=args.objective,
                  quick=args.quick, overrides=parse_overrides(args.set))
    grid_req = OptimizeRequest(args.recipe, strategy="grid", **common)
    search_req = OptimizeRequest(args.recipe, strategy="tpe", trials=args.trials, **common)
    plan = make_plan(search_req)
    if args.keep and args.keep.exists():
        p.error(f"--keep {args.keep} exists; give a new folder (each run starts cold)")
    load_before = load()
    remeasured: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-opt-") as tmp:
        where = args.keep or Path(tmp)
        grid = run(grid_req, where / "grid")
        search = run(search_req, where / "search")
        load_after_runs = load()
        (where / "runs.json").write_text(json.dumps({"grid": grid, "search": search}))
        if args.objective == "latency":
            remeasured = remeasure({"grid": where / "grid", "search": where / "search"},
                                   {"grid": grid, "search": search}, plan.target.threads,
                                   args.rounds, args.per_round)
    load_after = load()
    unit = "ms" if args.objective == "latency" else "B"
    g, s = best(grid, args.objective), best(search, args.objective)
    if remeasured:  # the goal on figures taken side by side, not minutes apart
        g, s = remeasured["grid"]["p50"], remeasured["search"]["p50"]
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
    if remeasured:
        rows[3] = (f"chosen latency while searching (ms, validation, p50)",
                   _fmt(best(grid, args.objective), unit), _fmt(best(search, args.objective), unit))
        rows.insert(4, ("chosen latency re-measured side by side (ms, held-out inputs, p50 / p90, "
                        "threads)", *(f"{remeasured[k]['p50']:.4g} / {remeasured[k]['p90']:.4g}, "
                                      f"{remeasured[k]['threads']}" for k in ("grid", "search"))))
    side = " (re-measured side by side)" if remeasured else ""
    goals = [(f"chosen {args.objective} within 10% of the grid's best{side}", within,
              f"{_fmt(s, unit)} vs {_fmt(g, unit)} {unit} ({s / g - 1:+.1%})"),
             ("at most 1/3 of the grid's wall time", ratio <= 1 / 3, f"{ratio:.2f} of it"),
             ("held-out metric within budget", bool(held["passed"]),
              f"{held['metric']['value']:.4f}, baseline {held['baseline']['metric']:.4f}")]
    cmd = ("PYTHONPATH=. python benchmarks/optimize.py " + args.recipe
           + f" --objective {args.objective} --target {args.target} --max-drop {args.max_drop:g}"
           + f" --trials {args.trials}" + (" --quick" if args.quick else "")
           + "".join(f" --set '{s_}'" for s_ in args.set)
           + (f" --name {args.name}" if args.name else "")
           + (f" --keep {args.keep}" if args.keep else ""))
    lines = [f"# edgekit optimize: {args.recipe}, --objective {args.objective}, grid vs search", "",
             f"Command: `{cmd}`", "",
             f"Space: {plan.space.size} combinations, {distinct_candidates(plan)} distinct "
             f"candidates; target {args.target}; --max-drop {args.max_drop:g}; scored on the "
             "validation split, the choice proven once on held-out. Each run starts from a cold "
             "run folder (the grid runs first, in the same process: the search gains the warm "
             "imports only).", "",
             f"Load average (1/5/15 min) before {load_before}; after both runs {load_after_runs}; "
             f"at the end {load_after} (2 cores shared with other work).", "",
             "| | grid | search |", "|---|---|---|",
             *(f"| {a} | {b} | {c} |" for a, b, c in rows), "", "## Goals", "",
             *(f"- {'MET' if ok else 'NOT MET'}: {name} ({detail})" for name, ok, detail in goals)]
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / (args.name or f"optimize-{args.recipe}-{args.objective}")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    stem.with_suffix(".json").write_text(json.dumps(
        {"command": cmd, "load_average": {"before": load_before, "after_runs": load_after_runs,
                                          "end": load_after},
         "remeasured": remeasured, "goals": {n: ok for n, ok, _ in goals},
         "grid": grid, "search": search}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
