"""Resumable runs: each stage's result and record, kept in a run folder next to the bundle.

This module is the store (keys, records, reuse, the check before a reused model is trusted);
what each of the pipeline's stages is keyed on is :mod:`edgekit.stage_keys`.

A compression run can take an hour, so a crash, a Ctrl-C or a killed machine must not lose the
stages that finished. Every stage (train, each compression stage, each export, each proof) is
identified by a *key*: the sha256 of its configuration and of the keys of the stages it reads,
down to a fingerprint of the data arrays. A stage writes ``<run>/<stage>/record.json``
(``status: running`` at start, then ``done`` with its inputs' key, config, timings and result)
and its result next to it, atomically. Re-running the same command reuses a stage whose record
is ``done`` with the same key; a changed config or input changes that stage's key and, through
the chain, exactly the keys downstream of it. ``--fresh`` deletes the run folder first.

Each computed stage starts from the recipe's seed (``train.seed``), so a stage that is recomputed
after a resume computes what it would have computed in an uninterrupted run, whatever ran or was
skipped before it.

A reused model is checked before it is trusted: its predictions on the held-out split must equal
those recorded when it was made; if not (or if the model cannot be saved or reloaded, e.g. a
layer without a config), the stage is simply recomputed. The run folder is the user's own local
output, not a bundle from elsewhere; models are still reloaded with ``safe_mode=True``.

Layout: ``<out parent>/.<out name>.run/`` holds ``<stage>/record.json`` plus ``model.keras`` and
``outputs.npy`` (model stages), ``files/`` (exports) or ``result.json`` (proofs).

A stage name can have more than one finished result: when a stage is computed under a new key,
the finished result it replaces moves to ``.kept/<stage>/<key prefix>/`` (the
:data:`KEEP_PER_STAGE` most recent per name), and a later run asking for that key moves it
back. ``edgekit optimize`` alternates chains (``head_prune`` on the student, then on an
``ffn_prune`` student, then on the student again): with one slot per name each switch
retrained a 4-minute prune that was already on disk.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.atomic import write_bytes, write_text

RECORD = "record.json"
RUN_SCHEMA = "edgekit.stage/1"
KEPT = ".kept"
#: Finished results of other keys kept per stage name (a BERT student is ~70 MB on disk, a
#: pruned one less): enough for distilbert's optimize space, whose ``head_prune`` stage sits
#: on six chains (three ``ffn_prune`` choices x two head counts), plus the one in use.
KEEP_PER_STAGE = 8


def run_folder(out: Path) -> Path:
    """Where the stage cache of the bundle ``out`` lives: a hidden sibling folder."""
    out = Path(out).resolve()
    return out.parent / f".{out.name}.run"


def key_of(*parts: Any) -> str:
    """A stable sha256 of JSON-able parts (dicts sorted), e.g. a config and upstream keys."""
    blob = json.dumps(parts, sort_keys=True, default=_json_default, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over named arrays (dtype, shape, bytes): the data a stage trained on."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


@dataclass
class Reused:
    """What a reused or fresh model stage hands back to the pipeline."""

    model: Any
    facts: dict[str, Any]
    outputs: np.ndarray  # held-out predictions, computed once here
    reused: bool


class RunCache:
    """The stage records of one bundle's runs. ``RunCache(None)`` caches nothing."""

    def __init__(self, folder: Path | None, *, seed: int = 0,
                 note: Callable[[str], None] | None = None) -> None:
        self.folder = folder
        self.seed = seed
        self.note = note or (lambda _msg: None)
        self.reused: list[str] = []
        # False under a multi-worker run whose model stages are not all done: a model stage
        # needs every worker, so the chief cannot skip one alone (edgekit.strategy).
        self.reuse_models = True
        # A non-chief worker's cache (folder None): it saves each model as the chief does, into
        # a temporary folder deleted at once, because saving a model under a multi-worker
        # strategy may run collective ops, which every worker must join (TensorFlow's
        # documented pattern); it keeps nothing.
        self.save_aside = False

    @classmethod
    def for_bundle(cls, out: Path, *, fresh: bool = False, seed: int = 0,
                   note: Callable[[str], None] | None = None) -> "RunCache":
        folder = run_folder(out)
        if fresh and folder.exists():
            shutil.rmtree(folder)
        return cls(folder, seed=seed, note=note)

    # --- records ----------------------------------------------------------------------------

    @staticmethod
    def _safe(stage: str) -> str:
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in stage)

    def _dir(self, stage: str) -> Path:
        assert self.folder is not None
        return self.folder / self._safe(stage)

    def _kept_dir(self, stage: str, key: str) -> Path:
        assert self.folder is not None
        return self.folder / KEPT / self._safe(stage) / key[:16]

    def _kept_record(self, stage: str, key: str) -> dict[str, Any] | None:
        if self.folder is None:
            return None
        try:
            rec = json.loads((self._kept_dir(stage, key) / RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return rec if rec.get("status") == "done" and rec.get("key") == key else None

    def _stash(self, stage: str) -> None:
        """Move the stage's finished result aside (it is about to be replaced), keeping the
        :data:`KEEP_PER_STAGE` most recently stashed per name."""
        rec = self.record(stage)
        if rec is None or rec.get("status") != "done" or not rec.get("key"):
            return
        dest = self._kept_dir(stage, rec["key"])
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._dir(stage), dest)
        os.utime(dest)  # stash time: the oldest go first
        kept = sorted(dest.parent.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[KEEP_PER_STAGE:]:
            shutil.rmtree(old, ignore_errors=True)

    def _restore(self, stage: str, key: str) -> dict[str, Any] | None:
        """Bring a stashed result of ``key`` back into the stage's folder (stashing the one
        there); its record, or None if none is kept."""
        rec = self._kept_record(stage, key)
        if rec is None:
            return None
        self._stash(stage)
        if self._dir(stage).exists():  # an unfinished or failed result: nothing to keep
            shutil.rmtree(self._dir(stage))
        os.replace(self._kept_dir(stage, key), self._dir(stage))
        return rec

    def record(self, stage: str) -> dict[str, Any] | None:
        if self.folder is None:
            return None
        path = self._dir(stage) / RECORD
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def is_done(self, stage: str, key: str) -> bool:
        """Whether ``stage`` has a finished record with ``key``, in its folder or kept aside
        (it would be reused). Moves nothing."""
        return self._current(stage, key) is not None or self._kept_record(stage, key) is not None

    def _current(self, stage: str, key: str) -> dict[str, Any] | None:
        rec = self.record(stage)
        return rec if rec and rec.get("status") == "done" and rec.get("key") == key else None

    def _done(self, stage: str, key: str) -> dict[str, Any] | None:
        """The finished record of ``key``, its result in the stage's folder (brought back from
        the kept ones if need be), or None."""
        return self._current(stage, key) or self._restore(stage, key)

    def _write_record(self, stage: str, key: str, status: str, config: Any,
                      result: dict[str, Any] | None = None, seconds: float | None = None) -> None:
        rec = {"schema": RUN_SCHEMA, "stage": stage, "key": key, "status": status,
               "config": config, "result": result or {}, "seconds": seconds,
               "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        write_text(self._dir(stage) / RECORD, json.dumps(rec, indent=2, default=_json_default))

    def _begin(self, stage: str, key: str, config: Any) -> float:
        """Seed, mark the stage running (a killed run leaves this), and start the clock."""
        from edgekit import _tf

        _tf.set_seed(self.seed)
        if self.folder is not None:
            self._stash(stage)  # a finished result of another key is kept, not lost
            target = self._dir(stage)
            if target.exists():
                shutil.rmtree(target)  # a stale result must never pair with a new record
            self._write_record(stage, key, "running", config)
        return time.perf_counter()

    def _compute(self, stage: str, compute: Callable[[], Any]) -> Any:
        """Run ``compute``; if it raises (a user error, Ctrl-C), drop the stage's folder, and
        the run folder when nothing else is in it, so a failed first run leaves no clutter."""
        try:
            return compute()
        except BaseException:
            if self.folder is not None:
                shutil.rmtree(self._dir(stage), ignore_errors=True)
                if self.folder.is_dir() and not any(self.folder.iterdir()):
                    self.folder.rmdir()
            raise

    def _hit(self, stage: str) -> None:
        self.reused.append(stage)
        self.note(f"reused {stage} from {self.folder}")

    # --- stage kinds ------------------------------------------------------------------------

    def model_stage(self, stage: str, key: str, config: Any, compute: Callable[[], Any],
                    check: Callable[[Any], np.ndarray],
                    custom_objects: dict[str, Any] | None = None) -> Reused:
        """A stage whose result is a Keras model (``compute()`` returns a model or an object
        with ``.model`` and ``.facts``); ``check(model)`` gives its held-out predictions;
        ``custom_objects`` are the registered objects the saved model needs to load."""
        rec = self._done(stage, key) if self.reuse_models else None
        if rec is not None:
            model = self._load_model(self._dir(stage), custom_objects or {})
            outputs = check(model) if model is not None else None
            if outputs is not None and self._same_outputs(self._dir(stage), outputs):
                self._hit(stage)
                return Reused(model, rec["result"].get("facts", {}), outputs, True)
            self.note(f"cached {stage} could not be reused as it was; recomputing")
        t0 = self._begin(stage, key, config)
        out = self._compute(stage, compute)
        model, facts = (out.model, out.facts) if hasattr(out, "facts") else (out, {})
        outputs = check(model)
        if self.folder is not None:
            d = self._dir(stage)
            saved = self._save_model(model, d) and self._save_outputs(d, outputs)
            self._write_record(stage, key, "done" if saved else "not-cacheable", config,
                               {"facts": facts}, time.perf_counter() - t0)
        elif self.save_aside:
            with tempfile.TemporaryDirectory(prefix="edgekit-worker-") as aside:
                self._save_model(model, Path(aside))
        return Reused(model, facts, outputs, False)

    def files_stage(self, stage: str, key: str, config: Any, dest: Path,
                    compute: Callable[[], tuple[list[Path], dict[str, Any]]]
                    ) -> tuple[list[Path], dict[str, Any], bool]:
        """A stage that writes files (an export) into the folder of ``dest``; ``compute()``
        returns (files, facts). On a hit the cached files are copied there instead."""
        rec = self._done(stage, key)
        if rec is not None:
            src = self._dir(stage) / "files"
            names = rec["result"].get("files", [])
            if names and all((src / n).is_file() for n in names):
                dest.parent.mkdir(parents=True, exist_ok=True)
                for n in names:
                    shutil.copy2(src / n, dest.parent / n)
                self._hit(stage)
                return [dest.parent / n for n in names], rec["result"].get("facts", {}), True
        t0 = self._begin(stage, key, config)
        files, facts = self._compute(stage, compute)
        if self.folder is not None:
            d = self._dir(stage) / "files"
            d.mkdir(parents=True, exist_ok=True)
            for f in files:
                write_bytes(d / f.name, f.read_bytes())
            self._write_record(stage, key, "done", config,
                               {"files": [f.name for f in files], "facts": facts},
                               time.perf_counter() - t0)
        return files, facts, False

    def json_stage(self, stage: str, key: str, config: Any,
                   compute: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """A stage whose whole result is JSON (a proof on a runtime)."""
        rec = self._done(stage, key)
        if rec is not None and "value" in rec["result"]:
            self._hit(stage)
            return rec["result"]["value"], True
        t0 = self._begin(stage, key, config)
        value = self._compute(stage, compute)
        if self.folder is not None:
            self._write_record(stage, key, "done", config, {"value": value},
                               time.perf_counter() - t0)
        return value, False

    # --- model persistence ------------------------------------------------------------------

    @staticmethod
    def _save_model(model: Any, folder: Path) -> bool:
        """Save ``model`` as ``model.keras`` without its optimizer: a reused model is only
        exported or handed to the next stage, which compiles its own, and tf_keras's ``.keras``
        saving has no ``include_optimizer``; Adam's two slots made the file 3x its weights (the
        fine-tuned MiniLM teacher 273 MB). The optimizer is put back for the caller."""
        from edgekit import _tf

        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / ".model.partial.keras"
        optimizer = getattr(model, "optimizer", None)
        try:
            model.optimizer = None
            with _tf.tfmot().quantization.keras.quantize_scope():
                model.save(tmp)
            tmp.replace(folder / "model.keras")
            return True
        except Exception:  # a model kind that cannot round-trip: the stage stays uncached
            tmp.unlink(missing_ok=True)
            return False
        finally:
            model.optimizer = optimizer

    @staticmethod
    def _load_model(folder: Path, custom_objects: dict[str, Any]) -> Any | None:
        from edgekit import _tf

        path = folder / "model.keras"
        if not path.is_file():
            return None
        try:
            with _tf.tfmot().quantization.keras.quantize_scope():
                return _tf.load_keras_file(path, custom_objects)
        except Exception:
            return None

    @staticmethod
    def _save_outputs(folder: Path, outputs: np.ndarray) -> bool:
        import io

        buf = io.BytesIO()
        np.save(buf, np.asarray(outputs), allow_pickle=False)
        write_bytes(folder / "outputs.npy", buf.getvalue())
        return True

    @staticmethod
    def _same_outputs(folder: Path, outputs: np.ndarray) -> bool:
        try:
            stored = np.load(folder / "outputs.npy", allow_pickle=False)
        except (OSError, ValueError):
            return False
        return stored.shape == outputs.shape and bool(np.allclose(stored, outputs, atol=1e-6))
