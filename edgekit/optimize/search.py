"""Which candidates to try: optuna's TPE sampler (multi-objective: the objective down and the
validation metric up, with the budgets as a constraint), or every combination (``grid``, the
benchmark's yardstick).

The first trial is the space's start (:meth:`Space.start`: no optional stage, the recipe's
first choice of everything else): its chain is the budget's baseline, trained anyway, so it
costs seconds. Without it the SST-2 search's first four draws trained five structured prunes
(100-200 s each) before its fifth reached the unpruned student, the only chain whose files
were eligible: 0.76 of the grid's wall time
(benchmarks/results/optimize-distilbert-latency-nostart.md).

Then come the space's probes (:meth:`Space.probes`: each monotone knob one step stronger than
the start), and every candidate at least as strongly compressed as one whose float model was
already out is skipped untried (:meth:`Space.dominates`). On the SST-2 space TPE alone, with
the start, trained 6 of 9 chains where the mildest FFN prune and the mildest head prune
already ruled out the other 6 (0.92 of the grid's wall time,
benchmarks/results/optimize-distilbert-latency-tpe.md); with the probes and the skips it trained
3 chains in 0.31 of it (benchmarks/results/optimize-distilbert-latency.md). The grid skips
nothing: it is the yardstick.

TPE, not NSGA-II: NSGA-II needs a population of tens per generation before it improves on
random sampling, more trials than a search of minutes gets; TPE models good and bad regions
from the first few. optuna is an optional dependency (``pip install 'edgekit[optimize]'``),
imported only here, when a search runs.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.optimize.front import objective_value
from edgekit.optimize.space import Space
from edgekit.optimize.trials import PRUNED, Trial

STRATEGIES = ("tpe", "grid")
CONSTRAINT = "budget"  # optuna's constraint name: > 0 when out of budget on validation

#: evaluate(params) -> (the trial, whether it was computed now rather than found)
Evaluate = Callable[[dict[str, str]], tuple[Trial, bool]]
#: key(params) -> the candidate's identity (two params whose applied knobs agree share it)
Key = Callable[[dict[str, str]], str]
#: How many asks in a row may bring nothing new before the next untried candidate in grid
#: order is taken instead (TPE re-proposes its best points once most of a space is known)
PATIENCE = 50


@dataclass(frozen=True)
class Left:
    """What a search left untried on purpose: ``skipped``, ruled out by a trial; ``not_started``,
    candidates of untrained chains that would not have finished within ``--budget`` (a chain
    is estimated at the dearest chain the search has trained so far)."""

    skipped: list["Skip"]
    not_started: list[dict[str, str]]


@dataclass(frozen=True)
class Skip:
    """A candidate left untried: compressed at least as strongly as trial ``by``, whose float
    model was already out."""

    params: dict[str, str]
    by: int


def dominated(space: Space, params: dict[str, str], known: list[Trial]) -> Trial | None:
    """The first known trial whose float model was out and that ``params`` is at least as
    strongly compressed as (:meth:`Space.dominates`), or None."""
    return next((t for t in known if t.float_out and space.dominates(t.params, params)), None)


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise EdgekitError("the search needs optuna, which is not installed",
                           fix="pip install 'edgekit[optimize]' (or pip install optuna), "
                           "or use --strategy grid") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _constraint(t: Trial) -> float:
    """optuna's constraint value: <= 0 is feasible; else how far out (the drop, or the
    forecast's bound on it), so TPE learns which region is nearly in budget."""
    if t.feasible:
        return 0.0
    if t.validation is None:
        return max(t.keras_drop, 1e-6)
    return max(t.validation["drop"], t.validation["forecast"]["drop_high"], 1e-6)


def _values(t: Trial, objective: str, higher_is_better: bool) -> list[float]:
    value = objective_value(t, objective)
    assert t.validation is not None
    return [value if value is not None else float("inf"), t.validation["metric"]]


def _chain(space: Space, params: dict[str, str]) -> tuple[str, ...]:
    """What a candidate trains: its compression knobs."""
    return tuple(params[k.path] for k in space.knobs if k.path.startswith("compression."))


def fits(space: Space, params: dict[str, str], known: list[Trial], left_s: float | None) -> bool:
    """Whether the candidate can finish in ``left_s``: always when its chain is trained (its
    files cost seconds) or nothing is known yet; else when the dearest chain trained so far
    (its first trial's wall time) would. A trial is not stopped halfway, so without this a
    search whose budget ran out mid-training overran by a whole chain."""
    if left_s is None:
        return True
    opened: dict[tuple[str, ...], float] = {}
    for t in known:
        opened.setdefault(_chain(space, t.params), t.wall_s)
    if not opened or _chain(space, params) in opened:
        return True
    return max(opened.values()) <= left_s


