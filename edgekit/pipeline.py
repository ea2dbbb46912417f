"""The compression pipeline: recipe → trained reference → compression stages → artifacts →
proof of each artifact on its runtime → bundle with ``report.json`` and ``report.html``.

This is the library entry point the CLI and notebooks share::

    from edgekit.pipeline import compress
    from edgekit.recipe import load_recipe
    report = compress(load_recipe("lenet5", quick=True), Path("export/lenet5"))
"""

from __future__ import annotations

import datetime as dt
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import edgekit
from edgekit import _tf, hardware, heldout, resources
from edgekit.atomic import sha256_of, write_text
from edgekit.data import DATASETS, Dataset, SplitPlan, check_classes
from edgekit.data.split_report import class_names, describe as describe_splits
from edgekit.data.split_report import console_lines as split_console_lines
from edgekit.devices import DeviceProfile, load_device
from edgekit.errors import EdgekitError
from edgekit.exporters import EXPORTERS
from edgekit.families import FAMILIES
from edgekit.models import MODELS
from edgekit.outdir import bundle_folder
from edgekit.paths import inside
from edgekit.progress import Progress, SilentProgress
from edgekit.recipe.schema import Recipe
from edgekit.report.html import render
from edgekit.resume import PipelineCache
from edgekit.runcache import run_folder
from edgekit.runtimes import RUNTIMES
from edgekit.stages import STAGES
from edgekit.strategy import make_strategy
from edgekit.tasks import TASKS, Metric
from edgekit.training import TrainContext, compile_model, count_params, fit
from edgekit.validation.intervals import BOOTSTRAP_RESAMPLES, bootstrap_method, wilson_method
from edgekit.validation.prove import Baseline, Proof, ProofSettings, prove
from edgekit.validation.verdict import budget_metric, class_report, drop_text, resolution_warning
from edgekit.validation.size_check import flag_int8_sizes
from edgekit.verify import write_manifest

REPORT_SCHEMA = "edgekit.report/1"
VERDICT_RULE = ("pass/fail on the point estimates against the budgets; a failed metric-drop "
                "(agreement) check is significant when its whole 95% interval lies beyond the "
                "budget (below the minimum), else it is within the noise of the held-out split. "
                "Intervals: " + bootstrap_method(BOOTSTRAP_RESAMPLES) + " for the metric drop; "
                + wilson_method() + " for agreement")


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
    fit(model, ctx, recipe.train.epochs)
    return model


def gzip_size(files: list[Path]) -> int:
    """Size after gzip -6: what pruning's zeros buy in a compressed download or OTA update."""
    import zlib

    return sum(len(zlib.compress(f.read_bytes(), 6)) for f in files)


def weights_nbytes(model: Any) -> int:
    return int(sum(np.asarray(w.numpy()).nbytes for w in model.weights))


def _environment(hw: dict[str, Any]) -> dict[str, Any]:
    tf = _tf.tf()
    env: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine(),
                           "platform": platform.platform(), "tensorflow": tf.__version__,
                           "hardware": hw}
    for name in RUNTIMES.names():
        rt = RUNTIMES.get(name)
        env[name] = rt.version() if rt.missing() is None else f"missing: {rt.missing()}"
    return env


def _save_heldout(bundle: Path, data: Dataset, reference_out: np.ndarray) -> str:
    """The held-out inputs, labels and reference outputs, so a bundle can be re-proven later
    (on another target) without the training data; stored uncompressed, one ``.npy`` per
    array, so that re-proving maps them instead of loading them (:mod:`edgekit.heldout`)."""
    arrays = {f"{heldout.INPUT_PREFIX}{k}": v for k, v in data.test.x.items()}
    if "test_texts" in data.extra:  # raw text, so a device runner's tokenisation can be checked
        arrays["texts"] = np.asarray(data.extra["test_texts"], dtype=str)
    heldout.write(bundle / heldout.FOLDER, {"y": data.test.y, "reference": reference_out, **arrays})
    return heldout.FOLDER


