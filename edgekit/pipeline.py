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
from edgekit import _tf, heldout, resources
from edgekit.atomic import bundle_folder, sha256_of, write_text
from edgekit.data import DATASETS, Dataset, SplitPlan
from edgekit.devices import DeviceProfile, load_device
from edgekit.errors import EdgekitError
from edgekit.exporters import EXPORTERS
from edgekit.families import FAMILIES
from edgekit.models import MODELS
from edgekit.progress import Progress, SilentProgress
from edgekit.recipe.schema import Recipe
from edgekit.report.html import render
from edgekit.resume import PipelineCache
from edgekit.runcache import run_folder
from edgekit.runtimes import RUNTIMES
from edgekit.stages import STAGES
from edgekit.strategy import make_strategy
from edgekit.tasks import TASKS
from edgekit.training import TrainContext, compile_model, count_params, fit
from edgekit.validation.prove import Baseline, ProofSettings, prove
from edgekit.validation.size_check import flag_int8_sizes
from edgekit.verify import write_manifest

REPORT_SCHEMA = "edgekit.report/1"


@dataclass
class ModelStates:
    """Every model of the run by name: 'reference', each stage's output, and 'final'."""

    models: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)


def family_atol(table: dict[str, float] | Any, stored: str, executed: str) -> float | None:
    """Conversion tolerance for an artifact: the looser of its stored and executed precision
    (fp16 weights run in fp32 still carry fp16 rounding). None when either is not a float
    precision: int8 error is expected and judged by the accuracy budget instead."""
    if stored not in table or executed not in table:
        return None
    return max(table[stored], table[executed])


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
    plan = SplitPlan(recipe.data.test_fraction, recipe.data.val_fraction, recipe.data.seed)
    return loader.load(loader.Config.model_validate(recipe.data.params), plan)


def train_reference(recipe: Recipe, data: Dataset, ctx: TrainContext) -> Any:
    builder = MODELS.get(recipe.model.builder)
    with ctx.strategy.scope():
        model = builder.build(builder.Config.model_validate(recipe.model.params), data)
        compile_model(model, ctx)
    fit(model, ctx, recipe.train.epochs)
    return model


def gzip_size(files: list[Path]) -> int:
    """Size after gzip -6: what pruning's zeros buy in a compressed download or OTA update."""
    import zlib

    return sum(len(zlib.compress(f.read_bytes(), 6)) for f in files)


def weights_nbytes(model: Any) -> int:
    return int(sum(np.asarray(w.numpy()).nbytes for w in model.weights))


