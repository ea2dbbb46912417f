"""The compression pipeline: recipe → trained reference → compression stages → artifacts →
proof of each artifact on its runtime → bundle with ``report.json`` and ``report.html``.

This is the library entry point the CLI and notebooks share::

    from edgekit.pipeline import compress
    from edgekit.recipe import load_recipe
    report = compress(load_recipe("lenet5", quick=True), Path("export/lenet5"))
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import edgekit
from edgekit import _tf, resources
from edgekit.device import hardware, heldout
from edgekit.atomic import write_text
from edgekit.data import DATASETS, Dataset, Split, SplitPlan, check_classes
from edgekit.data.split_report import class_names, describe as describe_splits
from edgekit.data.split_report import console_lines as split_console_lines
from edgekit.devices import DeviceProfile, load_device
from edgekit.errors import EdgekitError
from edgekit.exporters import EXPORTERS
from edgekit.families import FAMILIES, FamilySpec
from edgekit.models import MODELS
from edgekit.outdir import bundle_folder
from edgekit.paths import inside
from edgekit.progress import Progress, SilentProgress
from edgekit.recipe.schema import ExportEntry, Recipe
from edgekit.report.build import (VERDICT_RULE, artifact_result, environment, flag_sizes,
                                  run_passed, weights_nbytes)
from edgekit.report.html import render
from edgekit.report.model import (ArtifactResult, DatasetRecord, ExpectedResources,
                                  ReferenceResult, Report, ResourcesRecord, StageResult)
from edgekit.stage_keys import PipelineCache
from edgekit.stage_records import RunCache, run_folder
from edgekit.device.runtimes import RUNTIMES
from edgekit.stages import STAGES
from edgekit.strategy import Role, chief_decides, make_strategy, peer_failures, role_of
from edgekit.tasks import TASKS, Metric
from edgekit.threads import settled_device
from edgekit.training import TrainContext, compile_model, count_params, fit, lr_schedule
from edgekit.validation.prove import Baseline, Proof, ProofSettings, prove
from edgekit.validation.verdict import budget_metric, class_report, drop_text, resolution_warning
from edgekit.bundle_integrity import write_manifest


@dataclass
class ModelStates:
    """Every model of the run by name: 'reference', each stage's output, and 'final'."""

    models: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)


def budget_metric_for(recipe: Recipe, data: Dataset) -> Metric:
    """The metric the budgets are on, checked against the task the data poses (known only
    once it loads, still before training): one line naming ``budgets.metric`` if it has none."""
    task = TASKS.get(data.task)
    try:
        metric = budget_metric(task, recipe.budgets)
    except ValueError as exc:
        raise EdgekitError(f"field 'budgets.metric': {exc}", where=f"recipe '{recipe.name}'",
                           fix="pick a metric of that task, or drop budgets.metric") from None
    if metric.classes_needed and data.num_classes and metric.classes_needed > data.num_classes:
        raise EdgekitError(f"field 'budgets.metric': '{metric.name}' names a class the data "
                           f"does not have (it has {data.num_classes})",
                           where=f"recipe '{recipe.name}'",
                           fix=f"use a class index below {data.num_classes}")
    return metric


def proof_line(metric: Metric, proof: Proof, size: int, baseline: Baseline) -> str:
    """The console line for one proven artifact: the metric and its drop with the 95%
    interval, agreement with its interval, latency, size, then ``pass`` or the failed checks
    as sentences."""
    drop = metric.drop(baseline.metric, proof.metric)
    agree = proof.baseline_agreement_interval
    return (f"{metric.name} {proof.metric:.4f}, drop vs {baseline.name} "
            f"{drop_text(drop, proof.drop_interval, metric.share)}, "
            f"agreement {proof.baseline_agreement:.4f} (95% CI {agree.low:.4f} to "
            f"{agree.high:.4f}), p50 {proof.latency.p50:.3f} ms, {size:,} B: "
            f"{proof.verdict.summary()}")


