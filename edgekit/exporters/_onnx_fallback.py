"""Accuracy-aware int8 for ONNX (and OpenVINO, which imports the QDQ model): the format's half
of :mod:`edgekit.exporters._fallback`, whose search loop it runs.

ONNX Runtime's quantizer takes a list of nodes to leave in float, so a candidate is one
quantizer call; the nodes worth ranking are the ones it turns into integer kernels, grouped by
the Keras layer named inside them. The float reference runs on ONNX Runtime (fp32, what the
Keras model computes); the candidates run on the runtime that will execute the artifact, so
OpenVINO's int8 kernels and its bf16 float parts are what is judged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgekit.data import Split
from edgekit.exporters._fallback import SEARCH_EXAMPLES, owning_layer, search

#: Ops ONNX Runtime's quantizer turns into integer kernels; the ones worth ranking.
QUANTIZED_OPS = frozenset({"MatMul", "Gemm", "Conv", "FusedMatMul", "Attention"})
#: Calibration examples of the one-layer trials that rank sensitivity (calibrating is most of
#: a static candidate's cost; the accepted configurations use the full calibration set).
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
    groups: dict[str, list[str]] = {}
    for node in graph.node:
        if node.op_type not in QUANTIZED_OPS:
            continue
        owner = owning_layer([node.name], layer_names) or node.name
        groups.setdefault(owner, []).append(node.name)
    return groups


def quantize_with_fallback(src: Path, dest: Path, calibration: Split, judge: Split | None,
                           layer_names: list[str], min_agreement: float, quantize: Quantize,
                           examples: int = SEARCH_EXAMPLES,
                           runtime: str = "onnxruntime", batch: int = 32) -> dict[str, Any]:
    """Quantize ``src`` into ``dest``; exclude the most sensitive layers until the candidate,
    run on ``runtime``, agrees with float ``src`` on ``min_agreement`` of ``judge``'s examples
    (:func:`edgekit.exporters._fallback.search`, whose notes it returns)."""
    few = Split({k: v[:TRIAL_CALIBRATION] for k, v in calibration.x.items()},
                calibration.y[:TRIAL_CALIBRATION])

    def build(exclude: list[str], out: Path, trial: bool) -> None:
        quantize(src, out, exclude, few if trial else calibration)

    return search(build, lambda: layer_groups(src, layer_names), dest, src, calibration, judge,
                  min_agreement, examples, runtime, "onnxruntime", batch)
