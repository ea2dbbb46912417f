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
import resource
import shutil
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
from edgekit.optimize.space import OFF
from edgekit.optimize.trials import Trial
from edgekit.progress import SilentProgress
from edgekit.recipe.loader import parse_overrides
from edgekit.stage_records import run_folder

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


def cpu_s() -> float:
    """CPU seconds of this process (imports included) and its children, every thread."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


SEED = "seed"


def seed_part(request: OptimizeRequest, keep: Path) -> None:
    """Train the models every candidate shares (the reference and the recipe's own stage
    chain: for distilbert the fine-tuned teacher and the distilled student) once, into the run
    folder of KEEP/seed, and write KEEP/seed.cpu.json. Any strategy pays this alike before its
    first candidate; ``--from-seed`` starts the grid and the search from a copy of it, so their
    costs compare the strategies, and the results add the seed's cost to both as well."""
    from edgekit.optimize.candidate import ChainMemo, DataMemo
    from edgekit.stage_keys import PipelineCache

    if (keep / SEED).exists() or run_folder(keep / SEED).exists():
        raise SystemExit(f"{keep / SEED} exists; give a new --keep")
    before, t0, quiet = load(), time.monotonic(), SilentProgress()
    recipe = make_plan(request).recipe
    held = DataMemo().get(recipe, quiet)
    cache = PipelineCache.open(recipe, keep / SEED, held.data, held.test, fresh=False,
                               progress=quiet)
    ChainMemo().get(recipe, held, cache, quiet)
    (keep / f"{SEED}.cpu.json").write_text(json.dumps(
        {"cpu_s": round(cpu_s(), 1), "total_wall_s": round(time.monotonic() - t0, 1),
         "stages": _stage_seconds(run_folder(keep / SEED)),
         "load_before": before, "load_after": load()}))


def _stage_seconds(folder: Path) -> dict[str, float]:
    """Each finished model stage's own seconds, from its record (:mod:`edgekit.stage_records`)."""
    out = {}
    for rec in sorted(folder.glob("*/record.json")):
        data = json.loads(rec.read_text())
        if data.get("status") == "done" and "seconds" in data:
            out[data["stage"]] = round(float(data["seconds"]), 1)
    return out


def plant_seed(seed: Path, bundle: Path) -> list[str]:
    """Copy the seed's model stages (not exports, proofs or trials) into ``bundle``'s fresh run
    folder; the stage cache reuses them as it would after an interrupted run."""
    src, dest = run_folder(seed), run_folder(bundle)
    if dest.exists():
        raise SystemExit(f"{dest} exists; give a new --keep (each run starts cold)")
    stages = [d for d in sorted(src.iterdir()) if d.is_dir() and (d / "record.json").is_file()
              and (d.name == "train" or d.name.startswith("stage-"))]
    if not stages:
        raise SystemExit(f"{src} holds no finished model stage; run --part seed first")
    for d in stages:
        shutil.copytree(d, dest / d.name)
    planted = [d.name for d in stages]
    (bundle.parent / f"{bundle.name}.seeded.json").write_text(json.dumps(planted))
    return planted


def run_part(request: OptimizeRequest, keep: Path, part: str, from_seed: bool = False,
             resume: bool = False) -> None:
    """One strategy's run into KEEP/PART. ``resume``: go on with a stopped run's folder (its
    trial log and stages; the stopped process's cost goes in KEEP/PART.earlier.json by hand,
    :func:`earlier`)."""
    if (keep / part).exists():
        raise SystemExit(f"{keep / part} exists; give a new --keep (each run starts cold)")
    if resume:
        if not run_folder(keep / part).is_dir():
            raise SystemExit(f"--resume: {run_folder(keep / part)} does not exist")
        seeded = keep / f"{part}.seeded.json"
        planted = json.loads(seeded.read_text()) if seeded.is_file() else []
    else:
        planted = plant_seed(keep / SEED, keep / part) if from_seed else []
    before = load()
    result = run(request, keep / part)
    (keep / f"{part}.cpu.json").write_text(json.dumps(
        {"cpu_s": round(cpu_s(), 1), "total_wall_s": result["total_wall_s"],
         "from_seed": planted, "load_before": before, "load_after": load()}))


