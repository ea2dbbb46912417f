"""Accuracy-aware full-integer TFLite: the format's half of :mod:`edgekit.exporters._fallback`,
whose search loop it runs.

TensorFlow's selective quantization does the work: ``tf.lite.experimental.QuantizationDebugger``
calibrates the model once (``calibrated_model``, float ops with recorded ranges), and each
candidate is that model re-quantized with ``QuantizationDebugOptions(denylisted_nodes=...)``
(``get_nondebug_quantized_model``): the listed ops stay float builtins, with Quantize/Dequantize
around them, and every other op keeps its int8 kernel. So a candidate costs one quantizer pass,
never a new calibration; the search's trials and its accepted steps are built the same way.

TFLite has no op names; the quantizer names an op by its output tensor. An op is grouped under
the Keras layer named in that tensor, or, where the converter renamed it (a model's output
tensor is ``StatefulPartitionedCall:0``), in the names of its weights. Both the float reference
(an fp32 TFLite of the same model) and the candidates run on LiteRT at batch 1, as the proof
and devices run them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from edgekit import _tf
from edgekit.atomic import write_bytes
from edgekit.data import Split
from edgekit.exporters._fallback import SEARCH_EXAMPLES, owning_layer, search

RUNTIME = "litert"


def layer_groups(model: bytes, layer_names: list[str]) -> dict[str, list[str]]:
    """The output tensor names of the float ops (what ``denylisted_nodes`` takes), grouped by
    the Keras layer they come from; ops matching no layer form their own group."""
    graph = _tf.lite_flatbuffers().convert_bytearray_to_object(bytearray(model)).subgraphs[0]
    name = [t.name.decode() if isinstance(t.name, bytes) else t.name for t in graph.tensors]
    produced = {i for op in graph.operators for i in op.outputs}
    groups: dict[str, list[str]] = {}
    for op in graph.operators:
        outs = [i for i in op.outputs if i >= 0 and graph.tensors[i].type == 0]  # FLOAT32
        if not outs:
            continue  # integer ops (token ids, shapes) are never quantized
        weights = [name[i] for i in op.inputs if i >= 0 and i not in produced
                   and i not in graph.inputs]
        owner = (owning_layer([name[i] for i in outs], layer_names)
                 or owning_layer(weights, layer_names) or name[outs[0]])
        groups.setdefault(owner, []).extend(name[i] for i in outs)
    return groups


class SelectiveQuantizer:
    """One calibration, then any number of int8 models with chosen ops left in float.

    Its converter logs are quieted by the caller (the TFLite exporter's ``_conversion``)."""

    def __init__(self, converter: Any) -> None:
        """``converter``: set for int8 (optimizations, representative dataset), with float
        builtins allowed beside the int8 ones, as the ops kept float need."""
        self._tf = _tf.tf()
        self._debugger = self._tf.lite.experimental.QuantizationDebugger(converter=converter)

    @property
    def calibrated(self) -> bytes:
        """The float model with its calibrated ranges: the ops the quantizer may denylist."""
        return self._debugger.calibrated_model

    def quantize(self, keep_float: list[str]) -> bytes:
        options = self._tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=keep_float)
        try:
            self._debugger.options = options
        except ValueError:
            # The setter also builds an instrumented copy and refuses one left with no
            # quantized op to verify; the options are set first, and the plain model below
            # needs no instruments.
            if self._debugger.options is not options:
                raise
        return self._debugger.get_nondebug_quantized_model()


def quantize_with_fallback(float_model: bytes, converter: Any, dest: Path, calibration: Split,
                           judge: Split | None, layer_names: list[str], min_agreement: float,
                           examples: int = SEARCH_EXAMPLES) -> dict[str, Any]:
    """Write full-integer TFLite to ``dest``, keeping the most sensitive layers float until
    it agrees with ``float_model`` (fp32 TFLite bytes) on ``min_agreement`` of ``judge``'s
    examples (:func:`edgekit.exporters._fallback.search`, whose notes it returns)."""
    quantizer = SelectiveQuantizer(converter)

    def build(keep_float: list[str], out: Path, trial: bool) -> None:
        write_bytes(out, quantizer.quantize(keep_float))  # calibrated once: trials cost the same

    # Candidates are staged beside ``dest`` and only the accepted one takes its name.
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".tmp-") as tmp:
        reference, stage = Path(tmp) / "fp32.tflite", Path(tmp) / "int8.tflite"
        write_bytes(reference, float_model)
        notes = search(build, lambda: layer_groups(quantizer.calibrated, layer_names), stage,
                       reference, calibration, judge, min_agreement, examples, RUNTIME,
                       RUNTIME, batch=1)
        stage.replace(dest)
    return notes
