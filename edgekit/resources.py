"""The disk and memory a run will need, estimated before it trains, and the refusal to start
when the disk cannot hold it.

A run can take an hour; finding out at the export step that the volume is full loses that
hour. So ``compress``, right after loading the data and before training anything, asks the
model builder for a :class:`~edgekit.footprint.Footprint` of the untrained model (by default it builds the model
and counts; BERT reads its checkpoint's config instead) and each compression stage what it
hands on and what it holds meanwhile (:class:`~edgekit.footprint.StageFootprint`: a distillation student is
smaller, its teacher and the fp16 teacher-output cache live alongside). From these:

* bundle: every export at its precision's share of the fp32 weights of the model it names,
  the held-out data and reference outputs, the builder's extras (a BERT bundle's HF
  checkpoint and tokenizer), reports;
* run cache (``.<out>.run/``): a ``model.keras`` (weights only) per model stage, held-out
  outputs, and a copy of every export; minus what an earlier run already stored there;
* temporary files (the temp dir's volume): the distillation teacher cache;
* memory: this process's resident memory now (the framework and the loaded data) plus every
  training phase's working set (weights, gradients and two optimizer slots, what the stage
  holds besides: teacher, pruning masks, the memory-mapped teacher cache; a batch of
  activations forward and back), summed because the allocator keeps what a phase freed, plus
  the largest export: the converter's copies of the graph and, for static int8 through ONNX
  Runtime, the calibration outputs.

The run states all of it, refuses with one line (and writes nothing) when a volume has less
free space than it will need, and records it in report.json's ``resources`` next to the run's
measured peak resident memory, so the estimate can be judged against what happened.

``EDGEKIT_FREE_DISK_BYTES`` replaces the measured free space of every volume (to keep a margin
on a shared disk, or to see the refusal without filling one).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgekit.data import Dataset
from edgekit.device.formats import Format, Precision
from edgekit.errors import EdgekitError
from edgekit.footprint import Footprint, StageFootprint
from edgekit.progress import Progress
from edgekit.recipe.schema import Recipe

FREE_DISK_ENV = "EDGEKIT_FREE_DISK_BYTES"
# Stored bytes per fp32 weight byte, by export precision (rounded up: int8 keeps float biases
# and scales, fp16/int8 graphs keep some float tensors).
PRECISION_FACTOR = {Precision.FP32: 1.0, Precision.FP16: 0.5, Precision.INT8: 0.3,
                    Precision.DYNAMIC: 0.3}
OVERHEAD_BYTES = 2 << 20  # report.json, report.html with its charts, manifest
_FLOAT = 4
_OPTIMIZER_COPIES = 4  # weights, gradients, two Adam slots
_CACHED_MODEL_COPIES = 1  # model.keras: the weights (saved without the optimizer)


@dataclass(frozen=True)
class Expected:
    bundle_bytes: int
    run_cache_bytes: int
    temp_bytes: int
    memory_bytes: int
    parameters: dict[str, int] = field(default_factory=dict)  # per model, as estimated

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"disk_bytes": self.bundle_bytes + self.run_cache_bytes
                               + self.temp_bytes}


def free_bytes(folder: Path) -> int:
    """Free space of the volume holding ``folder`` (or ``EDGEKIT_FREE_DISK_BYTES``)."""
    override = os.environ.get(FREE_DISK_ENV)
    if override:
        try:
            return int(override)
        except ValueError:
            raise EdgekitError(f"{FREE_DISK_ENV}={override!r} is not a whole number of bytes",
                               fix=f"unset {FREE_DISK_ENV} or give it bytes, e.g. 10000000000") from None
    return shutil.disk_usage(folder).free


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def _existing(path: Path) -> Path:
    path = Path(path).resolve()
    while not path.exists():
        path = path.parent
    return path


def footprints(recipe: Recipe, data: Dataset) -> tuple[dict[str, Footprint], list[StageFootprint]]:
    """Every model of the run by name (as :class:`~edgekit.pipeline.ModelStates` names them),
    and what each compression stage needs."""
    from edgekit.length_buckets import true_lengths
    from edgekit.models import MODELS
    from edgekit.stages import STAGES

    builder = MODELS.get(recipe.model.builder)
    models = {"reference": builder.footprint(recipe.model.params, data)}
    stages = []
    current = models["reference"]
    # length buckets: a teacher cache holds each text at its own length (TrainContext's rule,
    # short of building the models to ask whether they run at any length)
    lengths = true_lengths(data.train.x) if recipe.train.bucketing else None
    for entry in recipe.compression:
        stage = STAGES.get(entry.stage)
        got = stage.footprint(entry.params, current, data, lengths)
        stages.append(got)
        models[entry.stage] = current = got.model
    models["final"] = current
    return models, stages


def estimate_disk_and_memory(recipe: Recipe, data: Dataset) -> Expected:
    """The run's disk and memory (see the module docstring for what each figure counts)."""
    from edgekit.models import MODELS

    models, stages = footprints(recipe, data)
    rss_now = rss_bytes()  # after the footprints: the framework is loaded by now
    builder = MODELS.get(recipe.model.builder)
    weights = {name: fp.params * _FLOAT for name, fp in models.items()}
    exports = int(sum(weights[e.model] * PRECISION_FACTOR.get(e.precision, 1.0)
                      for e in recipe.export))
    proven = min(len(data.test), recipe.validation.max_examples or len(data.test))
    reference_out = proven * models["reference"].outputs * _FLOAT
    heldout = sum(v.nbytes for v in data.test.x.values()) + data.test.y.nbytes + reference_out
    extras = builder.extras_bytes(models, data)
    bundle = exports + heldout + extras + OVERHEAD_BYTES
    model_stages = [models["reference"], *(s.model for s in stages)]
    cache = exports + sum(fp.params * _FLOAT * _CACHED_MODEL_COPIES + proven * fp.outputs * _FLOAT
                          for fp in model_stages)
    batch = recipe.train.batch_size

    def working(fp: Footprint, held: int = 0) -> int:
        return (fp.params * _OPTIMIZER_COPIES + held + 2 * batch * fp.activations) * _FLOAT

    # A distillation stage reads its teacher cache (a memory-mapped file) every epoch: its
    # pages are resident while the stage runs.
    training = [working(models["reference"]),
                *(working(s.model, s.held_params) + s.temp_bytes for s in stages)]
    converting = [3 * weights[e.model]  # converters copy the graph (frozen, optimized, written)
                  + calibration_bytes(e.format, e.precision, models[e.model])
                  for e in recipe.export]
    # Phases add up rather than take turns: the allocator keeps what an earlier phase freed in
    # its pools, and the next phase's tensors have other shapes (tinybert --quick on 3,200
    # texts: 2.72 GB resident after distillation = memory before training + the teacher's
    # working set + the stage's, to 1%; the maximum of the two said 1.86 GB for the whole run).
    return Expected(bundle_bytes=int(bundle), run_cache_bytes=int(cache),
                    temp_bytes=int(sum(s.temp_bytes for s in stages)),
                    memory_bytes=int(rss_now + sum(training) + max(converting)),
                    parameters={k: v.params for k, v in models.items()})