def read_part(bundle: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A finished run's optimize.json, and its sibling BUNDLE.cpu.json (CPU seconds, loads)."""
    result = json.loads((bundle / "optimize.json").read_text())
    side = bundle.parent / f"{bundle.name}.cpu.json"
    return result, (json.loads(side.read_text()) if side.is_file() else {})


def earlier(bundle: Path) -> dict[str, Any]:
    """BUNDLE.earlier.json, written by hand when a run was stopped and resumed on its own run
    folder (the stage cache kept what it had finished): ``wall_s`` and ``cpu_s`` the stopped
    process spent on work the resumed one reused, and a ``note`` saying what happened. Both are
    added to that run's cost, so a resumed run is charged for what it reused."""
    path = bundle.parent / f"{bundle.name}.earlier.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def combine(args: argparse.Namespace, plan: Any, grid_bundle: Path, search_bundle: Path) -> None:
    """Two --part runs (run at the same time, each from a cold folder) side by side. The cost
    compared is what both optimize.json record alike: the search's wall time plus the held-out
    proof's, and the CPU seconds each process used where recorded."""
    grid, gside = read_part(grid_bundle)
    search, sside = read_part(search_bundle)
    notes = []
    for r, side, bundle in ((grid, gside, grid_bundle), (search, sside, search_bundle)):
        before_s = earlier(bundle)
        r["total_wall_s"] = round(r["search_wall_s"] + r["chosen"]["prove_wall_s"]
                                  + before_s.get("wall_s", 0), 1)
        if before_s:
            r["earlier"] = before_s
            notes.append(before_s["note"])
            if "cpu_s" in side and "cpu_s" in before_s:
                side["cpu_s"] = round(side["cpu_s"] + before_s["cpu_s"], 1)
            else:  # the stopped process's CPU seconds are unknown: no CPU comparison
                side.pop("cpu_s", None)
    before = load()
    remeasured = remeasure({"grid": grid_bundle, "search": search_bundle},
                           {"grid": grid, "search": search}, plan.target.threads,
                           args.rounds, args.per_round) if args.objective == "latency" else {}
    loads = {"grid run": gside, "search run": sside, "re-measure": {"before": before, "after": load()}}
    seeded = gside.get("from_seed") and sside.get("from_seed")
    seed = json.loads((grid_bundle.parent / f"{SEED}.cpu.json").read_text()) if seeded else None
    if seed:
        loads = {"seed run": seed, **loads}
    write_results(args, plan, grid, search, remeasured, loads,
                  cpu=(gside.get("cpu_s"), sside.get("cpu_s")), notes=tuple(notes), seed=seed)


def _chain(trial: dict[str, Any]) -> tuple[str, ...]:
    """The trial's stage chain: its compression knobs that are on, in the space's order."""
    return tuple(k for k, v in trial["applied"].items()
                 if k.startswith("compression.") and v not in OFF)


def chains_trained(result: dict[str, Any]) -> int:
    """Distinct stage chains (the stages on, with their settings) among a run's trials: what
    it paid training for."""
    return len({tuple((k, json.dumps(v, sort_keys=True)) for k, v in t["applied"].items()
                      if k.startswith("compression.") and v not in OFF)
                for t in result["trials"]})


def oracle_floor(grid: dict[str, Any]) -> float:
    """What a strategy that knew the answer would have spent, read off the grid's own trials:
    the grid's whole cost less every trial it did not need. It needs the first trial of each
    chain on the way to the chosen one (the base chain's, which computes the student's
    validation outputs; each prefix chain's, which trains its stage) and the chosen trial;
    imports, data and the held-out proof stay in. A structural bound: when the best file needs
    one of a few equally costly prunes, no search can spend much less than this."""
    chosen = grid["trials"][grid["chosen"]["trial"]]
    chain = _chain(chosen)
    prefixes = {chain[:i] for i in range(len(chain) + 1)}
    needed, seen = {chosen["number"]}, set()
    for t in grid["trials"]:
        c = _chain(t)
        if c in prefixes and c not in seen:
            seen.add(c)
            needed.add(t["number"])
    return grid["total_wall_s"] - sum(t["wall_s"] for t in grid["trials"]
                                      if t["number"] not in needed)


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
    p.add_argument("--part", choices=("grid", "search", SEED),
                   help="run only this one into KEEP/PART and write KEEP/PART.cpu.json (its CPU "
                        "seconds and load averages); --combine puts two parts side by side. On a "
                        "machine shared with other work, CPU seconds are the steadier cost")
    p.add_argument("--from-seed", action="store_true",
                   help="start --part grid/search from a copy of KEEP/seed's trained models "
                        "(--part seed makes them)")
    p.add_argument("--resume", action="store_true",
                   help="--part grid/search: go on with a stopped run in KEEP (see earlier())")
    p.add_argument("--combine", nargs=2, type=Path, metavar=("GRID_BUNDLE", "SEARCH_BUNDLE"),
                   help="write the results from two finished --part runs (their optimize.json)")
    p.add_argument("--note", action="append", default=[],
                   help="a paragraph for the results file (why the space is what it is, ...)")
    p.add_argument("--rounds", type=int, default=20, help="interleaved re-measure rounds")
    p.add_argument("--per-round", type=int, default=25)
    args = p.parse_args()
    common = dict(target=args.target, max_drop=args.max_drop, objective=args.objective,
                  quick=args.quick, overrides=parse_overrides(args.set))
    grid_req = OptimizeRequest(args.recipe, strategy="grid", **common)
    search_req = OptimizeRequest(args.recipe, strategy="tpe", trials=args.trials, **common)
    plan = make_plan(search_req)
    if args.combine:
        combine(args, plan, *args.combine)
        return
    if args.part:
        if not args.keep:
            p.error("--part needs --keep")
        if args.part == SEED:
            seed_part(search_req, args.keep)
        else:
            run_part(grid_req if args.part == "grid" else search_req, args.keep, args.part,
                     args.from_seed, args.resume)
        return
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
    loads = {"runs": {"before": load_before, "after": load_after_runs},
             "re-measure": {"after": load_after}}
    write_results(args, plan, grid, search, remeasured, loads, cpu=(None, None))


def write_results(args: argparse.Namespace, plan: Any, grid: dict[str, Any], search: dict[str, Any],
                  remeasured: dict[str, dict[str, float]], loads: dict[str, Any],
                  cpu: tuple[float | None, float | None], notes: tuple[str, ...] = (),
                  seed: dict[str, Any] | None = None) -> None:
    unit = "ms" if args.objective == "latency" else "B"
    g, s = best(grid, args.objective), best(search, args.objective)
    if remeasured:  # the goal on figures taken side by side, not minutes apart
        g, s = remeasured["grid"]["p50"], remeasured["search"]["p50"]
    within = s <= 1.1 * g
    ratio = search["total_wall_s"] / grid["total_wall_s"]
    held = search["chosen"]["heldout"]
    skipped = len(search.get("skipped", []))
    rows = [("strategy", "grid (every candidate)",
             f"TPE, at most {args.trials} trials" + (", skipping what an out chain rules out"
                                                     if "skipped" in search else "")),
            ("trials", len(grid["trials"]), len(search["trials"])),
            ("stage chains trained (the base one included)", chains_trained(grid),
             chains_trained(search)),
            ("candidates skipped untried (compressed at least as strongly as a trial whose "
             "float model was out)", "—", skipped),
            ("chosen", grid["chosen"]["file"], search["chosen"]["file"]),
            (f"chosen {args.objective} ({unit})", _fmt(g, unit), _fmt(s, unit)),
            ("chosen validation metric", grid["trials"][grid["chosen"]["trial"]]["validation"]["metric"],
             search["trials"][search["chosen"]["trial"]]["validation"]["metric"]),
            ("held-out metric / passed",
             f"{grid['chosen']['heldout']['metric']['value']:.4f} / {grid['chosen']['heldout']['passed']}",
             f"{held['metric']['value']:.4f} / {held['passed']}"),
            ("search wall (s)", grid["search_wall_s"], search["search_wall_s"]),
            ("total wall incl. held-out proof (s)", grid["total_wall_s"], search["total_wall_s"])]
    if cpu[0] is not None and cpu[1] is not None:
        rows.append(("CPU seconds of the run's process", cpu[0], cpu[1]))
    floor = oracle_floor(grid)
    rows.append(("a strategy that knew the answer: the grid less the trials it did not need (s)",
                 f"{floor:.0f} = {floor / grid['total_wall_s']:.2f} of the grid", "—"))
    cold = ratio
    if seed:  # what each would cost from a cold folder: the shared training added to both
        w = seed["total_wall_s"]
        cold = (search["total_wall_s"] + w) / (grid["total_wall_s"] + w)
        stages = ", ".join(f"{k} {v:.0f} s" for k, v in seed["stages"].items())
        rows.append((f"shared training before both, once (--part seed: {stages})", w, w))
        rows.append(("total wall with the shared training added (s)",
                     round(grid["total_wall_s"] + w, 1), round(search["total_wall_s"] + w, 1)))
    if remeasured:
        at = next(i for i, row in enumerate(rows) if row[0] == f"chosen {args.objective} ({unit})")
        rows[at] = (f"chosen latency while searching (ms, validation, p50)",
                    _fmt(best(grid, args.objective), unit), _fmt(best(search, args.objective), unit))
        rows.insert(at + 1, ("chosen latency re-measured side by side (ms, held-out inputs, p50 / p90, "
                        "threads)", *(f"{remeasured[k]['p50']:.4g} / {remeasured[k]['p90']:.4g}, "
                                      f"{remeasured[k]['threads']}" for k in ("grid", "search"))))
    side = " (re-measured side by side)" if remeasured else ""
    goals = [(f"chosen {args.objective} within 10% of the grid's best{side}", within,
              f"{_fmt(s, unit)} vs {_fmt(g, unit)} {unit} ({s / g - 1:+.1%})"),
             ("at most 1/3 of the grid's wall time"
              + (" (both from the same trained teacher and student)" if seed else ""),
              ratio <= 1 / 3, f"{ratio:.2f} of it"
              + (f"; CPU seconds {cpu[1] / cpu[0]:.2f} of the grid's" if cpu[0] and cpu[1] else "")
              + (f"; {cold:.2f} with the shared training counted in both" if seed else "")
              + f"; an oracle would need {floor / grid['total_wall_s']:.2f}"),
             ("held-out metric within budget", bool(held["passed"]),
              f"{held['metric']['value']:.4f}, baseline {held['baseline']['metric']:.4f}")]
    cmd = ("PYTHONPATH=. python benchmarks/optimize.py " + args.recipe
           + f" --objective {args.objective} --target {args.target} --max-drop {args.max_drop:g}"
           + f" --trials {args.trials}" + (" --quick" if args.quick else "")
           + "".join(f" --set '{s_}'" for s_ in args.set)
           + (f" --name {args.name}" if args.name else ""))
    if args.combine:
        g_b, s_b = args.combine
        cmds = [f"{cmd} --part grid --keep {g_b.parent}", f"{cmd} --part search --keep {s_b.parent}",
                f"{cmd} --combine {g_b} {s_b}"]
        how = ("The grid and the search ran as two processes at the same time, each from a cold "
               "run folder (first two commands), then the third put them side by side and "
               "re-measured both choices; wall time is each run's search plus its held-out "
               "proof, from its optimize.json.")
        if seed:
            cmds.insert(0, f"{cmd} --part seed --keep {g_b.parent}")
            cmds[1] += " --from-seed"
            cmds[2] += " --from-seed"
            how = ("The first command trained the models every candidate shares (the teacher and "
                   "the distilled student) once; the grid, then the search, ran one after the "
                   "other, each from its own copy of them (`--from-seed`), so the wall times "
                   "compare the strategies; the last command put them side by side and "
                   "re-measured both choices. Wall time is each run's search plus its held-out "
                   "proof, from its optimize.json; the table also adds the shared training to "
                   "both, as two cold runs would pay it.")
    else:
        cmds = [cmd + (f" --keep {args.keep}" if args.keep else "")]
        how = ("Each run starts from a cold run folder (the grid runs first, in the same process: "
               "the search gains the warm imports only).")
    load_text = "; ".join(f"{k}: " + ", ".join(f"{w} {v}" for w, v in d.items()
                                             if w.startswith(("load", "before", "after")))
                          for k, d in loads.items() if d)
    lines = [f"# edgekit optimize: {args.recipe}, --objective {args.objective}, grid vs search", "",
             *(f"Command: `{c}`  " for c in cmds), "",
             f"Space: {plan.space.size} combinations, {distinct_candidates(plan)} distinct "
             f"candidates; target {args.target}; --max-drop {args.max_drop:g}; scored on the "
             f"validation split, the choice proven once on held-out. {how}", "",
             "```", *plan.space.describe(), "```", "", *(line for n in args.note for line in (n, "")),
             f"Load average (1/5/15 min), 2 cores shared with other work: {load_text}.", "",
             *(line for n in notes for line in (n, "")),
             "| | grid | search |", "|---|---|---|",
             *(f"| {a} | {b} | {c} |" for a, b, c in rows), "", "## Goals", "",
             *(f"- {'MET' if ok else 'NOT MET'}: {name} ({detail})" for name, ok, detail in goals)]
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / (args.name or f"optimize-{args.recipe}-{args.objective}")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    stem.with_suffix(".json").write_text(json.dumps(
        {"commands": cmds, "load_average": loads, "cpu_s": {"grid": cpu[0], "search": cpu[1]},
         "seed": seed,
         "remeasured": remeasured, "goals": {n: ok for n, ok, _ in goals},
         "grid": grid, "search": search}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