def check_runtimes(recipe: Recipe) -> None:
    """Fail before training if a runtime needed to prove an artifact is missing."""
    for exp in recipe.export:
        runtime = RUNTIMES.get(EXPORTERS.get(exp.format).runtime)
        reason = runtime.missing()
        if reason:
            raise EdgekitError(f"cannot prove {exp.format} artifacts: {reason}",
                               fix=f"pip install the runtime, or drop {exp.format} from 'export'")


def load_data(recipe: Recipe) -> Dataset:
    loader = DATASETS.get(recipe.data.dataset)
    plan = SplitPlan(recipe.data.test_fraction, recipe.data.val_fraction, recipe.data.seed,
                     dedup=recipe.data.dedup)
    data = loader.load(recipe.data.params, plan)
    check_classes(data)  # before training: one class trains to accuracy 1.0 and proves nothing
    return data


def train_reference(recipe: Recipe, data: Dataset, ctx: TrainContext) -> Any:
    builder = MODELS.get(recipe.model.builder)
    with ctx.strategy.scope():
        model = builder.build(recipe.model.params, data)
        compile_model(model, ctx)
    fit(model, ctx, recipe.train.epochs, callbacks=lr_schedule(recipe.train))
    return model


def _save_heldout(bundle: Path, data: Dataset, reference_out: np.ndarray) -> str:
    """The held-out inputs, labels and reference outputs, so a bundle can be re-proven later
    (on another target) without the training data; stored uncompressed, one ``.npy`` per
    array, so that re-proving maps them instead of loading them (:mod:`edgekit.device.heldout`)."""
    arrays = {f"{heldout.INPUT_PREFIX}{k}": v for k, v in data.test.x.items()}
    if "test_texts" in data.extra:  # raw text, so a device runner's tokenisation can be checked
        arrays["texts"] = np.asarray(data.extra["test_texts"], dtype=str)
    heldout.write(bundle / heldout.FOLDER, {"y": data.test.y, "reference": reference_out, **arrays})
    return heldout.FOLDER


@dataclass(frozen=True)
class HeldOutData:
    """The data step's result: the data, the held-out split the proofs run on (capped by
    ``validation.max_examples``), the metric the budgets are on and what the splits hold."""

    data: Dataset
    test: Split
    metric: Metric
    split_report: dict[str, Any]
    unresolved: str | None  # the warning when the held-out split cannot resolve the budget


@dataclass(frozen=True)
class ResourcePlan:
    """The resources step's result: what the run is expected to need, and the free disk of
    the bundle's volume (both go into the report)."""

    expected: resources.Expected
    free_disk: int


@dataclass(frozen=True)
class ProofPlan:
    """What every artifact's export and proof shares: the run's models, the reference's
    metric, the cache, and where and how the proofs run."""

    recipe: Recipe
    held: HeldOutData
    states: ModelStates
    reference_value: float
    cache: PipelineCache
    device: DeviceProfile  # threads settled (edgekit.threads)
    bundle: Path
    here: str  # "this machine: <CPU> (<arch>)": every proof runs here

    @property
    def settings(self) -> ProofSettings:
        v = self.recipe.validation
        return ProofSettings(threads=self.device.threads, warmup=v.warmup, runs=v.runs,
                             target=self.device.name)

    def baseline_for(self, model_name: str) -> Baseline:
        """The budget's baseline, or the artifact's own source if that comes earlier (a
        teacher's artifact is judged against the teacher, not the student)."""
        order = ["reference", *(e.stage for e in self.recipe.compression)]
        idx = order.index(order[-1] if model_name == "final" else model_name)
        name = order[min(idx, order.index(self.recipe.budgets.baseline))]
        outputs = self.states.outputs[name]
        return Baseline(name, self.held.metric.evaluate(outputs, self.held.test), outputs)


