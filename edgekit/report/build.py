"""The parts of report.json that ``compress`` assembles from what it measured: one proven
artifact's entry, the environment, sizes. Kept apart from the pipeline's steps so that those
read as steps, and apart from :mod:`edgekit.report.model` so that the model (and its schema)
needs no runtime or TensorFlow to load."""

from __future__ import annotations

import platform
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import _tf
from edgekit.device.hashing import sha256_of
from edgekit.exporters import ExportedArtifact
from edgekit.report.model import (ArtifactResult, BaselineResult, Environment, IntervalRecord,
                                  LatencyRecord, MemoryRecord, MetricValue, VerdictRecord)
from edgekit.device.runtimes import RUNTIMES, Runtime
from edgekit.tasks import Metric
from edgekit.validation.intervals import BOOTSTRAP_RESAMPLES, bootstrap_method, wilson_method
from edgekit.validation.prove import Baseline, Proof
from edgekit.validation.size_check import flag_int8_sizes

VERDICT_RULE = ("pass/fail on the point estimates against the budgets; a failed metric-drop "
                "(agreement) check is significant when its whole 95% interval lies beyond the "
                "budget (below the minimum), else it is within the noise of the held-out split. "
                "Intervals: " + bootstrap_method(BOOTSTRAP_RESAMPLES) + " for the metric drop; "
                + wilson_method() + " for agreement")


def gzip_size(files: list[Path]) -> int:
    """Size after gzip -6: what pruning's zeros buy in a compressed download or OTA update."""
    return sum(len(zlib.compress(f.read_bytes(), 6)) for f in files)


def weights_nbytes(model: Any) -> int:
    return int(sum(np.asarray(w.numpy()).nbytes for w in model.weights))


def environment(hw: dict[str, Any]) -> Environment:
    """This machine's Python, TensorFlow and runtime versions (a missing runtime says why),
    and ``hw`` (:func:`edgekit.device.hardware.detect`)."""
    runtimes = {}
    for name in RUNTIMES.names():
        rt = RUNTIMES.get(name)
        runtimes[name] = rt.version() if rt.missing() is None else f"missing: {rt.missing()}"
    return Environment(python=platform.python_version(), machine=platform.machine(),
                       platform=platform.platform(), tensorflow=_tf.tf().__version__,
                       hardware=hw, **runtimes)


def artifact_result(bundle: Path, here: str, metric: Metric, reference_value: float,
                    art: ExportedArtifact, size: int, proof: Proof, baseline: Baseline,
                    model_name: str, runtime: Runtime) -> ArtifactResult:
    """report.json's entry for one artifact of ``bundle``, proven on ``here``."""
    return ArtifactResult(
        file=art.path.relative_to(bundle).as_posix(),
        files=[f.relative_to(bundle).as_posix() for f in art.files],
        format=art.format, precision=proof.executed_precision,
        stored_precision=art.precision, model=model_name,
        size_bytes=size, size_gzip_bytes=gzip_size(art.files), sha256=sha256_of(art.path),
        runtime=runtime.name, runtime_version=runtime.version(), target=here,
        metric=MetricValue(name=metric.name, value=proof.metric),
        metric_drop=metric.drop(reference_value, proof.metric),
        baseline=BaselineResult(
            model=baseline.name, metric=baseline.metric,
            metric_drop=metric.drop(baseline.metric, proof.metric),
            metric_drop_ci95=IntervalRecord.of(proof.drop_interval),
            agreement=proof.baseline_agreement,
            agreement_ci95=IntervalRecord.of(proof.baseline_agreement_interval)),
        agreement=proof.agreement, agreement_ci95=IntervalRecord.of(proof.agreement_interval),
        classes=proof.classes, max_abs_diff=proof.max_abs_diff,
        source_max_abs_diff=proof.source_max_abs_diff, conversion_atol=proof.conversion_atol,
        latency_ms=LatencyRecord.of(proof.latency), load_ms=round(proof.load_ms, 2),
        memory_mb=MemoryRecord(rss_delta=round(proof.rss_delta_mb, 2)),
        checks=proof.checks, passed=proof.passed, verdict=VerdictRecord.of(proof.verdict),
        notes=art.notes)


def flag_sizes(artifacts: list[ArtifactResult],
               bundle: Path) -> tuple[list[ArtifactResult], list[str]]:
    """The artifacts with :func:`flag_int8_sizes`' ``weights_vs_fp32`` and ``warnings`` added
    (int8 must be smaller than fp32), and the warnings to say, each naming its file."""
    entries = [a.to_json() for a in artifacts]
    said = flag_int8_sizes(entries, bundle)
    return [ArtifactResult.model_validate(e) for e in entries], said


def run_passed(artifact_passes: list[bool], extras: dict[str, Any]) -> bool:
    """The run's verdict: every artifact passed, and so did the family's own check where it
    has one (a GPT's generation proof in ``extras["generation"]``: its gated pairs' greedy
    tokens equal the float model's). A check that could not fail the run would prove nothing."""
    family_check = extras.get("generation", {}).get("passed")
    return all(artifact_passes) and family_check is not False
