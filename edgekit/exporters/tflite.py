"""TFLite via TensorFlow's converter.

Precisions: ``fp32``; ``fp16`` (float16 weights); ``dynamic`` (int8 weights, float activations);
``int8`` (full-integer kernels calibrated on a representative set; inputs and outputs stay
float so every runtime is fed the same way). A QAT model exported as ``int8`` uses the ranges
it learned. Built-in ops only: a model that needs TensorFlow (Flex) ops fails loudly here
rather than producing a file the edge runtime cannot run.

``int8`` with ``fallback_min_agreement`` keeps the layers whose int8 costs too much in float
(:mod:`edgekit.exporters._tflite_fallback`): one outlier weight can ruin a layer's 8-bit scale,
and giving up int8 for the whole model would waste what the other layers quantize well.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import _tf
from edgekit.atomic import write_bytes
from edgekit.data import Split
from edgekit.device.formats import FORMATS, Format, Precision
from edgekit.errors import EdgekitError
from edgekit.exporters._fallback import FallbackOptions
from edgekit.exporters._tflite_fallback import quantize_with_fallback
from edgekit.families import FamilySpec
from edgekit.quiet import native_stderr
from edgekit.exporters import (EXPORTERS, ExportedArtifact, Exporter,
                               keras_input_specs)

CALIBRATION_EXAMPLES = 200


class TFLiteOptions(FallbackOptions):
    """``fallback_*``: full-integer ``int8`` only (edgekit.exporters._tflite_fallback)."""


class TFLiteExporter(Exporter[TFLiteOptions]):
    format = Format.TFLITE
    precisions = frozenset({Precision.FP32, Precision.FP16, Precision.DYNAMIC, Precision.INT8})
    runtime = "litert"
    suffix = FORMATS[format].suffix
    Options = TFLiteOptions

    def export(self, model: Any, precision: Precision, dest: Path, calibration: Split,
               options: TFLiteOptions | None = None,
               family: FamilySpec | None = None, tuning: Split | None = None) -> ExportedArtifact:
        opts = options if options is not None else TFLiteOptions()
        with _conversion(precision, dest):
            if precision == "int8" and opts.fallback_min_agreement is not None:
                # Ops kept float need the float builtins beside the int8 ones.
                converter = _converter(model, precision, calibration, float_ops=True)
                notes = {"fallback": quantize_with_fallback(
                    _converter(model, "fp32", calibration).convert(), converter, dest,
                    calibration, tuning, [layer.name for layer in model.layers],
                    opts.fallback_min_agreement, opts.fallback_examples)}
                return ExportedArtifact(self.format, precision, [dest], notes)
            flatbuffer = _converter(model, precision, calibration).convert()
        write_bytes(dest, flatbuffer)
        return ExportedArtifact(self.format, precision, [dest])


def _converter(model: Any, precision: str, calibration: Split, float_ops: bool = False) -> Any:
    """TensorFlow's converter set for ``precision``; ``float_ops``: int8 may fall back to
    float builtins (selective quantization), else it is integer kernels only."""
    tf = _tf.tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if precision != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        specs = keras_input_specs(model, calibration)
        converter.representative_dataset = lambda: _representative(specs, calibration)
        # Integer kernels everywhere; float inputs are still fine for integer-typed
        # inputs such as token ids, which TFLite never quantizes.
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if float_ops:
            ops.append(tf.lite.OpsSet.TFLITE_BUILTINS)
        converter.target_spec.supported_ops = ops
    return converter


@contextmanager
def _conversion(precision: str, dest: Path) -> Iterator[None]:
    """Quiet converter logs; its many exception types become one error naming the cause."""
    try:
        with native_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Statistics for quantized inputs ..." is expected
            yield
    except EdgekitError:
        raise
    except Exception as exc:
        raise EdgekitError(f"TFLite conversion ({precision}) failed: {str(exc).splitlines()[0]}",
                           where=dest.name, fix="see the support table in README.md") from exc


def _representative(specs: list[tuple[str, tuple[int, ...], Any]], calib: Split) -> Iterator[list[np.ndarray]]:
    n = min(CALIBRATION_EXAMPLES, len(calib))
    for i in range(n):
        yield [calib.x[name][i:i + 1].astype(dtype) for name, _, dtype in specs]


EXPORTERS.register(TFLiteExporter.format.value, TFLiteExporter())