def compress(recipe: Recipe, out: Path, progress: Progress | None = None, *,
             fresh: bool = False, strategy: Any = None) -> dict[str, Any]:
    """Run the whole recipe and write the bundle at ``out`` atomically; return the report
    (report.json's content, :class:`edgekit.report.model.Report`).

    Finished stages are kept in a run folder next to ``out`` and reused by the next run of the
    same recipe (see :mod:`edgekit.stage_records`); ``fresh=True`` starts from scratch.

    ``strategy`` is the recipe's ``train.strategy``, made before any TensorFlow op (a
    multi-worker one cannot be made later: :mod:`edgekit.strategy`); left out, it is made here,
    first. A non-chief worker of a multi-worker run trains with the chief, writes nothing and
    returns ``{"worker": {"index", "count", "note"}}`` instead of a report.
    """
    strategy = strategy if strategy is not None else make_strategy(recipe.train.strategy)
    role = role_of(strategy)
    progress = progress or SilentProgress()
    if not role.is_chief:
        return train_as_worker(recipe, strategy, role, progress)
    device = settled_device(load_device(recipe.validation.device), recipe.validation.threads)
    check_runtimes(recipe)
    _tf.set_seed(recipe.train.seed)

    resources.reset_peak_rss()
    with bundle_folder(out) as bundle:
        held = load_step(recipe, progress)
        needs = resources_step(recipe, held.data, out, progress)
        ctx = TrainContext(data=held.data, train=recipe.train, strategy=strategy)
        cache = PipelineCache.open(recipe, out, held.data, held.test, fresh=fresh,
                                   progress=progress)
        states = ModelStates()
        with peer_failures(role):
            # Several workers: the chief may skip a model stage only if it skips them all
            # (the workers then have nothing to train); otherwise every worker trains each.
            # One process reuses every finished stage it can (a resumed run, optimize's proof).
            if role.count > 1:
                cache.cache.reuse_models = chief_decides(strategy, cache.models_all_done())
            reference_value = train_step(recipe, held, ctx, cache, states, progress)
            stages = stages_step(recipe, held, ctx, cache, states, progress)
            if role.count > 1:  # the rest runs here alone: no collective op from here on
                states.models = cache.detached(states.models)
        hw = hardware.detect()  # the machine every proof below runs on
        plan = ProofPlan(recipe, held, states, reference_value, cache, device, bundle,
                         here=f"this machine: {hardware.machine_name(hw)}")
        artifacts = export_step(plan, progress)
        extras = extras_step(recipe, bundle, states, held.data, progress, device.threads)
        with progress.stage("report"):
            heldout_file = _save_heldout(bundle, held.data, states.outputs["reference"])
            report = build_report(plan, heldout_file, stages, artifacts, extras, hw, needs,
                                  progress)
            write_report(bundle, report)
    if role.count > 1:
        with peer_failures(role):
            chief_decides(strategy, True)  # the workers wait here: they leave when it is done
    return report.to_json()


def train_as_worker(recipe: Recipe, strategy: Any, role: Role,
                    progress: Progress) -> dict[str, Any]:
    """A non-chief worker's part: the chief's steps up to the last compression stage, in the
    same order (so every collective op meets its peers), with no run cache and no bundle.
    Keeps nothing: a distillation's teacher outputs stay in memory, and each model is saved
    into a temporary folder deleted at once (:attr:`RunCache.save_aside`)."""
    _tf.set_seed(recipe.train.seed)
    held = load_step(recipe, progress)
    ctx = TrainContext(data=held.data, train=recipe.train, strategy=strategy)
    runs = RunCache(None, seed=recipe.train.seed)
    runs.save_aside = True  # the chief saves each model; saving may need every worker
    cache = PipelineCache(runs, recipe, held.data, held.test)
    with peer_failures(role):
        if not chief_decides(strategy, False):  # the chief reuses every model stage
            states = ModelStates()
            train_step(recipe, held, ctx, cache, states, progress)
            stages_step(recipe, held, ctx, cache, states, progress)
            cache.detached(states.models)  # as the chief does: reading may be collective
        # Wait for the chief's bundle: a worker that left now would look dead to the chief's
        # health checks, whose abort breaks what it still runs on the models.
        chief_decides(strategy, False)
    return {"worker": {"index": role.index, "count": role.count, "note": role.worker_line()}}


