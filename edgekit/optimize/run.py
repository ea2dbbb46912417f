"""``edgekit optimize``: search the recipe's ``optimize:`` space for the artifact best on the
objective (latency on the target, or size) within the metric budget on the validation split,
then prove the chosen one once on the held-out split with ``compress`` and write it as a normal
bundle (plus ``optimize.json`` and the Pareto plot in ``report.html``).

::

    from edgekit.optimize.run import OptimizeRequest, optimize
    result = optimize(OptimizeRequest("lenet5", target="cpu", max_drop=0.01, objective="size",
                                      trials=6, quick=True), Path("export/lenet5-opt"))
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgekit.atomic import write_text
from edgekit.devices import DeviceProfile, load_device
from edgekit.errors import EdgekitError
from edgekit.optimize.chart import add_section, pareto_chart, section
from edgekit.optimize.front import OBJECTIVES, choose, front_line, pareto_front, ranked
from edgekit.optimize.score import proves_here
from edgekit.optimize.search import STRATEGIES, search
from edgekit.optimize.space import (Space, candidate_key, candidate_overrides, label, space_of)
from edgekit.optimize.trials import COMPLETE, PRUNED, Trial, TrialLog, search_folder
from edgekit.progress import Progress, SilentProgress
from edgekit.recipe.loader import load_recipe, recipe_to_yaml
from edgekit.recipe.schema import Recipe

SCHEMA = "edgekit.optimize/1"
#: How a trial is judged eligible (trials.Trial.feasible); a trial log made under another rule
#: is set aside on resume, not mixed in.
ELIGIBILITY = "validation verdict + held-out forecast (one-sided 95%)"


@dataclass(frozen=True)
class OptimizeRequest:
    recipe: str
    target: str = "cpu"
    max_drop: float = 0.01
    objective: str = "latency"
    trials: int | None = None
    budget_s: float | None = None
    quick: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    strategy: str = "tpe"
    seed: int = 0


@dataclass(frozen=True)
class Plan:
    """What the search runs over: the recipe as resolved, its raw form candidates edit, the
    space and the target."""

    recipe: Recipe
    raw: dict[str, Any]
    space: Space
    target: DeviceProfile
    where: str


def parse_budget(text: str) -> float:
    """``45m``, ``90s``, ``1.5h`` or plain seconds → seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    t = text.strip().lower()
    try:
        value = float(t[:-1]) * units[t[-1]] if t and t[-1] in units else float(t)
    except (ValueError, KeyError):
        value = -1
    if value <= 0:
        raise EdgekitError(f"--budget '{text}' is not a duration",
                           fix="write e.g. --budget 45m, 90s or 2h")
    return value


def option_fields(fmt: Any) -> set[str]:
    """The option names ``fmt``'s exporter accepts (none for an unknown format: the loader
    names that one)."""
    from edgekit.exporters import EXPORTERS

    return set(EXPORTERS.get(fmt).Options.model_fields) if fmt in EXPORTERS else set()


def make_plan(request: OptimizeRequest) -> Plan:
    """Check the request and the space before anything trains: each knob value once, as part
    of a candidate recipe the loader accepts."""
    if request.objective not in OBJECTIVES:
        raise EdgekitError(f"--objective '{request.objective}' is not one of "
                           f"{', '.join(OBJECTIVES)}", fix="use --objective latency or size")
    if request.strategy not in STRATEGIES:
        raise EdgekitError(f"--strategy '{request.strategy}' is unknown",
                           fix=f"use one of: {', '.join(STRATEGIES)}")
    if not 0 <= request.max_drop < 1:
        raise EdgekitError(f"--max-drop {request.max_drop} is outside [0, 1)",
                           fix="give the allowed loss in metric units, e.g. 0.01 for 1 point")
    target = load_device(request.target)
    recipe = load_recipe(request.recipe, quick=request.quick, overrides=request.overrides)
    where = f"recipe '{recipe.name}'"
    space = space_of(recipe.optimize, where)
    raw = yaml.safe_load(recipe_to_yaml(recipe))
    raw.setdefault("budgets", {})["max_metric_drop"] = request.max_drop
    if proves_here(target):  # the proofs run here: with the target's threads
        raw.setdefault("validation", {})["device"] = target.name
    plan = Plan(recipe, raw, space, target, where)
    _check_space(plan)
    return plan


