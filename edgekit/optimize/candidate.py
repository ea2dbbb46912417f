"""One candidate: a derived recipe run through ``compress``'s own steps (data, train, stages,
export) against the run folder of the bundle being optimized, so every stage another candidate
already finished comes from the stage cache (the reference and a distilled student are trained
once for the whole search) and the final ``compress`` of the chosen one reuses them too.

What differs from ``compress``: the artifact is proven on the **validation** split
(:mod:`edgekit.optimize.score` says why), and a candidate whose float model is already out of
budget on validation stops before its export (a prune that lost the points is not worth
converting).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import _tf
from edgekit.devices import DeviceProfile, load_device
from edgekit.exporters import EXPORTERS
from edgekit.families import FAMILIES
from edgekit.optimize.score import (Forecast, Latency, ValidationScore, float_forecast,
                                    keras_drop, score_artifact, target_latency)
from edgekit.paths import inside
from edgekit.pipeline import HeldOutData, ModelStates, load_step, stages_step, train_step
from edgekit.progress import Progress
from edgekit.recipe.schema import Recipe
from edgekit.stage_keys import PipelineCache
from edgekit.strategy import make_strategy
from edgekit.device.runtimes import RUNTIMES
from edgekit.tasks import TASKS
from edgekit.threads import settled_device
from edgekit.training import TrainContext, predict
from edgekit.validation.prove import Baseline, ProofSettings


@dataclass
class Outcome:
    """What one candidate came to: ``pruned`` (stopped before export) with the float model's
    drop, or a validation score, latency and size."""

    pruned: bool
    keras_drop: float
    float_forecast: Forecast | None = None  # the float model's own (score.float_forecast)
    score: ValidationScore | None = None
    latency: Latency | None = None
    size_bytes: int | None = None
    artifact: str | None = None


class DataMemo:
    """The data step's result per data section: candidates that share it load it once."""

    def __init__(self) -> None:
        self._held: dict[str, HeldOutData] = {}

    def get(self, recipe: Recipe, progress: Progress) -> HeldOutData:
        key = recipe.data.model_dump_json()
        if key not in self._held:
            self._held[key] = load_step(recipe, progress)
        return self._held[key]


@dataclass
class Chain:
    """One stage chain (the reference and the stages a candidate runs, in order) as its steps
    left it: the models, their stage-cache keys (export keys derive from them) and their
    outputs on the validation split."""

    states: ModelStates
    model_keys: dict[str, str]
    val_out: dict[str, np.ndarray]
    # each exported model's own forecast, by (model, budgets): its files share it, and the
    # drop's bootstrap is not redone for each of them
    forecasts: dict[tuple[str, str], Forecast] = field(default_factory=dict)


class ChainMemo:
    """Each stage chain's models, loaded and run over the validation split once per search.

    Candidates that differ only in the export choice or a validation setting (threads) share
    the chain. Without the memo every candidate re-read each model of its chain from the stage
    cache and predicted the whole validation split with each: on the SST-2 grid (3,368
    validation sentences, a 6-layer teacher and its students) that cost about 10 minutes a
    candidate on two shared cores, more than the candidate's own export and proof."""

    def __init__(self) -> None:
        self._chains: dict[str, Chain] = {}
        self.loaded = 0  # chains built (read from the cache or trained): what the memo saves

    @staticmethod
    def key(recipe: Recipe) -> str:
        """What the chain's models depend on: model, training, data and the stages' entries."""
        return json.dumps([recipe.model.model_dump(mode="json"),
                           recipe.train.model_dump(mode="json"),
                           recipe.data.model_dump(mode="json"),
                           [e.model_dump(mode="json") for e in recipe.compression]],
                          sort_keys=True)

    def get(self, recipe: Recipe, held: HeldOutData, cache: PipelineCache,
            progress: Progress) -> Chain:
        """The chain of ``recipe``, trained or read from ``cache`` the first time; ``cache``
        learns the chain's model keys either way (its export keys need them)."""
        key = self.key(recipe)
        chain = self._chains.get(key)
        if chain is None:
            ctx = TrainContext(data=held.data, train=recipe.train,
                               strategy=make_strategy(recipe.train.strategy))
            states = ModelStates()
            # both steps also note held-out figures of the float models; the search reads none
            train_step(recipe, held, ctx, cache, states, progress)
            stages_step(recipe, held, ctx, cache, states, progress)  # cached stages: reused
            val = held.data.val
            # every stage fine-tunes a copy (edgekit.stages._wrap), so each model is still as
            # its step left it; 'final' is the last stage's model, or the reference
            val_out = {name: predict(model, val) for name, model in states.models.items()
                       if name != "final"}
            val_out["final"] = val_out[recipe.compression[-1].stage] if recipe.compression \
                else val_out["reference"]
            chain = self._chains[key] = Chain(states, dict(cache.model_keys), val_out)
            self.loaded += 1
        else:
            cache.model_keys.update(chain.model_keys)
        return chain