def search(space: Space, evaluate: Evaluate, known: list[Trial], *, strategy: str,
           trials: int | None, timeout_s: float | None, objective: str,
           higher_is_better: bool, key: Key, seed: int = 0,
           clock: Callable[[], float] = time.monotonic) -> Left:
    """Evaluate candidates until ``trials`` distinct ones are known (those of an earlier,
    interrupted run count; at most the space's distinct candidates), every combination was
    tried, skipped or cannot finish within ``timeout_s`` (:func:`fits`), or ``timeout_s`` has
    passed. Returns what was left untried on purpose."""
    started = clock()

    def left_s() -> float | None:
        return None if timeout_s is None else timeout_s - (clock() - started)

    def stop() -> bool:
        left = left_s()
        return left is not None and left <= 0

    want = min(trials or space.size, space.size)
    if strategy == "grid":  # the yardstick: every candidate in order, until the deadline
        for params in space.grid():
            if len(known) >= want or stop():
                break
            evaluate(params)
        return Left([], [])
    optuna = _optuna()
    dists = {k.path: optuna.distributions.CategoricalDistribution(list(k.labels))
             for k in space.knobs}
    with warnings.catch_warnings():  # multivariate TPE is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=max(2, min(10, want // 3)), multivariate=True)
    directions = ["minimize", "maximize" if higher_is_better else "minimize"]
    study = optuna.create_study(directions=directions, sampler=sampler)
    for t in known:  # a resumed search starts from what the interrupted one learned
        study.add_trial(_frozen(optuna, t, dists, objective, higher_is_better))
    tried = {key(t.params) for t in known}
    for params in [space.start(), *space.probes()]:  # cheap, widest answers first
        if key(params) not in tried:
            study.enqueue_trial(params)
    idle = 0
    late: dict[str, dict[str, str]] = {}  # asked for, but its chain would not finish in time

    def untried() -> list[dict[str, str]]:
        return [p for p in space.grid() if key(p) not in tried
                and dominated(space, p, known) is None and fits(space, p, known, left_s())]

    while len(known) < want and not stop():
        if idle >= PATIENCE:  # TPE keeps proposing what is known: take the next untried
            rest = untried()
            if not rest:
                break
            study.enqueue_trial(rest[0])
            idle = 0
        ot = study.ask(dists)
        params = {k: str(v) for k, v in ot.params.items()}
        by = None if key(params) in tried else dominated(space, params, known)
        if by is not None:
            ot.set_constraint(CONSTRAINT, _constraint(by))
            study.tell(ot, state=optuna.trial.TrialState.PRUNED)
            idle += 1
            continue
        if key(params) not in tried and not fits(space, params, known, left_s()):
            late[key(params)] = params
            study.tell(ot, state=optuna.trial.TrialState.PRUNED)
            idle += 1
            continue
        trial, new = evaluate(params)
        tried.add(key(params))
        idle = 0 if new else idle + 1
        ot.set_constraint(CONSTRAINT, _constraint(trial))
        if trial.status == PRUNED:
            study.tell(ot, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(ot, _values(trial, objective, higher_is_better))
    skipped = ruled_out(space, known, tried, key)
    ruled = {key(s.params) for s in skipped}
    return Left(skipped, [p for k, p in late.items() if k not in tried and k not in ruled])


def ruled_out(space: Space, known: list[Trial], tried: set[str], key: Key) -> list[Skip]:
    """Every distinct candidate not tried that a known trial rules out (asked for or not)."""
    out: dict[str, Skip] = {}
    for params in space.grid():
        k = key(params)
        if k not in tried and k not in out:
            by = dominated(space, params, known)
            if by is not None:
                out[k] = Skip(params, by.number)
    return list(out.values())


def _frozen(optuna: Any, t: Trial, dists: dict[str, Any], objective: str,
            higher_is_better: bool) -> Any:
    state = optuna.trial.TrialState
    c = _constraint(t)
    common = {"params": t.params, "distributions": dists,
              "system_attrs": {f"constraints:{CONSTRAINT}": c}}
    if t.status == PRUNED:
        return optuna.trial.create_trial(state=state.PRUNED, **common)
    return optuna.trial.create_trial(values=_values(t, objective, higher_is_better), **common)