def _check_space(plan: Plan) -> None:
    import tempfile

    from edgekit.stages import STAGES

    for knob in plan.space.knobs:
        parts = knob.path.split(".")
        if parts[0] == "compression" and len(parts) > 1 and not parts[1].isdigit() \
                and parts[1] not in STAGES:
            raise EdgekitError(f"field 'optimize.space.{knob.path}': no stage named "
                               f"'{parts[1]}'", where=plan.where,
                               fix=f"use one of: {', '.join(STAGES.names())}")
    first = {k.path: k.labels[0] for k in plan.space.knobs}
    with tempfile.TemporaryDirectory(prefix="edgekit-optimize-") as tmp:
        for knob in plan.space.knobs:
            for lab in knob.labels:
                cand, _ = candidate_overrides(plan.raw, plan.space, {**first, knob.path: lab},
                                              option_fields)
                try:
                    load_candidate(cand, Path(tmp))
                except EdgekitError as exc:
                    raise EdgekitError(f"field 'optimize.space.{knob.path}' value {lab}: "
                                       f"{exc.message}", where=plan.where, fix=exc.fix) from None


def load_candidate(raw: dict[str, Any], folder: Path) -> Recipe:
    """A derived recipe, written to ``folder/candidates`` (the search's, so that it can be
    rerun by hand with ``edgekit compress``) and loaded like any recipe file."""
    text = yaml.safe_dump(raw, sort_keys=False)
    folder = folder / "candidates"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.yaml"
    if not path.is_file():
        write_text(path, text)
    return load_recipe(path)


def distinct_candidates(plan: Plan) -> int:
    """Combinations that differ in a knob that applies (a fallback threshold on an fp32 file
    does not): the trials an exhaustive grid costs."""
    return len({candidate_key(candidate_overrides(plan.raw, plan.space, p, option_fields)[1])
                for p in plan.space.grid()})


def dry_run_lines(plan: Plan, request: OptimizeRequest) -> list[str]:
    return [f"recipe {plan.recipe.name}: {len(plan.space.knobs)} knobs", *plan.space.describe(),
            f"  {distinct_candidates(plan)} distinct candidates (a knob that does not apply to "
            "a candidate adds none)",
            f"objective: {request.objective} on {plan.target.name}, at most "
            f"{request.max_drop:g} ({plan.recipe.budgets.metric or 'the task metric'}) below "
            f"{plan.recipe.budgets.baseline} on the validation split"]


def optimize(request: OptimizeRequest, out: Path, progress: Progress | None = None, *,
             plan: Plan | None = None) -> dict[str, Any]:
    """Run the search (resuming an interrupted one), prove the choice, write the bundle at
    ``out``; return optimize.json's content."""
    progress = progress or SilentProgress()
    plan = plan or make_plan(request)
    out = Path(out)
    folder = search_folder(out)
    folder.mkdir(parents=True, exist_ok=True)
    return _optimize(request, plan, out, folder, progress)


def _settings(request: OptimizeRequest, plan: Plan) -> dict[str, Any]:
    return json.loads(json.dumps({
        "recipe": recipe_to_yaml(plan.recipe), "target": plan.target.name,
        "max_drop": request.max_drop, "objective": request.objective,
        "eligibility": ELIGIBILITY,
        "space": {k.path: list(k.labels) for k in plan.space.knobs}}))


