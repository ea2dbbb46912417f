"""Accuracy-aware int8, whatever the format: keep the most sensitive layers in float until the
quantized model agrees with the float one often enough.

Quantizing every layer usually costs little, but a few layers (often the last FFN output or the
classifier) can cost more than the budget. Rather than give up on int8, rank layers by how much
quantizing *that layer alone* moves the outputs, then keep the worst ones in float, one at a
time, until the int8 model agrees with the float model on enough examples. This is the loop
Intel's accuracy-aware quantization and Olive run, in the open and reported: the artifact's
notes say which layers stayed float and what each step gave.

The loop is the same for every format; only two things differ, and the format supplies them:
how nodes are grouped by Keras layer (ONNX node names, TFLite tensor names) and how a candidate
with some nodes kept float is written (ONNX Runtime's quantizer, TFLite's selective
quantization). See :mod:`edgekit.exporters._onnx_fallback` and
:mod:`edgekit.exporters._tflite_fallback`.

Agreement is judged on the *validation* split: examples the model never trained on, so they
show what int8 does to unseen inputs (a distilled student agreed 0.98 with its int8 copy on its
training sentences and 0.95 on new ones), and never the test split that proves the artifact
afterwards, so the proof stays an honest test. Without a validation split it judges on the
calibration examples and says so. Candidates run on the runtime that will execute the artifact,
so that runtime's int8 kernels are what is judged.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from edgekit.data import Split
from edgekit.exporters import ExportOptions
from edgekit.device.runtimes import RUNTIMES
from edgekit.threads import settle_threads

#: Examples used to judge agreement during the search.
SEARCH_EXAMPLES = 128

#: (nodes kept float, where to write the candidate, trial) -> None. ``trial``: a candidate only
#: ranks one layer's sensitivity, so the format may build it more cheaply (less calibration).
Build = Callable[[list[str], Path, bool], None]


class FallbackOptions(ExportOptions):
    """The fallback's options, shared by every exporter that offers it."""

    fallback_min_agreement: float | None = Field(
        None, gt=0, le=1, description="int8 (ONNX also dynamic): keep the most sensitive layers "
        "in float until the quantized model, run on the artifact's own runtime, agrees with the "
        "float one on this share of validation examples (edgekit.exporters._fallback); None "
        "quantizes everything")
    fallback_examples: int = Field(
        SEARCH_EXAMPLES, ge=16, description="validation examples the fallback judges agreement "
        "on; one example is 1/N of agreement, so resolving a 1-point budget wants several hundred")


def owning_layer(names: Iterable[str], layer_names: list[str]) -> str | None:
    """The Keras layer whose name appears in one of ``names`` (converters put the layer name
    inside node and tensor names, ``.../layer_0/attention/query/MatMul``); the longest wins, so
    ``dense_1`` is not taken for ``dense``."""
    names = list(names)
    return next((layer for layer in sorted(layer_names, key=len, reverse=True)
                 if any(layer in name for name in names)), None)


def outputs(path: Path, batches: list[dict[str, np.ndarray]], runtime: str) -> np.ndarray:
    """The model's outputs through one of edgekit's runtime adapters (input matching, dtypes)."""
    session = RUNTIMES.get(runtime).load(path, threads=settle_threads(None))
    return np.concatenate([session.run(batch) for batch in batches])


def _batches(split: Split, n: int, size: int) -> list[dict[str, np.ndarray]]:
    return [{k: v[i:i + size] for k, v in split.x.items()} for i in range(0, min(n, len(split)), size)]


def search(build: Build, groups: Callable[[], dict[str, list[str]]], dest: Path,
           reference: Path, calibration: Split, judge: Split | None, min_agreement: float,
           examples: int = SEARCH_EXAMPLES, runtime: str = "onnxruntime",
           reference_runtime: str = "onnxruntime", batch: int = 32) -> dict[str, Any]:
    """Write the int8 model to ``dest`` with the fewest layers kept float that let it, run on
    ``runtime``, agree (top-1) with the float model ``reference`` (run on ``reference_runtime``)
    on ``min_agreement`` of ``judge``'s first ``examples`` examples.

    ``groups``: the quantizable nodes of each layer, asked for only when all-int8 falls short.
    ``batch``: examples per call. Static int8 gives the same outputs at any batch; dynamic int8
    quantizes activations with one range per call, so it must be judged at batch 1, as the
    proof and devices run it.

    Returns notes for the report: agreement of all-int8, the ranking, what stayed float.
    """
    split_name = "validation"
    if judge is None or len(judge) == 0:
        judge, split_name = calibration, "calibration (the recipe has no validation split)"
    feeds = _batches(judge, examples, batch)
    want = outputs(reference, feeds, reference_runtime)
    top1 = want.argmax(-1)

    def trial(keep: list[str], out: Path, cheap: bool) -> tuple[float, float]:
        build(keep, out, cheap)
        got = outputs(out, feeds, runtime)
        return float((got.argmax(-1) == top1).mean()), float(np.abs(got - want).mean())

    notes: dict[str, Any] = {"fallback_min_agreement": min_agreement,
                             "fallback_examples": int(len(top1)), "fallback_split": split_name,
                             "fallback_runtime": runtime, "fallback_batch": batch}
    agreement, _ = trial([], dest, False)
    notes["all_int8_agreement"] = agreement
    if agreement >= min_agreement:
        notes["kept_float"] = []
        return notes
    nodes = groups()
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".tmp-fallback-") as tmp:
        probe = Path(tmp) / f"probe{reference.suffix}"
        # Sensitivity of a layer: output change when it alone is quantized.
        sensitivity = {}
        for name in nodes:
            others = [n for g, ns in nodes.items() if g != name for n in ns]
            sensitivity[name] = trial(others, probe, True)[1]
        ranking = sorted(sensitivity, key=sensitivity.get, reverse=True)  # type: ignore[arg-type]
        notes["sensitivity"] = {n: round(sensitivity[n], 6) for n in ranking}
        kept: list[str] = []
        steps = []
        for name in ranking:
            kept.append(name)
            agreement, _ = trial([n for g in kept for n in nodes[g]], dest, False)
            steps.append({"kept_float": len(kept), "agreement": agreement})
            if agreement >= min_agreement:
                break
    notes.update(kept_float=kept, steps=steps, final_agreement=agreement,
                 quantized_layers=len(nodes) - len(kept), layers=len(nodes))
    return notes
