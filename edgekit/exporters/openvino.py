"""OpenVINO IR (``.xml`` + ``.bin``) converted from our ONNX export.

Precisions: ``fp32``; ``fp16`` (weights compressed to fp16); ``int8`` (imports the static QDQ
ONNX model, whose Quantize/Dequantize pairs OpenVINO runs as int8, with its lookup tables, which
the quantizer leaves float, stored as int8 rows: :mod:`edgekit.exporters._onnx_weights`; OpenVINO
stores every weight behind a DequantizeLinear as an int8 constant). Note that OpenVINO picks its
*inference* precision at compile time (bf16 on CPUs with AVX512-BF16/AMX); the runtime adapter
reports what actually ran.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from edgekit.data import Split
from edgekit.device.formats import FORMATS, Format, Precision
from edgekit.families import FamilySpec
from edgekit.exporters import EXPORTERS, ExportedArtifact, Exporter
from edgekit.exporters.onnx import Int8Options, ONNXExporter, ONNXOptions
from edgekit.exporters._onnx_weights import quantize_lookup_tables


class OpenVINOOptions(Int8Options):
    """int8 options, applied to the QDQ ONNX model OpenVINO imports."""


class OpenVINOExporter(Exporter[OpenVINOOptions]):
    format = Format.OPENVINO
    precisions = frozenset({Precision.FP32, Precision.FP16, Precision.INT8})
    runtime = "openvino"
    suffix = FORMATS[format].suffix
    Options = OpenVINOOptions

    def export(self, model: Any, precision: Precision, dest: Path, calibration: Split,
               options: OpenVINOOptions | None = None,
               family: FamilySpec | None = None, tuning: Split | None = None) -> ExportedArtifact:
        import openvino as ov

        opts = options if options is not None else OpenVINOOptions()
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".tmp-") as tmpdir:
            onnx_path = Path(tmpdir) / "model.onnx"
            # The family's graph writer where it has one (plain ONNX ops; never ORT's fusion,
            # whose contrib ops mean nothing to OpenVINO): on a 3-layer BERT it converts in
            # 6 s and 1.2 GB peak where tf2onnx takes 26 s and 5.2 GB. The int8 fallback is
            # judged on OpenVINO itself.
            onnx_art = ONNXExporter().build(
                model, Precision.INT8 if precision == Precision.INT8 else Precision.FP32,
                onnx_path, calibration, ONNXOptions(**opts.model_dump()), family, tuning,
                self.runtime)
            tables: list[str] = []
            if precision == "int8":
                tables = quantize_lookup_tables(onnx_path, onnx_path)
            ir = ov.convert_model(str(onnx_path))
            stage = Path(tmpdir) / dest.name
            ov.save_model(ir, str(stage), compress_to_fp16=(precision == "fp16"))
            bin_dest = dest.with_suffix(".bin")
            # .bin first: the .xml is what marks the artifact as present.
            Path(stage.with_suffix(".bin")).replace(bin_dest)
            Path(stage).replace(dest)
        notes = {k: v for k, v in onnx_art.notes.items() if k in ("quantization", "fallback")}
        if tables:
            notes["int8_lookup_tables"] = tables
        return ExportedArtifact(self.format, precision, [dest, bin_dest],
                                {"converted_from": f"onnx ({onnx_art.notes['graph']}, opset 17)",
                                 **notes})


EXPORTERS.register(OpenVINOExporter.format.value, OpenVINOExporter())