def _optimize(request: OptimizeRequest, plan: Plan, out: Path, folder: Path,
              progress: Progress) -> dict[str, Any]:
    from edgekit.optimize.candidate import ChainMemo, DataMemo, run_candidate
    from edgekit.pipeline import compress

    log = TrialLog(out, _settings(request, plan))
    known = log.read()
    by_key = {candidate_key(t.applied): t for t in known}
    if known:
        progress.note(f"resuming: {len(known)} trials already finished ({log.path})")
    memo, chains = DataMemo(), ChainMemo()
    want = min(request.trials or distinct_candidates(plan), distinct_candidates(plan))
    quiet = SilentProgress()
    started = time.monotonic()
    metric = memo.get(plan.recipe, quiet).metric  # candidates share the data: loaded once
    metric_name, higher = metric.name, metric.higher_is_better

    def evaluate(params: dict[str, str]) -> tuple[Trial, bool]:
        cand, applied = candidate_overrides(plan.raw, plan.space, params, option_fields)
        key = candidate_key(applied)
        if key in by_key:
            return by_key[key], False
        recipe = load_candidate(cand, folder)
        shown = ", ".join(f"{k}={label(v)}" for k, v in applied.items())
        t0 = time.perf_counter()
        with progress.stage(f"trial {len(known) + 1}/{want}", shown):
            outcome = run_candidate(recipe, out, plan.target, memo, folder / "scratch", quiet,
                                    chains)
        trial = Trial(number=len(known), params=params, applied=applied,
                      status=PRUNED if outcome.pruned else COMPLETE,
                      keras_drop=outcome.keras_drop,
                      float_forecast=(outcome.float_forecast.to_json()
                                      if outcome.float_forecast else None),
                      validation=outcome.score.to_json() if outcome.score else None,
                      latency_ms=outcome.latency.ms if outcome.latency else None,
                      latency_source=outcome.latency.source if outcome.latency else None,
                      latency_detail=outcome.latency.detail if outcome.latency else None,
                      size_bytes=outcome.size_bytes, artifact=outcome.artifact,
                      wall_s=round(time.perf_counter() - t0, 3))
        log.append(trial)
        known.append(trial)
        by_key[key] = trial
        progress.note(_trial_line(trial, metric_name))
        progress.note(front_line(pareto_front(known, higher), metric_name))
        return trial, True

    keys: dict[str, str] = {}

    def key(params: dict[str, str]) -> str:
        text = label(params)
        if text not in keys:
            keys[text] = candidate_key(candidate_overrides(plan.raw, plan.space, params,
                                                           option_fields)[1])
        return keys[text]

    left = search(plan.space, evaluate, known, strategy=request.strategy, trials=want,
                  timeout_s=request.budget_s, objective=request.objective,
                  higher_is_better=higher, key=key, seed=request.seed)
    skipped = left.skipped
    if left.not_started:
        progress.note(f"--budget: {len(left.not_started)} candidates of untrained chains not "
                      "started: at the cost of the dearest chain so far they would not finish "
                      "in time")
    if skipped:
        progress.note(f"skipped {len(skipped)} candidates untried: each compressed at least "
                      "as strongly as a trial whose float model was already out ("
                      + ", ".join(sorted({f"#{s.by}" for s in skipped})) + ")")
    search_s = time.monotonic() - started
    front = pareto_front(known, higher)
    chosen = choose(known, request.objective, higher)
    result: dict[str, Any] = {
        "schema": SCHEMA, "recipe": plan.recipe.name, "target": plan.target.name,
        "objective": request.objective, "max_drop": request.max_drop,
        "metric": metric_name, "higher_is_better": higher,
        "baseline": plan.recipe.budgets.baseline,
        "strategy": request.strategy, "scored_on": "validation split",
        "eligibility": ELIGIBILITY,
        "space": {k.path: list(k.labels) for k in plan.space.knobs},
        "space_size": plan.space.size, "search_wall_s": round(search_s, 3),
        "trials": [t.to_json() for t in known], "front": [t.number for t in front],
        "skipped": [{"params": s.params, "by": s.by} for s in skipped],
        "not_started": left.not_started,
        "chosen": None}
    if chosen is None:
        write_text(folder / "optimize.json", json.dumps(result, indent=2))
        raise EdgekitError(f"no candidate of {len(known)} stayed within the budget on the "
                           f"validation split", where=folder / "optimize.json",
                           fix="allow a larger --max-drop, or widen the optimize: space")
    recipe = load_candidate(candidate_overrides(plan.raw, plan.space, chosen.params,
                                                      option_fields)[0], folder)
    progress.note(f"chosen: trial #{chosen.number} ({_trial_line(chosen, metric_name)}); "
                  "proving it once on the held-out split")
    t0 = time.monotonic()
    report = compress(recipe, out, progress)
    art = report["artifacts"][0]
    result["chosen"] = {"trial": chosen.number, "applied": chosen.applied, "file": art["file"],
                        "recipe": recipe_to_yaml(recipe),
                        "heldout": {"metric": art["metric"], "baseline": art["baseline"],
                                    "passed": art["passed"], "latency_ms": art["latency_ms"],
                                    "size_bytes": art["size_bytes"]},
                        "prove_wall_s": round(time.monotonic() - t0, 3)}
    if not art["passed"]:  # proven once: the next eligible ones are named, not proven here
        rest = [t for t in ranked(known, request.objective, higher) if t.number != chosen.number]
        result["chosen"]["next_eligible"] = [t.number for t in rest[:3]]
        progress.note("the chosen artifact FAILED its held-out proof; next eligible: "
                      + (", ".join(_trial_line(t, metric_name) for t in rest[:3]) or "none"))
        assert chosen.validation is not None
        seen = {"validation": chosen.validation["baseline_metric"],
                "heldout": art["baseline"]["metric"]}
        result["chosen"]["baseline_metric"] = seen
        progress.note(f"the baseline ({chosen.validation['baseline']}) scored {metric_name} "
                      f"{seen['validation']:.4f} on validation and {seen['heldout']:.4f} on "
                      "held-out: a gap beyond both splits' noise means validation does not look "
                      "like held-out, and choices made on it need not carry over (a GLUE-style "
                      "text folder can draw validation from dev: "
                      "data.params.validation_from_heldout)")
    _write_bundle_extras(out, result, known, front, chosen, request)
    return result