def baseline_on(recipe: Recipe, model_name: str, metric: Any, val_out: dict[str, np.ndarray],
                val: Any) -> Baseline:
    """The budget's baseline on validation: the same model ``ProofPlan.baseline_for`` picks."""
    order = ["reference", *(e.stage for e in recipe.compression)]
    idx = order.index(order[-1] if model_name == "final" else model_name)
    name = order[min(idx, order.index(recipe.budgets.baseline))]
    return Baseline(name, metric.evaluate(val_out[name], val), val_out[name])


def run_candidate(recipe: Recipe, out: Path, target: DeviceProfile, memo: DataMemo,
                  scratch: Path, progress: Progress, chains: ChainMemo | None = None) -> Outcome:
    """Train/reuse, compress/reuse, and (unless hopeless) export/reuse and score the one
    artifact ``recipe.export[0]``. ``chains`` keeps each stage chain's models and validation
    outputs for the next candidate that shares them (a search passes one for all)."""
    _tf.set_seed(recipe.train.seed)
    held = memo.get(recipe, progress)
    cache = PipelineCache.open(recipe, out, held.data, held.test, fresh=False, progress=progress)
    chain = (chains or ChainMemo()).get(recipe, held, cache, progress)
    states, val_out, val = chain.states, chain.val_out, held.data.val
    exp = recipe.export[0]
    baseline = baseline_on(recipe, exp.model, held.metric, val_out, val)
    float_drop = keras_drop(held.metric, baseline, val_out[exp.model], val)
    if float_drop > recipe.budgets.max_metric_drop:
        return Outcome(pruned=True, keras_drop=float_drop)
    task = TASKS.get(held.data.task)
    mine = (exp.model, recipe.budgets.model_dump_json())
    if mine not in chain.forecasts:
        chain.forecasts[mine] = float_forecast(task, held.metric, baseline, val_out[exp.model],
                                               val, recipe.budgets, len(held.test), float_drop)
    own = chain.forecasts[mine]
    exporter = EXPORTERS.get(exp.format)
    runtime = RUNTIMES.get(exporter.runtime)
    family = FAMILIES.get(recipe.family)
    dest = inside(scratch, f"artifacts/{exp.stem(recipe.name)}{exporter.suffix}",
                  what="artifact file", fix="give the export a plain 'name:'")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with progress.stage(f"export {dest.name}"):
        art = cache.export(exp, dest, lambda: exporter.export(
            states.models[exp.model], exp.precision, dest, held.data.train,
            exp.options, family=family, tuning=val))
    size = sum(f.stat().st_size for f in art.files)
    device = settled_device(load_device(recipe.validation.device), recipe.validation.threads)
    v = recipe.validation
    settings = ProofSettings(threads=device.threads, warmup=v.warmup, runs=v.runs,
                             target=device.name)
    with progress.stage(f"score {dest.name}", "on the validation split"):
        score, proof = score_artifact(
            art.path, art.precision, runtime, val, task=task,
            metric=held.metric, reference_out=val_out["reference"],
            source_out=val_out[exp.model], baseline=baseline, budgets=recipe.budgets,
            size=size, settings=settings, atol_table=family.conversion_atol,
            n_heldout=len(held.test))
        latency = target_latency(art.path, proof, settled_device(target, recipe.validation.threads),
                                 val, scratch)
    return Outcome(pruned=False, keras_drop=float_drop, float_forecast=own, score=score,
                   latency=latency, size_bytes=size, artifact=dest.name)
