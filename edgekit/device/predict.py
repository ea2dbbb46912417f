"""``predict``: a deployed folder's entry point, answering with its one artifact on the device.

``edgekit deploy`` writes a self-contained folder (the artifact, this package, ``deploy.json``,
``manifest.json`` and a ``predict`` launcher that runs this module); on the device::

    ./predict "a gripping, beautifully shot film"       # text bundles: label and probabilities
    ./predict example.npy                                # others: the model's outputs
    ./predict --jsonl < requests.jsonl                   # batch: one JSON request per line
    ./predict --check                                    # hashes, runtime, a few held-out examples

Why here, in the device package: it runs where only NumPy, the runtime and (for text)
``tokenizers`` are installed, so it may import nothing but :mod:`edgekit.device`. The same
code computes, on the host at deploy time, the outputs ``--check`` compares against
(:func:`check_outputs`), so a device that disagrees differs in its runtime, not in our code.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.device.errors import EdgekitError
from edgekit.device.hashing import sha256_of

SCHEMA = "edgekit.deploy/1"
CONFIG = "deploy.json"  # what the folder holds and how to call it (written by edgekit deploy)
MANIFEST = "manifest.json"  # every file's sha256 (edgekit.manifest/1)
CHECK = "check"  # held-out examples, the host's outputs for them, the bundle's reference outputs


class RuntimeMissing(EdgekitError):
    """The folder's runtime (or ``tokenizers``) does not import on this Python."""


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG
    if not path.is_file():
        raise EdgekitError("not a deployed folder (no deploy.json)", where=folder,
                           fix="run the predict script inside the folder 'edgekit deploy' wrote")
    config = json.loads(path.read_text(encoding="utf-8"))
    if config.get("schema") != SCHEMA:
        raise EdgekitError(f"not an {SCHEMA} folder", where=path, fix="deploy it again")
    return config


def softmax(logits: np.ndarray) -> np.ndarray:
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


class Predictor:
    """The folder's artifact loaded on its runtime, answering texts or input arrays."""

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        from edgekit.device.runtimes import RUNTIMES

        self.folder = folder
        self.config = read_config(folder)
        self.runtime = RUNTIMES.get(self.config["runtime"])
        reason = self.runtime.missing()
        if reason:
            raise RuntimeMissing(f"{self.config['runtime']}: {reason}", fix=self.config["install"])
        threads = threads or int(self.config.get("threads", 1))
        self.labels: list[str] | None = self.config.get("labels")
        self.text = self.config["kind"] == "text"
        if self.text:
            try:
                from edgekit.device.text_classify import TextClassifier
            except ImportError as exc:  # tokenizers
                raise RuntimeMissing(str(exc), fix=self.config["install"]) from None

            self.classifier = TextClassifier(folder, self.config["artifact"], threads,
                                             self.config["runtime"])
        else:
            self.session = self.runtime.load(folder / self.config["artifact"], threads)

    # ---- text bundles -------------------------------------------------------------------
    def texts(self, texts: list[str]) -> list[dict[str, Any]]:
        return [{"text": p.text, "label": p.label, "probabilities": p.probabilities}
                for p in self.classifier.predict(texts)]

    def text_logits(self, texts: list[str]) -> np.ndarray:
        return self.classifier.logits(texts)[1]

    # ---- tensor bundles -----------------------------------------------------------------
    def inputs_spec(self) -> dict[str, dict[str, Any]]:
        return self.config["inputs"]  # name -> {"shape": per-example shape, "dtype"}

    def as_batch(self, given: dict[str, Any]) -> dict[str, np.ndarray]:
        """``given`` arrays keyed by input name (``x__`` prefixes dropped), cast to the model's
        dtype, with a batch axis added to single examples."""
        spec = self.inputs_spec()
        given = {k.removeprefix("x__"): v for k, v in given.items()}
        if len(spec) == 1 and len(given) == 1:
            given = {next(iter(spec)): next(iter(given.values()))}
        missing = sorted(set(spec) - set(given))
        if missing:
            raise EdgekitError(f"input {missing[0]} missing (the model takes {', '.join(spec)})",
                               fix="pass one array per input, keyed by input name")
        batch = {}
        for name, s in spec.items():
            arr = np.asarray(given[name], dtype=s["dtype"])
            if arr.ndim == len(s["shape"]):
                arr = arr[None]
            if tuple(arr.shape[1:]) != tuple(s["shape"]):
                raise EdgekitError(f"input {name} has shape {tuple(arr.shape)}, the model takes "
                                   f"(N, {', '.join(map(str, s['shape']))})",
                                   fix="preprocess it as the bundle's held-out data is")
            batch[name] = arr
        return batch

    def outputs(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(batch.values())))
        rows = [self.session.run({k: v[i:i + 1] for k, v in batch.items()}) for i in range(n)]
        return np.concatenate(rows, axis=0).astype(np.float32)

    def answer(self, outputs: np.ndarray) -> list[dict[str, Any]]:
        """Outputs per example; classifiers add the label and its probabilities."""
        answers = []
        for row in outputs:
            out: dict[str, Any] = {"outputs": np.round(row.astype(float), 6).tolist()}
            if self.config.get("task") == "classification" and row.ndim == 1:
                p = row if _is_distribution(row) else softmax(row)
                labels = self.labels or [str(i) for i in range(len(p))]
                out["label"] = labels[int(np.argmax(p))]
                out["probabilities"] = {lab: round(float(q), 4) for lab, q in zip(labels, p)}
            answers.append(out)
        return answers


