"""TFLite via TensorFlow's converter.

Precisions: ``fp32``; ``fp16`` (float16 weights); ``dynamic`` (int8 weights, float activations);
``int8`` (full-integer kernels calibrated on a representative set; inputs and outputs stay
float so every runtime is fed the same way). A QAT model exported as ``int8`` uses the ranges
it learned. Built-in ops only: a model that needs TensorFlow (Flex) ops fails loudly here
rather than producing a file the edge runtime cannot run.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import _tf
from edgekit.atomic import write_bytes
from edgekit.data import Split
from edgekit.errors import EdgekitError
from edgekit.families import FamilySpec
from edgekit.quiet import native_stderr
from edgekit.exporters import (EXPORTERS, ExportedArtifact, Exporter, ExportOptions,
                               keras_input_specs)

CALIBRATION_EXAMPLES = 200


class TFLiteExporter(Exporter):
    format = "tflite"
    precisions = frozenset({"fp32", "fp16", "dynamic", "int8"})
    runtime = "litert"
    suffix = ".tflite"

    def export(self, model: Any, precision: str, dest: Path, calibration: Split,
               options: ExportOptions | None = None,
               family: FamilySpec | None = None, tuning: Split | None = None) -> ExportedArtifact:
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
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        try:
            with native_stderr(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Statistics for quantized inputs ..." is expected
                flatbuffer = converter.convert()
        except Exception as exc:  # the converter raises many types; ours names the cause
            raise EdgekitError(f"TFLite conversion ({precision}) failed: {str(exc).splitlines()[0]}",
                               where=dest.name, fix="see the support table in README.md") from exc
        write_bytes(dest, flatbuffer)
        return ExportedArtifact(self.format, precision, [dest])


def _representative(specs: list[tuple[str, tuple[int, ...], Any]], calib: Split) -> Iterator[list[np.ndarray]]:
    n = min(CALIBRATION_EXAMPLES, len(calib))
    for i in range(n):
        yield [calib.x[name][i:i + 1].astype(dtype) for name, _, dtype in specs]


EXPORTERS.register(TFLiteExporter.format, TFLiteExporter())
