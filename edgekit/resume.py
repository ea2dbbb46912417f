"""The compression pipeline's stages on top of :mod:`edgekit.runcache`: their keys, what each
one stores, and the disk check a run makes before it writes anything big.

Keys chain like the pipeline: data fingerprint → train → each compression stage → each export
(of the model it names) → each proof (of that export, against the models it is judged by). So
changing ``compression[1]`` recomputes that stage, the ones after it and the exports/proofs of
their models, while ``train`` and ``compression[0]`` (and exports of them) are reused.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

import edgekit
from edgekit.data import Dataset, Split
from edgekit.errors import EdgekitError
from edgekit.progress import Progress
from edgekit.recipe.schema import ExportEntry, Recipe, StageEntry
from edgekit.runcache import RunCache, fingerprint, key_of

# Stored bytes per fp32 weight byte, by export precision (cheap estimate, rounded up).
_PRECISION_FACTOR = {"fp32": 1.0, "fp16": 0.5, "int8": 0.3, "dynamic": 0.3}
_OVERHEAD_BYTES = 2 << 20  # reports, manifest, HTML charts


def _dump(section: Any) -> Any:
    return section.model_dump(mode="json")


def code_key(*plugins: Any) -> str:
    """sha256 of the source files of the plug-ins a stage runs, so editing a stage's code
    (not only bumping edgekit's version) invalidates what it cached."""
    import hashlib
    import inspect

    files = sorted({inspect.getsourcefile(type(p)) or "" for p in plugins})
    return key_of([hashlib.sha256(Path(f).read_bytes()).hexdigest() if f and Path(f).is_file()
                   else f for f in files])


class PipelineCache:
    """One run's stage cache: ``train``, ``stage``, ``export`` and ``proof`` wrap the
    pipeline's own calls, computing them only when no finished record with the same key
    exists."""

    def __init__(self, cache: RunCache, recipe: Recipe, data: Dataset, test: Split,
                 out: Path, progress: Progress) -> None:
        self.cache, self.recipe, self.test, self.out = cache, recipe, test, out
        self.progress = progress
        splits = {f"{s}.{k}": v for s, split in (("train", data.train), ("val", data.val),
                                                   ("test", data.test))
                  for k, v in {**split.x, "y": split.y}.items()}
        self.data_key = key_of(_dump(recipe.data), fingerprint(splits))
        self.data = data
        self.model_keys: dict[str, str] = {}

    @classmethod
    def open(cls, recipe: Recipe, out: Path, data: Dataset, test: Split, *, fresh: bool,
             progress: Progress) -> "PipelineCache":
        cache = RunCache.for_bundle(out, fresh=fresh, seed=recipe.train.seed, note=progress.note)
        return cls(cache, recipe, data, test, out, progress)

    def _custom_objects(self) -> dict[str, Any]:
        from edgekit.models import MODELS

        return MODELS.get(self.recipe.model.builder).custom_objects()

    def _predict(self, model: Any) -> np.ndarray:
        from edgekit.training import predict

        return predict(model, self.test)

    def train(self, compute: Callable[[], Any]) -> tuple[Any, np.ndarray]:
        r = self.recipe
        config = {"model": _dump(r.model), "train": _dump(r.train)}
        from edgekit.models import MODELS

        key = key_of("train", edgekit.__version__, config, self.data_key,
                     code_key(MODELS.get(r.model.builder)))
        got = self.cache.model_stage("train", key, config, compute, self._predict,
                                     self._custom_objects())
        self.model_keys["reference"] = key
        check_disk(self.out, r, got.model, self.data, self.progress)
        return got.model, got.outputs

    def stage(self, entry: StageEntry, compute: Callable[[], Any]) -> tuple[Any, np.ndarray]:
        """Returns (StageResult-like with .model and .facts, held-out outputs)."""
        previous = list(self.model_keys.values())[-1]
        config = {"entry": _dump(entry), "train": _dump(self.recipe.train)}
        from edgekit.stages import STAGES

        key = key_of("stage", config, previous, self.data_key, code_key(STAGES.get(entry.stage)))
        got = self.cache.model_stage(f"stage-{entry.stage}", key, config, compute, self._predict,
                                     self._custom_objects())
        self.model_keys[entry.stage] = key
        return got, got.outputs

    def _model_key(self, name: str) -> str:
        return list(self.model_keys.values())[-1] if name == "final" else self.model_keys[name]

    def export_key(self, exp: ExportEntry, dest: Path) -> str:
        from edgekit.exporters import EXPORTERS

        return key_of("export", _dump(exp), dest.name, self._model_key(exp.model), self.data_key,
                      code_key(EXPORTERS.get(exp.format)))

    def export(self, exp: ExportEntry, dest: Path, compute: Callable[[], Any]) -> Any:
        from edgekit.exporters import ExportedArtifact

        def run() -> tuple[list[Path], dict[str, Any]]:
            art = compute()
            return art.files, {"format": art.format, "precision": art.precision,
                               "notes": art.notes}

        files, facts, _ = self.cache.files_stage(f"export-{dest.name}", self.export_key(exp, dest),
                                                 _dump(exp), dest, run)
        return ExportedArtifact(format=facts["format"], precision=facts["precision"],
                                files=files, notes=facts.get("notes", {}))

    def proof(self, exp: ExportEntry, dest: Path, threads: int, device: Any,
              compute: Callable[[], Any]) -> Any:
        from edgekit.validation.latency import Latency
        from edgekit.validation.prove import Proof

        from edgekit.exporters import EXPORTERS
        from edgekit.runtimes import RUNTIMES

        r = self.recipe
        runtime = RUNTIMES.get(EXPORTERS.get(exp.format).runtime)
        config = {"validation": _dump(r.validation), "budgets": _dump(r.budgets),
                  "threads": threads, "device": device.model_dump(mode="json"),
                  "runtime": runtime.version(), "family": r.family}
        key = key_of("proof", config, self.export_key(exp, dest), self.model_keys)
        value, _ = self.cache.json_stage(f"prove-{dest.name}", key, config,
                                         lambda: _to_json(asdict(compute())))
        return Proof(**{**value, "latency": Latency(**value["latency"])})


def _to_json(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    return obj


def expected_disk_bytes(recipe: Recipe, reference: Any, data: Dataset) -> tuple[int, int]:
    """(bundle bytes, run-cache bytes): every export at its precision's share of the fp32
    weights, the held-out data, reports; the cache keeps one model per stage and a copy of
    each export."""
    weights = int(sum(np.asarray(w.numpy()).nbytes for w in reference.weights))
    exports = int(sum(weights * _PRECISION_FACTOR.get(e.precision, 1.0) for e in recipe.export))
    heldout = int(sum(v.nbytes for v in data.test.x.values()) + data.test.y.nbytes)
    bundle = exports + heldout + _OVERHEAD_BYTES
    cache = exports + weights * 3 * (1 + len(recipe.compression))  # model.keras + optimizer slack
    return bundle, cache


def expected_memory_bytes(reference: Any, data: Dataset) -> int:
    """Rough peak memory of training: the data arrays in memory plus weights, gradients and
    two optimizer slots (x4), plus a second model copy while a stage wraps the first."""
    weights = int(sum(np.asarray(w.numpy()).nbytes for w in reference.weights))
    arrays = sum(v.nbytes for s in (data.train, data.val, data.test) for v in
                 (*s.x.values(), s.y))
    return int(arrays + weights * 6)


def check_disk(out: Path, recipe: Recipe, reference: Any, data: Dataset, progress: Progress,
               free_bytes: int | None = None) -> None:
    """State the disk the run expects and refuse it when the volume of ``out`` cannot hold
    it (checked once the reference model exists, before any export is written)."""
    bundle, cache = expected_disk_bytes(recipe, reference, data)
    memory = expected_memory_bytes(reference, data)
    folder = Path(out).resolve().parent
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free if free_bytes is None else free_bytes
    mb = 1 << 20
    progress.note(f"expected disk: {bundle / mb:.1f} MB bundle + {cache / mb:.1f} MB run cache; "
                  f"{free / mb:,.0f} MB free; expected memory: ~{memory / mb:,.0f} MB")
    if free < bundle + cache:
        raise EdgekitError(f"not enough disk: the run needs about {(bundle + cache) / mb:.1f} MB "
                           f"and {free / mb:.1f} MB are free", where=folder,
                           fix="free some space or pass --out on a larger volume")