def _is_distribution(row: np.ndarray) -> bool:
    return bool(np.all(row >= 0) and abs(float(row.sum()) - 1.0) < 1e-3)


def read_array_file(path: Path) -> dict[str, np.ndarray]:
    """An ``.npy`` (one input) or ``.npz`` (arrays keyed by input name)."""
    if not path.is_file():
        raise EdgekitError("file not found", where=path, fix="pass an existing .npy or .npz file")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    if path.suffix != ".npy":
        raise EdgekitError("not an .npy or .npz file", where=path,
                           fix="save the preprocessed input with numpy.save")
    return {"input": np.load(path, allow_pickle=False)}


# ---- the self-check --------------------------------------------------------------------------

def check_inputs(folder: Path) -> dict[str, np.ndarray]:
    """The held-out examples kept in ``check/``: ``texts`` for text bundles, else the inputs."""
    return {p.stem: np.load(p, allow_pickle=False) for p in sorted((folder / CHECK).glob("*.npy"))
            if p.stem == "texts" or p.stem.startswith("x__")}


def check_outputs(predictor: Predictor) -> np.ndarray:
    """The artifact's outputs on the kept examples (logits for text): computed by the host at
    deploy time into ``check/expected.npy``, and again on the device by ``--check``."""
    held = check_inputs(predictor.folder)
    if predictor.text:
        return predictor.text_logits([str(t) for t in held["texts"]])
    return predictor.outputs(predictor.as_batch(held))


def verify_hashes(folder: Path) -> str | None:
    """None when every file ``manifest.json`` lists is there with its sha256 and nothing else
    sits in the folder (bytecode caches aside), else the first problem."""
    entries = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]
    listed = {e["path"] for e in entries} | {MANIFEST}
    for e in entries:
        path = folder / e["path"]
        if not path.is_file():
            return f"{e['path']}: listed in manifest.json but missing"
        if sha256_of(path) != e["sha256"]:
            return f"{e['path']}: sha256 differs from manifest.json"
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel not in listed and "__pycache__" not in path.parts:
            return f"{rel}: not listed in manifest.json"
    return None