def load_step(recipe: Recipe, progress: Progress) -> HeldOutData:
    """Load and split the data, say what the splits hold, and settle the budget's metric
    (before training: a recipe error should not cost a training run)."""
    with progress.stage("data", recipe.data.dataset):
        data = load_data(recipe)
        progress.note(f"{len(data.train)} train / {len(data.val)} val / "
                      f"{len(data.test)} held-out examples")
        metric = budget_metric_for(recipe, data)
        test = data.test.take(recipe.validation.max_examples)
        split_report = describe_splits(data, test)
        for line in split_console_lines(split_report):
            progress.note(line)
        unresolved = resolution_warning(metric, len(test), recipe.budgets)
        if unresolved:
            progress.note(unresolved)
    return HeldOutData(data, test, metric, split_report, unresolved)


def resources_step(recipe: Recipe, data: Dataset, out: Path, progress: Progress) -> ResourcePlan:
    """State the disk and memory the run will need, and refuse it if a volume cannot hold it."""
    with progress.stage("resources", "disk and memory the run will need"):
        expected = resources.estimate_disk_and_memory(recipe, data)
        return ResourcePlan(expected, resources.check(expected, out, run_folder(out), progress))


def train_step(recipe: Recipe, held: HeldOutData, ctx: TrainContext, cache: PipelineCache,
               states: ModelStates, progress: Progress) -> float:
    """Train (or reuse) the reference model into ``states``; return its metric on the
    held-out split."""
    with progress.stage("train", f"{recipe.model.builder} ({recipe.train.epochs} epochs)"):
        states.models["reference"], states.outputs["reference"] = cache.train(
            lambda: train_reference(recipe, held.data, ctx))
    value = held.metric.evaluate(states.outputs["reference"], held.test)
    progress.note(f"reference {held.metric.name} = {value:.4f}")
    return value


def stages_step(recipe: Recipe, held: HeldOutData, ctx: TrainContext, cache: PipelineCache,
                states: ModelStates, progress: Progress) -> list[StageResult]:
    """Run the compression stages in order, each on the previous one's model, into
    ``states`` (the last one's model is also 'final')."""
    results = []
    current = states.models["reference"]
    for entry in recipe.compression:
        stage = STAGES.get(entry.stage)
        with progress.stage(entry.stage, stage.description):
            result, states.outputs[entry.stage] = cache.stage(entry, lambda: stage.run(
                current, entry.params, ctx))
        current = result.model
        states.models[entry.stage] = current
        value = held.metric.evaluate(states.outputs[entry.stage], held.test)
        progress.note(f"after {entry.stage}: {held.metric.name} = {value:.4f}")
        results.append(StageResult(name=entry.stage, config=entry.params.model_dump(mode="json"),
                                   facts=result.facts, metric=value))
    states.models["final"] = current
    states.outputs["final"] = states.outputs[recipe.compression[-1].stage] \
        if recipe.compression else states.outputs["reference"]
    return results


def export_step(plan: ProofPlan, progress: Progress) -> list[ArtifactResult]:
    """Export and prove every artifact the recipe asks for, then check that int8 artifacts
    are smaller than their fp32 siblings."""
    (plan.bundle / "artifacts").mkdir()
    family = FAMILIES.get(plan.recipe.family)
    artifacts = [export_and_prove(plan, exp, family, progress) for exp in plan.recipe.export]
    artifacts, warnings = flag_sizes(artifacts, plan.bundle)
    for warning in warnings:
        progress.note(f"warning: {warning}")
    return artifacts