def _environment() -> dict[str, str]:
    tf = _tf.tf()
    env = {"python": platform.python_version(), "machine": platform.machine(),
           "platform": platform.platform(), "tensorflow": tf.__version__}
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
        with progress.stage("resources", "disk and memory the run will need"):
            expected = resources.estimate(recipe, data)
            free_disk = resources.check(expected, out, run_folder(out), progress)
        task = TASKS.get(data.task)
        test = data.test.take(recipe.validation.max_examples)
        ctx = TrainContext(data=data, train=recipe.train, strategy=make_strategy(recipe.train.strategy))
        states = ModelStates()
        cache = PipelineCache.open(recipe, out, data, test, fresh=fresh, progress=progress)
        with progress.stage("train", f"{recipe.model.builder} ({recipe.train.epochs} epochs)"):
            reference, states.outputs["reference"] = cache.train(
                lambda: train_reference(recipe, data, ctx))
        states.models["reference"] = reference
        ref_value = task.evaluate(states.outputs["reference"], test)
        progress.note(f"reference {task.metric} = {ref_value:.4f}")

        stage_reports = []
        current = reference
        for entry in recipe.compression:
            stage = STAGES.get(entry.stage)
            with progress.stage(entry.stage, stage.description):
                result, states.outputs[entry.stage] = cache.stage(entry, lambda: stage.run(
                    current, stage.Config.model_validate(entry.params), ctx))
            current = result.model
            states.models[entry.stage] = current
            value = task.evaluate(states.outputs[entry.stage], test)
            progress.note(f"after {entry.stage}: {task.metric} = {value:.4f}")
            stage_reports.append({"name": entry.stage, "config": entry.params, "facts": result.facts,
                                  "metric": value})
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
            return Baseline(name, task.evaluate(states.outputs[name], test), states.outputs[name])

        (bundle / "artifacts").mkdir()
        artifacts = []
        for exp in recipe.export:
            exporter = EXPORTERS.get(exp.format)
            runtime = RUNTIMES.get(exporter.runtime)
            model_name = exp.model
            dest = bundle / "artifacts" / f"{exp.stem(recipe.name)}{exporter.suffix}"
            with progress.stage(f"export {dest.name}"):
                art = cache.export(exp, dest, lambda: exporter.export(
                    states.models[model_name], exp.precision, dest, data.train,
                    exporter.Options.model_validate(exp.options), family=family, tuning=data.val))
            size = sum(f.stat().st_size for f in art.files)
            baseline = baseline_for(model_name)
            with progress.stage(f"prove {dest.name}", f"on {runtime.name}"):
                proof = cache.proof(exp, dest, threads, device, lambda: prove(
                    art.path, art.precision, runtime, test, task=task,
                    reference_metric=ref_value, reference_out=states.outputs["reference"],
                    source_out=states.outputs[model_name], budgets=recipe.budgets,
                    conversion_atol=None, size_bytes=size, settings=settings, baseline=baseline))
                atol = family_atol(family.conversion_atol, art.precision, proof.executed_precision)
                if atol is not None:
                    proof.checks["conversion_atol"] = proof.source_max_abs_diff <= atol
            progress.note(f"{task.metric} {proof.metric:.4f}, agreement {proof.agreement:.4f}, "
                          f"p50 {proof.latency.p50:.3f} ms, {size:,} B, "
                          f"{'pass' if proof.passed else 'FAIL ' + str(proof.checks)}")
            artifacts.append({
                "file": art.path.relative_to(bundle).as_posix(),
                "files": [f.relative_to(bundle).as_posix() for f in art.files],
                "format": art.format, "precision": proof.executed_precision,
                "stored_precision": art.precision, "model": model_name,
                "size_bytes": size, "size_gzip_bytes": gzip_size(art.files),
                "sha256": sha256_of(art.path),
                "runtime": runtime.name, "runtime_version": runtime.version(),
                "target": device.name,
                "metric": {"name": task.metric, "value": proof.metric},
                "metric_drop": task.drop(ref_value, proof.metric),
                "baseline": {"model": baseline.name, "metric": baseline.metric,
                             "metric_drop": task.drop(baseline.metric, proof.metric),
                             "agreement": proof.baseline_agreement},
                "agreement": proof.agreement, "max_abs_diff": proof.max_abs_diff,
                "source_max_abs_diff": proof.source_max_abs_diff,
                "conversion_atol": atol,
                "latency_ms": proof.latency.to_json(), "load_ms": round(proof.load_ms, 2),
                "memory_mb": {"rss_delta": round(proof.rss_delta_mb, 2)},
                "checks": proof.checks, "passed": proof.passed, "notes": art.notes,
            })

        for warning in flag_int8_sizes(artifacts, bundle):  # int8 must be smaller than fp32
            progress.note(f"warning: {warning}")
        builder = MODELS.get(recipe.model.builder)
        with progress.stage("bundle extras"):
            extras = builder.bundle_extras(bundle, states.models, data,
                                           builder.Config.model_validate(recipe.model.params))
        with progress.stage("report"):
            heldout_rel = _save_heldout(bundle, data, states.outputs["reference"])
            report = {
                "schema": REPORT_SCHEMA,
                "recipe": recipe.name,
                "edgekit_version": edgekit.__version__,
                "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "resolved_recipe": _recipe_json(recipe),
                "environment": _environment(),
                "target": device.model_dump(mode="json"),
                "dataset": {"name": data.name, "source": data.source, "task": data.task,
                            "train_examples": len(data.train), "val_examples": len(data.val),
                            "test_examples": len(test), "heldout_file": heldout_rel},
                "reference": {"metric": task.metric, "value": ref_value,
                              "higher_is_better": task.higher_is_better,
                              "parameters": count_params(reference),
                              "size_bytes": weights_nbytes(reference)},
                "stages": stage_reports,
                "artifacts": artifacts,
                "extras": extras,
                "budgets": recipe.budgets.model_dump(mode="json"),
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
