"""Accuracy-aware int8 for ONNX: keep the most sensitive layers in float until int8 fits.

Quantizing every MatMul of a transformer usually costs little, but a few layers (often the
last FFN output or the classifier) can cost more than the budget. Rather than give up on int8,
rank layers by how much quantizing *that layer alone* moves the outputs, then exclude the worst
ones from quantization, one at a time, until the int8 model agrees with the float model on
enough examples. This is the loop Intel's accuracy-aware quantization and Olive run, in the
open and reported: the artifact's notes say which layers stayed float and what each step gave.

Agreement is judged on the *validation* split: examples the model never trained on, so they
show what int8 does to unseen inputs (a distilled student agreed 0.98 with its int8 copy on its
training sentences and 0.95 on new ones), and never the test split that proves the artifact
afterwards, so the proof stays an honest test. Without a validation split it judges on the
calibration examples and says so. The float reference runs on ONNX Runtime (fp32, what the
Keras model computes); the candidates run on the runtime that will execute the artifact, so
OpenVINO's int8 kernels and its bf16 float parts are what is judged.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.data import Split
from edgekit.runtimes import RUNTIMES

#: Ops ONNX Runtime's quantizer turns into integer kernels; the ones worth ranking.
QUANTIZED_OPS = frozenset({"MatMul", "Gemm", "Conv", "FusedMatMul", "Attention"})
#: Examples used to judge agreement during the search, and to calibrate the one-layer trials
#: that rank sensitivity (the accepted configurations use the full calibration set).
SEARCH_EXAMPLES = 128
TRIAL_CALIBRATION = 64

#: (src, dest, nodes to keep float, calibration examples)
Quantize = Callable[[Path, Path, list[str], Split], None]


def layer_groups(onnx_path: Path, layer_names: list[str]) -> dict[str, list[str]]:
    """Quantizable node names grouped by the Keras layer they come from.

    Converters put the layer name inside the node name (``.../layer_0/attention/query/MatMul``);
    the longest layer name found wins. Nodes matching no layer form their own group.
    """
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    by_length = sorted(layer_names, key=len, reverse=True)
    groups: dict[str, list[str]] = {}
    for node in graph.node:
        if node.op_type not in QUANTIZED_OPS:
            continue
        owner = next((n for n in by_length if n in node.name), node.name)
        groups.setdefault(owner, []).append(node.name)
    return groups


def _outputs(path: Path, batches: list[dict[str, np.ndarray]],
             runtime: str = "onnxruntime") -> np.ndarray:
    """The model's outputs through one of edgekit's runtime adapters (input matching, dtypes)."""
    session = RUNTIMES.get(runtime).load(path, threads=2)
    return np.concatenate([session.run(batch) for batch in batches])


def _batches(split: Split, n: int, size: int = 32) -> list[dict[str, np.ndarray]]:
    return [{k: v[i:i + size] for k, v in split.x.items()} for i in range(0, min(n, len(split)), size)]


def quantize_with_fallback(src: Path, dest: Path, calibration: Split, judge: Split | None,
                           layer_names: list[str], min_agreement: float, quantize: Quantize,
                           examples: int = SEARCH_EXAMPLES,
                           runtime: str = "onnxruntime", batch: int = 32) -> dict[str, Any]:
    """Quantize ``src`` into ``dest``; exclude the most sensitive layers until the candidate,
    run on ``runtime``, agrees with float ``src`` on ``min_agreement`` of ``judge``'s examples.

    ``batch``: examples per call. Static int8 gives the same outputs at any batch; dynamic int8
    quantizes activations with one range per call, so it must be judged at batch 1, as the
    proof and devices run it.

    Returns notes for the report: agreement of all-int8, the ranking, what stayed float.
    """
    split_name = "validation"
    if judge is None or len(judge) == 0:
        judge, split_name = calibration, "calibration (the recipe has no validation split)"
    feeds = _batches(judge, examples, batch)
    reference = _outputs(src, feeds)
    top1 = reference.argmax(-1)

    few = Split({k: v[:TRIAL_CALIBRATION] for k, v in calibration.x.items()},
                calibration.y[:TRIAL_CALIBRATION])

    def trial(exclude: list[str], out: Path, calib: Split = few) -> tuple[float, float]:
        quantize(src, out, exclude, calib)
        got = _outputs(out, feeds, runtime)
        return float((got.argmax(-1) == top1).mean()), float(np.abs(got - reference).mean())

    notes: dict[str, Any] = {"fallback_min_agreement": min_agreement,
                             "fallback_examples": int(len(top1)), "fallback_split": split_name,
                             "fallback_runtime": runtime, "fallback_batch": batch}
    quantize(src, dest, [], calibration)
    got = _outputs(dest, feeds, runtime)
    agreement = float((got.argmax(-1) == top1).mean())
    notes["all_int8_agreement"] = agreement
    if agreement >= min_agreement:
        notes["kept_float"] = []
        return notes
    groups = layer_groups(src, layer_names)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".tmp-fallback-") as tmp:
        probe = Path(tmp) / "probe.onnx"
        # Sensitivity of a layer: output change when it alone is quantized.
        sensitivity = {}
        for name, nodes in groups.items():
            others = [n for g, ns in groups.items() if g != name for n in ns]
            sensitivity[name] = trial(others, probe)[1]
        ranking = sorted(sensitivity, key=sensitivity.get, reverse=True)  # type: ignore[arg-type]
        notes["sensitivity"] = {n: round(sensitivity[n], 6) for n in ranking}
        kept: list[str] = []
        steps = []
        for name in ranking:
            kept.append(name)
            agreement, _ = trial([n for g in kept for n in groups[g]], dest, calibration)
            steps.append({"kept_float": len(kept), "agreement": agreement})
            if agreement >= min_agreement:
                break
    notes.update(kept_float=kept, steps=steps, final_agreement=agreement,
                 quantized_layers=len(groups) - len(kept), layers=len(groups))
    return notes