def _trial_line(t: Trial, metric: str) -> str:
    if t.validation is None:
        return f"#{t.number} pruned: float model already {t.keras_drop:+.4f} below on validation"
    v = t.validation
    lat = f"{t.latency_ms:.3f} ms {t.latency_source}" if t.latency_ms is not None else "no latency"
    verdict = ("within budget" if t.feasible else
               "within budget on validation, but forecast to fail held-out" if v["passed"]
               else "out of budget")
    if t.float_out:
        verdict += "; its float model is already forecast to fail held-out"
    return (f"#{t.number} {t.artifact}: {metric} {v['metric']:.4f} (drop {v['drop']:+.4f}), "
            f"{lat}, {t.size_bytes:,} B, {verdict}")


def _write_bundle_extras(out: Path, result: dict[str, Any], known: list[Trial],
                         front: list[Trial], chosen: Trial, request: OptimizeRequest) -> None:
    """optimize.json and the plot's section in report.html, then those two files' manifest
    entries. The bundle is verified first and only the files written here are re-hashed
    (:func:`~edgekit.bundle_integrity.refresh_manifest`): re-hashing the whole folder would
    vouch for anything that landed in it since ``compress`` finished."""
    from edgekit.bundle_integrity import refresh_manifest, verify_bundle

    verify_bundle(out)
    write_text(out / "optimize.json", json.dumps(result, indent=2))
    chart = pareto_chart(known, front, chosen, objective=request.objective,
                         metric=result["metric"], max_drop=request.max_drop,
                         higher_is_better=result["higher_is_better"])
    held = result["chosen"]["heldout"]
    lines = [f"{len(known)} trials over a space of {result['space_size']} ({result['strategy']}), "
             f"{result['search_wall_s']:.0f} s",
             f"front: trials {', '.join('#' + str(t.number) for t in front)}",
             f"chosen: #{chosen.number} {chosen.artifact}, held-out {result['metric']} "
             f"{held['metric']['value']:.4f}, {'passed' if held['passed'] else 'FAILED'}"]
    page = (out / "report.html").read_text(encoding="utf-8")
    write_text(out / "report.html", add_section(page, section(chart, lines)))
    refresh_manifest(out, [out / "optimize.json", out / "report.html"])