def calibration_bytes(fmt: Format, precision: Precision, model: Footprint) -> int:
    """What static int8 calibration holds: ONNX Runtime's MinMax calibrator (ONNX int8, and
    OpenVINO int8, which imports that QDQ model) keeps the outputs it watches for every
    calibration example until it computes ranges (an upper bound: all activations). TFLite's
    calibrator keeps running min/max only."""
    from edgekit.exporters.onnx import CALIBRATION_EXAMPLES

    if precision != Precision.INT8 or fmt not in (Format.ONNX, Format.OPENVINO):
        return 0
    return CALIBRATION_EXAMPLES * model.activations * _FLOAT


def check(expected: Expected, out: Path, run_cache: Path, progress: Progress) -> int:
    """State what the run expects and refuse it (one line) when a volume cannot hold its
    share: bundle and run cache next to ``out``, teacher cache in the temp dir. Returns the
    free bytes of the bundle's volume, for the report."""
    mb = 1 << 20
    out_volume, temp_volume = _existing(out.parent), Path(tempfile.gettempdir())
    reuse = folder_bytes(run_cache)  # a resumed run overwrites or reuses what is there
    needs: dict[int, tuple[Path, int]] = {}
    for folder, need in ((out_volume, expected.bundle_bytes
                          + max(0, expected.run_cache_bytes - reuse)),
                         (temp_volume, expected.temp_bytes)):
        dev = os.stat(folder).st_dev
        prev = needs.get(dev, (folder, 0))
        needs[dev] = (prev[0], prev[1] + need)
    free = {dev: free_bytes(folder) for dev, (folder, _) in needs.items()}
    temp = f" + {expected.temp_bytes / mb:.1f} MB teacher cache" if expected.temp_bytes else ""
    out_free = free[os.stat(out_volume).st_dev]
    progress.note(f"expected disk: {expected.bundle_bytes / mb:.1f} MB bundle + "
                  f"{expected.run_cache_bytes / mb:.1f} MB run cache{temp}; "
                  f"{out_free / mb:,.0f} MB free; "
                  f"expected memory: ~{expected.memory_bytes / mb:,.0f} MB")
    for dev, (folder, need) in needs.items():
        if free[dev] < need:
            raise EdgekitError(f"not enough disk: the run needs about {need / mb:.1f} MB here "
                               f"and {free[dev] / mb:.1f} MB are free", where=folder,
                               fix="free some space, or pass --out (or TMPDIR) on a larger volume")
    return out_free


def reset_peak_rss() -> None:
    """Start measuring this process's peak resident memory afresh (Linux: reset VmHWM), so a
    run inside a long-lived process (a notebook, a test session) reports its own peak."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def peak_rss_bytes() -> int:
    """Peak resident memory since :func:`reset_peak_rss` (else of the process image)."""
    from edgekit.device.runner import peak_rss_mb

    return int(peak_rss_mb() * (1 << 20))


def rss_bytes() -> int:
    from edgekit.device.latency import rss_mb

    return int(rss_mb() * (1 << 20))
