"""The key of each of the compression pipeline's stages, and what each one stores, on top of the
run folder's stage records (:mod:`edgekit.stage_records`, which knows nothing of the pipeline);
the disk check a run makes before training is :mod:`edgekit.resources`.

Keys chain like the pipeline: data fingerprint → train → each compression stage → each export
(of the model it names) → each proof (of that export, against the models it is judged by). So
changing ``compression[1]`` recomputes that stage, the ones after it and the exports/proofs of
their models, while ``train`` and ``compression[0]`` (and exports of them) are reused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import edgekit
from edgekit.data import Dataset, Split
from edgekit.progress import Progress
from edgekit.recipe.schema import ExportEntry, Recipe, StageEntry
from edgekit.stage_records import RunCache, fingerprint, key_of


def _dump(section: Any) -> Any:
    return section.model_dump(mode="json")


def code_key(*plugins: Any, modules: tuple[str, ...] = ()) -> str:
    """sha256 of the source files of the plug-ins a stage runs (and of the named modules), so
    editing a stage's code (not only bumping edgekit's version) invalidates what it cached."""
    import hashlib
    import inspect
    import sys

    files = sorted({inspect.getsourcefile(type(p)) or "" for p in plugins}
                   | {getattr(sys.modules.get(m), "__file__", None) or m for m in modules})
    return key_of([hashlib.sha256(Path(f).read_bytes()).hexdigest() if f and Path(f).is_file()
                   else f for f in files])


def helper_modules(plugin: Any, package: str) -> tuple[str, ...]:
    """The modules of ``package`` that ``plugin``'s module imports names from, and theirs in
    turn (an exporter's shared int8 fallback, the graph-writer lookup): their code shapes what
    the plug-in writes too."""
    import sys

    todo, seen = [type(plugin).__module__], set()
    while todo:
        name = todo.pop()
        if name in seen or name not in sys.modules:
            continue
        seen.add(name)
        for value in vars(sys.modules[name]).values():  # functions and classes, not modules:
            mod = getattr(value, "__module__", None)   # a package lists all its submodules
            if isinstance(mod, str) and (mod == package or mod.startswith(package + ".")):
                todo.append(mod)
    return tuple(sorted(seen))


def exporter_code_key(fmt: str, family: str) -> str:
    """The code an export of ``fmt`` runs for a model of ``family``: the exporter's module,
    the exporter modules it uses, and the family's graph writer for that format, if any."""
    from edgekit.exporters import EXPORTERS
    from edgekit.exporters.graphs import GRAPH_WRITERS
    from edgekit.families import FAMILIES

    exporter = EXPORTERS.get(fmt)
    writer = FAMILIES.get(family).graph_writers.get(fmt)
    plugins = [exporter, *([GRAPH_WRITERS.get(writer)] if writer else [])]
    return code_key(*plugins, modules=helper_modules(exporter, "edgekit.exporters"))


class PipelineCache:
    """One run's stage cache: ``train``, ``stage``, ``export`` and ``proof`` wrap the
    pipeline's own calls, computing them only when no finished record with the same key
    exists."""

    def __init__(self, cache: RunCache, recipe: Recipe, data: Dataset, test: Split) -> None:
        self.cache, self.recipe, self.test = cache, recipe, test
        splits = {f"{s}.{k}": v for s, split in (("train", data.train), ("val", data.val),
                                                   ("test", data.test))
                  for k, v in {**split.x, "y": split.y}.items()}
        self.data_key = key_of(_dump(recipe.data), fingerprint(splits))
        self.model_keys: dict[str, str] = {}

    @classmethod
    def open(cls, recipe: Recipe, out: Path, data: Dataset, test: Split, *, fresh: bool,
             progress: Progress) -> "PipelineCache":
        cache = RunCache.for_bundle(out, fresh=fresh, seed=recipe.train.seed, note=progress.note)
        return cls(cache, recipe, data, test)

    def _custom_objects(self) -> dict[str, Any]:
        from edgekit.models import MODELS

        return MODELS.get(self.recipe.model.builder).custom_objects()

    def detached(self, models: dict[str, Any]) -> dict[str, Any]:
        """Plain copies of the run's models, outside any strategy
        (:func:`edgekit.strategy.detached`); every worker calls it, in the same order, since
        reading the weights may be a collective op. A model named twice is copied once."""
        from edgekit.strategy import detached

        copies: dict[int, Any] = {}
        for model in models.values():
            if id(model) not in copies:
                copies[id(model)] = detached(model, self._custom_objects())
        return {name: copies[id(model)] for name, model in models.items()}

    def _predict(self, model: Any) -> np.ndarray:
        from edgekit.training import predict

        return predict(model, self.test)

    def _train_key(self) -> tuple[str, dict[str, Any]]:
        r = self.recipe
        config = {"model": _dump(r.model), "train": _dump(r.train)}
        from edgekit.models import MODELS

        return key_of("train", edgekit.__version__, config, self.data_key,
                      code_key(MODELS.get(r.model.builder))), config

    def _stage_key(self, entry: StageEntry, previous: str) -> tuple[str, dict[str, Any]]:
        config = {"entry": _dump(entry), "train": _dump(self.recipe.train)}
        from edgekit.stages import STAGES

        return key_of("stage", config, previous, self.data_key,
                      code_key(STAGES.get(entry.stage))), config

    def models_all_done(self) -> bool:
        """Whether every model stage (train, each compression stage) has a finished record
        that this run would reuse: under several workers the chief may skip training only
        then (:func:`edgekit.strategy.chief_decides`)."""
        key, _ = self._train_key()
        if not self.cache.is_done("train", key):
            return False
        for entry in self.recipe.compression:
            key, _ = self._stage_key(entry, key)
            if not self.cache.is_done(f"stage-{entry.stage}", key):
                return False
        return True

    def train(self, compute: Callable[[], Any]) -> tuple[Any, np.ndarray]:
        key, config = self._train_key()
        got = self.cache.model_stage("train", key, config, compute, self._predict,
                                     self._custom_objects())
        self.model_keys["reference"] = key
        return got.model, got.outputs

    def stage(self, entry: StageEntry, compute: Callable[[], Any]) -> tuple[Any, np.ndarray]:
        """Returns (StageResult-like with .model and .facts, held-out outputs)."""
        key, config = self._stage_key(entry, list(self.model_keys.values())[-1])
        got = self.cache.model_stage(f"stage-{entry.stage}", key, config, compute, self._predict,
                                     self._custom_objects())
        self.model_keys[entry.stage] = key
        return got, got.outputs

    def _model_key(self, name: str) -> str:
        return list(self.model_keys.values())[-1] if name == "final" else self.model_keys[name]

    def export_key(self, exp: ExportEntry, dest: Path) -> str:
        return key_of("export", _dump(exp), dest.name, self._model_key(exp.model), self.data_key,
                      exporter_code_key(exp.format, self.recipe.family))

    def export(self, exp: ExportEntry, dest: Path, compute: Callable[[], Any]) -> Any:
        from edgekit.device.formats import Format, Precision
        from edgekit.exporters import ExportedArtifact

        def run() -> tuple[list[Path], dict[str, Any]]:
            art = compute()
            return art.files, {"format": art.format, "precision": art.precision,
                               "notes": art.notes}

        files, facts, _ = self.cache.files_stage(f"export-{dest.name}", self.export_key(exp, dest),
                                                 _dump(exp), dest, run)
        return ExportedArtifact(format=Format(facts["format"]),
                                precision=Precision(facts["precision"]), files=files,
                                notes=facts.get("notes", {}))

    def proof(self, exp: ExportEntry, dest: Path, threads: int, device: Any,
              compute: Callable[[], Any]) -> Any:
        from edgekit.validation.prove import Proof

        from edgekit.exporters import EXPORTERS
        from edgekit.device.runtimes import RUNTIMES

        r = self.recipe
        runtime = RUNTIMES.get(EXPORTERS.get(exp.format).runtime)
        config = {"validation": _dump(r.validation), "budgets": _dump(r.budgets),
                  "threads": threads, "device": device.model_dump(mode="json"),
                  "runtime": runtime.version(), "family": r.family, "proof_record": 2}
        key = key_of("proof", config, self.export_key(exp, dest), self.model_keys)
        value, _ = self.cache.json_stage(f"prove-{dest.name}", key, config,
                                         lambda: _to_json(compute().to_json()))
        return Proof.from_json(value)


def _to_json(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    return obj