def self_check(folder: Path) -> dict[str, Any]:
    """What ``predict --check`` reports: the folder's files against their sha256, the runtime
    (with the exact ``pip install`` line when it does not import), and the kept held-out
    examples run here against the host's outputs (within the artifact's conversion tolerance;
    int8 artifacts, which have none, by label agreement) and the bundle's reference outputs."""
    config = read_config(folder)
    out: dict[str, Any] = {"schema": SCHEMA, "machine": platform.machine(),
                           "python": platform.python_version(), "artifact": config["artifact"]}
    problem = verify_hashes(folder)
    out["hashes_ok"] = problem is None
    if problem:
        return {**out, "passed": False, "error": problem}
    try:
        predictor = Predictor(folder)
    except RuntimeMissing as exc:
        return {**out, "passed": False, "error": exc.message, "missing_runtime": True,
                "install": config["install"]}
    out |= {"runtime": predictor.runtime.name, "runtime_version": predictor.runtime.version()}
    got = check_outputs(predictor)
    expected = np.load(folder / CHECK / "expected.npy", allow_pickle=False)
    reference = np.load(folder / CHECK / "reference.npy", allow_pickle=False)
    diff = float(np.max(np.abs(got - expected)))
    label_rule = config["kind"] == "text" or config.get("task") == "classification"
    host_agree = float(np.mean(got.argmax(-1) == expected.argmax(-1))) if label_rule else None
    ref_agree = float(np.mean(got.argmax(-1) == reference.argmax(-1))) \
        if label_rule and reference.shape == got.shape else None
    atol = config["check"].get("atol")
    passed = diff <= atol if atol is not None else (host_agree or 0.0) >= config["check"]["min_agreement"]
    return {**out, "examples": int(len(got)), "max_abs_diff_vs_host": diff, "atol": atol,
            "agreement_with_host": host_agree, "agreement_with_bundle_reference": ref_agree,
            "passed": bool(passed)}


# ---- command line ----------------------------------------------------------------------------

def _jsonl_requests(lines: Iterable[str]) -> Iterable[Any]:
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                raise EdgekitError(f"stdin line {n} is not JSON",
                                   fix='send one JSON value a line, e.g. {"text": "..."}') from None


def _answer_jsonl(predictor: Predictor, lines: Iterable[str]) -> Iterable[dict[str, Any]]:
    for request in _jsonl_requests(lines):
        if predictor.text:
            text = request.get("text") if isinstance(request, dict) else request
            if not isinstance(text, str):
                raise EdgekitError("a text request is a JSON string or {\"text\": \"...\"}")
            yield from predictor.texts([text])
        else:
            given = request.get("inputs", {"input": request.get("input")}) \
                if isinstance(request, dict) else {"input": request}
            yield from predictor.answer(predictor.outputs(predictor.as_batch(given)))


def main(argv: list[str] | None = None, folder: Path | None = None) -> int:
    parser = argparse.ArgumentParser(prog="predict", description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="*", help="texts (text models) or .npy/.npz files")
    parser.add_argument("--jsonl", action="store_true",
                        help='read JSON lines on stdin ({"text": ...} or {"input": [...]})')
    parser.add_argument("--check", action="store_true",
                        help="verify the files' sha256, the runtime and a few held-out examples")
    parser.add_argument("--threads", type=int, help="default: the device profile's")
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    folder = (args.folder or folder or Path(__file__).resolve().parents[2]).resolve()
    try:
        if args.check:
            result = self_check(folder)
            print(json.dumps(result))
            return 0 if result["passed"] else 1
        predictor = Predictor(folder, args.threads)
        if args.jsonl:
            answers: Iterable[dict[str, Any]] = _answer_jsonl(predictor, sys.stdin)
        elif predictor.text:
            answers = predictor.texts(list(args.inputs))
        else:
            answers = (a for path in args.inputs for a in predictor.answer(
                predictor.outputs(predictor.as_batch(read_array_file(Path(path))))))
        for answer in answers:
            print(json.dumps(answer), flush=True)
    except EdgekitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