def export_and_prove(plan: ProofPlan, exp: ExportEntry, family: FamilySpec,
                     progress: Progress) -> ArtifactResult:
    """Write one artifact, run it on its runtime over the held-out split and judge it."""
    recipe, held, states, bundle = plan.recipe, plan.held, plan.states, plan.bundle
    exporter = EXPORTERS.get(exp.format)
    runtime = RUNTIMES.get(exporter.runtime)
    model_name = exp.model
    dest = inside(bundle, f"artifacts/{exp.stem(recipe.name)}{exporter.suffix}",
                  what="artifact file", fix="give the export a plain 'name:'")
    with progress.stage(f"export {dest.name}"):
        art = plan.cache.export(exp, dest, lambda: exporter.export(
            states.models[model_name], exp.precision, dest, held.data.train,
            exp.options, family=family, tuning=held.data.val))
    for f in art.files:  # an exporter's companion files too: nothing outside the bundle
        inside(bundle, f, what="exported file", fix="report this exporter bug")
    size = sum(f.stat().st_size for f in art.files)
    baseline = plan.baseline_for(model_name)
    with progress.stage(f"prove {dest.name}", f"on {runtime.name}"):
        proof = plan.cache.proof(exp, dest, plan.device.threads, plan.device, lambda: prove(
            art.path, art.precision, runtime, held.test, task=TASKS.get(held.data.task),
            reference_metric=plan.reference_value, reference_out=states.outputs["reference"],
            source_out=states.outputs[model_name], budgets=recipe.budgets,
            conversion_atol=None, size_bytes=size, settings=plan.settings, baseline=baseline,
            atol_table=family.conversion_atol))
    progress.note(proof_line(held.metric, proof, size, baseline))
    return artifact_result(bundle, plan.here, held.metric, plan.reference_value, art, size,
                           proof, baseline, model_name, runtime)


def extras_step(recipe: Recipe, bundle: Path, states: ModelStates, data: Dataset,
                progress: Progress, threads: int = 1) -> dict[str, Any]:
    """The model's files beyond the artifacts (e.g. a tokenizer), and its facts about them;
    then the family's own check, if it has one (a GPT's KV-cache generation proof)."""
    from edgekit.validation.generation import FAMILY_PROOFS

    builder = MODELS.get(recipe.model.builder)
    with progress.stage("bundle extras"):
        extras = builder.bundle_extras(bundle, states.models, data, recipe.model.params)
    check = FAMILY_PROOFS.get(recipe.family)
    if check is not None:
        extras["generation"] = check(recipe, bundle, states.models, data, threads, progress)
    return extras


def build_report(plan: ProofPlan, heldout_file: str, stages: list[StageResult],
                 artifacts: list[ArtifactResult], extras: dict[str, Any], hw: dict[str, Any],
                 needs: ResourcePlan, progress: Progress) -> Report:
    """report.json: the run, its data (``heldout_file``: where the held-out data was saved),
    the reference, each stage and each proven artifact."""
    recipe, held = plan.recipe, plan.held
    data, test, metric = held.data, held.test, held.metric
    reference = plan.states.models["reference"]
    return Report(
        recipe=recipe.name, edgekit_version=edgekit.__version__,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        resolved_recipe=_recipe_json(recipe), environment=environment(hw),
        target=plan.device,  # the profile whose settings (threads) the proofs used
        proved_on=plan.here,
        dataset=DatasetRecord(
            name=data.name, source=data.source, task=data.task,
            train_examples=len(data.train), val_examples=len(data.val),
            test_examples=len(test),
            heldout_file=heldout_file,
            label_names=class_names(data), split_report=held.split_report,
            resolution_warning=held.unresolved),
        reference=ReferenceResult(
            metric=metric.name, value=plan.reference_value,
            higher_is_better=metric.higher_is_better,
            classes=class_report(TASKS.get(data.task), plan.states.outputs["reference"], test.y),
            parameters=count_params(reference), size_bytes=weights_nbytes(reference)),
        stages=stages, artifacts=artifacts, extras=extras, budgets=recipe.budgets,
        verdict_rule=VERDICT_RULE, passed=run_passed([a.passed for a in artifacts], extras),
        timings_s=dict(getattr(progress, "timings", {})),
        resources=ResourcesRecord(
            expected=ExpectedResources.model_validate(needs.expected.to_json()),
            free_disk_bytes=needs.free_disk,
            measured_peak_rss_bytes=resources.peak_rss_bytes()))


def write_report(bundle: Path, report: Report) -> None:
    """report.json, report.html and the manifest whose checksums cover the bundle."""
    write_text(bundle / "report.json", report.json_text())
    write_text(bundle / "report.html", render(report.to_json()))
    write_manifest(bundle)


def _recipe_json(recipe: Recipe) -> dict[str, Any]:
    import yaml

    from edgekit.recipe.loader import recipe_to_yaml

    return yaml.safe_load(recipe_to_yaml(recipe))