def compress(recipe: Recipe, out: Path, progress: Progress | None = None, *,
             fresh: bool = False) -> dict[str, Any]:
    """Run the whole recipe and write the bundle at ``out`` atomically; return the report.

    Finished stages are kept in a run folder next to ``out`` and reused by the next run of the
    same recipe (see :mod:`edgekit.resume`); ``fresh=True`` starts from scratch.
    """
    progress = progress or SilentProgress()
    device: DeviceProfile = load_device(recipe.validation.device)
    threads = recipe.validation.threads or device.threads
    check_runtimes(recipe)
    _tf.set_seed(recipe.train.seed)

    resources.reset_peak_rss()
    with bundle_folder(out) as bundle:
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
        with progress.stage("resources", "disk and memory the run will need"):
            expected = resources.estimate(recipe, data)
            free_disk = resources.check(expected, out, run_folder(out), progress)
        task = TASKS.get(data.task)
        ctx = TrainContext(data=data, train=recipe.train, strategy=make_strategy(recipe.train.strategy))
        states = ModelStates()
        cache = PipelineCache.open(recipe, out, data, test, fresh=fresh, progress=progress)
        with progress.stage("train", f"{recipe.model.builder} ({recipe.train.epochs} epochs)"):
            reference, states.outputs["reference"] = cache.train(
                lambda: train_reference(recipe, data, ctx))
        states.models["reference"] = reference
        ref_value = metric.evaluate(states.outputs["reference"], test)
        progress.note(f"reference {metric.name} = {ref_value:.4f}")

        stage_reports = []
        current = reference
        for entry in recipe.compression:
            stage = STAGES.get(entry.stage)
            with progress.stage(entry.stage, stage.description):
                result, states.outputs[entry.stage] = cache.stage(entry, lambda: stage.run(
                    current, entry.params, ctx))
            current = result.model
            states.models[entry.stage] = current
            value = metric.evaluate(states.outputs[entry.stage], test)
            progress.note(f"after {entry.stage}: {metric.name} = {value:.4f}")
            stage_reports.append({"name": entry.stage, "config": entry.params.model_dump(mode="json"),
                                  "facts": result.facts, "metric": value})
        states.models["final"] = current
        states.outputs["final"] = states.outputs[recipe.compression[-1].stage] \
            if recipe.compression else states.outputs["reference"]

        family = FAMILIES.get(recipe.family)
        settings = ProofSettings(threads=threads, warmup=recipe.validation.warmup,
                                 runs=recipe.validation.runs, target=device.name)
        order = ["reference", *(e.stage for e in recipe.compression)]

        def baseline_for(model_name: str) -> Baseline:
            """The budget's baseline, or the artifact's own source if that comes earlier (a
            teacher's artifact is judged against the teacher, not the student)."""
            idx = order.index(order[-1] if model_name == "final" else model_name)
            name = order[min(idx, order.index(recipe.budgets.baseline))]
            return Baseline(name, metric.evaluate(states.outputs[name], test), states.outputs[name])

        (bundle / "artifacts").mkdir()
        hw = hardware.detect()  # the machine every proof below runs on
        here = f"this machine: {hardware.machine_name(hw)}"
        artifacts = []
        for exp in recipe.export:
            exporter = EXPORTERS.get(exp.format)
            runtime = RUNTIMES.get(exporter.runtime)
            model_name = exp.model
            dest = inside(bundle, f"artifacts/{exp.stem(recipe.name)}{exporter.suffix}",
                          what="artifact file", fix="give the export a plain 'name:'")
            with progress.stage(f"export {dest.name}"):
                art = cache.export(exp, dest, lambda: exporter.export(
                    states.models[model_name], exp.precision, dest, data.train,
                    exp.options, family=family, tuning=data.val))
            for f in art.files:  # an exporter's companion files too: nothing outside the bundle
                inside(bundle, f, what="exported file", fix="report this exporter bug")
            size = sum(f.stat().st_size for f in art.files)
            baseline = baseline_for(model_name)
            with progress.stage(f"prove {dest.name}", f"on {runtime.name}"):
                proof = cache.proof(exp, dest, threads, device, lambda: prove(
                    art.path, art.precision, runtime, test, task=task,
                    reference_metric=ref_value, reference_out=states.outputs["reference"],
                    source_out=states.outputs[model_name], budgets=recipe.budgets,
                    conversion_atol=None, size_bytes=size, settings=settings, baseline=baseline,
                    atol_table=family.conversion_atol))
            progress.note(proof_line(metric, proof, size, baseline))
            artifacts.append({
                "file": art.path.relative_to(bundle).as_posix(),
                "files": [f.relative_to(bundle).as_posix() for f in art.files],
                "format": art.format, "precision": proof.executed_precision,
                "stored_precision": art.precision, "model": model_name,
                "size_bytes": size, "size_gzip_bytes": gzip_size(art.files),
                "sha256": sha256_of(art.path),
                "runtime": runtime.name, "runtime_version": runtime.version(),
                "target": here,
                "metric": {"name": metric.name, "value": proof.metric},
                "metric_drop": metric.drop(ref_value, proof.metric),
                "baseline": {"model": baseline.name, "metric": baseline.metric,
                             "metric_drop": metric.drop(baseline.metric, proof.metric),
                             "metric_drop_ci95": proof.drop_interval.to_json(),
                             "agreement": proof.baseline_agreement,
                             "agreement_ci95": proof.baseline_agreement_interval.to_json()},
                "agreement": proof.agreement,
                "agreement_ci95": proof.agreement_interval.to_json(),
                "classes": proof.classes,
                "max_abs_diff": proof.max_abs_diff,
                "source_max_abs_diff": proof.source_max_abs_diff,
                "conversion_atol": proof.conversion_atol,
                "latency_ms": proof.latency.to_json(), "load_ms": round(proof.load_ms, 2),
                "memory_mb": {"rss_delta": round(proof.rss_delta_mb, 2)},
                "checks": proof.checks, "passed": proof.passed,
                "verdict": proof.verdict.to_json(), "notes": art.notes,
            })

        for warning in flag_int8_sizes(artifacts, bundle):  # int8 must be smaller than fp32
            progress.note(f"warning: {warning}")
        builder = MODELS.get(recipe.model.builder)
        with progress.stage("bundle extras"):
            extras = builder.bundle_extras(bundle, states.models, data, recipe.model.params)
        with progress.stage("report"):
            heldout_rel = _save_heldout(bundle, data, states.outputs["reference"])
            report = {
                "schema": REPORT_SCHEMA,
                "recipe": recipe.name,
                "edgekit_version": edgekit.__version__,
                "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "resolved_recipe": _recipe_json(recipe),
                "environment": _environment(hw),
                # the profile whose settings (threads) the proofs used; every proof ran here
                "target": device.model_dump(mode="json"),
                "proved_on": here,
                "dataset": {"name": data.name, "source": data.source, "task": data.task,
                            "train_examples": len(data.train), "val_examples": len(data.val),
                            "test_examples": len(test), "heldout_file": heldout_rel,
                            "label_names": class_names(data), "split_report": split_report,
                            "resolution_warning": unresolved},
                "reference": {"metric": metric.name, "value": ref_value,
                              "higher_is_better": metric.higher_is_better,
                              "classes": class_report(task, states.outputs["reference"], test.y),
                              "parameters": count_params(reference),
                              "size_bytes": weights_nbytes(reference)},
                "stages": stage_reports,
                "artifacts": artifacts,
                "extras": extras,
                "budgets": recipe.budgets.model_dump(mode="json"),
                "verdict_rule": VERDICT_RULE,
                "passed": all(a["passed"] for a in artifacts),
                "timings_s": dict(getattr(progress, "timings", {})),
                "resources": {"expected": expected.to_json(), "free_disk_bytes": free_disk,
                              "measured_peak_rss_bytes": resources.peak_rss_bytes()},
            }
            write_text(bundle / "report.json", json.dumps(report, indent=2, default=_json_default))
            write_text(bundle / "report.html", render(report))
            write_manifest(bundle)
    return report


def _recipe_json(recipe: Recipe) -> dict[str, Any]:
    import yaml

    from edgekit.recipe.loader import recipe_to_yaml

    return yaml.safe_load(recipe_to_yaml(recipe))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.bool_):
        return bool(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
