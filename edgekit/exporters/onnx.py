"""ONNX via tf2onnx (opset 17), or the family's own graph writer (see
:mod:`edgekit.exporters.graphs`), quantized with ONNX Runtime's quantizer.

Precisions: ``fp32``; ``int8`` (static QDQ: per-channel int8 weights, uint8 activations
calibrated on training examples; the QDQ form is also what OpenVINO imports as int8);
``dynamic`` (int8 weights, activations quantized at run time, for transformer-style models);
``fp16`` (float16 weights and compute, float32 inputs/outputs, for GPUs: see
:mod:`edgekit.exporters._onnx_fp16`).
"""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from edgekit import _tf
from edgekit.data import Split
from edgekit.device.formats import FORMATS, Format, Precision
from edgekit.errors import EdgekitError
from edgekit.exporters._fallback import FallbackOptions
from edgekit.exporters._onnx_fallback import quantize_with_fallback
from edgekit.exporters._onnx_fp16 import convert_to_fp16
from edgekit.families import FamilySpec
from edgekit.quiet import known_advice, native_stderr, working_directory
from edgekit.exporters import (EXPORTERS, ExportedArtifact, Exporter,
                               keras_input_specs)
from edgekit.exporters.graphs import writer_for

OPSET = 17
CALIBRATION_EXAMPLES = 200


def keras_to_onnx(model: Any, dest: Path, calibration: Split) -> None:
    tf = _tf.tf()
    import tf2onnx

    signature = [tf.TensorSpec((None, *shape), tf.as_dtype(dtype), name=name)
                 for name, shape, dtype in keras_input_specs(model, calibration)]
    tmp = dest.with_name(f".{dest.name}.tmp")
    try:
        with native_stderr():
            tf2onnx.convert.from_keras(model, input_signature=signature, opset=OPSET,
                                       output_path=str(tmp))
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise EdgekitError(f"ONNX conversion failed: {str(exc).splitlines()[0]}", where=dest.name,
                           fix="see the support table in README.md") from exc
    tmp.replace(dest)


class _CalibrationReader:
    """onnxruntime.quantization's CalibrationDataReader over the calibration split, one
    example at a time, or over ready feeds (graphs whose inputs have no example axis first,
    e.g. a GPT's KV caches)."""

    def __init__(self, calib: Split | list[dict[str, np.ndarray]],
                 input_types: dict[str, np.dtype]) -> None:
        if isinstance(calib, list):
            feeds = calib[:CALIBRATION_EXAMPLES]
        else:
            feeds = [{k: calib.x[k][i:i + 1] for k in input_types}
                     for i in range(min(CALIBRATION_EXAMPLES, len(calib)))]
        self._items = iter([{k: np.asarray(feed[k]).astype(t) for k, t in input_types.items()}
                            for feed in feeds])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def quantize_static_qdq(src: Path, dest: Path, calibration: Split | list[dict[str, np.ndarray]],
                        exclude: list[str] | None = None,
                        op_types: list[str] | None = None) -> None:
    """Static QDQ int8; ``src`` must already be pre-processed (:func:`prepare_for_static`).

    ``op_types`` limits what is quantized (None: every op type ONNX Runtime can quantize).
    ``calibration``: a split (each example one feed), or the feeds themselves.
    """
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    graph = onnx.load(str(src), load_external_data=False).graph
    types = {i.name: onnx.helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type)
             for i in graph.input}
    reader = _CalibrationReader(calibration, types)
    CalibrationDataReader.register(_CalibrationReader)
    # Not CalibMaxIntermediateOutputs (which would bound the calibrator's memory): ONNX
    # Runtime 1.32's MinMax calibrator clears what it collected at that count without merging
    # it, so the ranges would come from the last few examples only (onnxruntime#18893).
    with known_advice():
        quantize_static(str(src), str(dest), reader, quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=exclude or [],
                        op_types_to_quantize=op_types or None)


def prepare_for_static(src: Path, dest: Path) -> None:
    """Shape inference and graph clean-up the static quantizer expects (renames nodes, so
    layer exclusions are chosen on its output)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(src), str(dest), skip_symbolic_shape=True)


def quantize_dynamic_int8(src: Path, dest: Path, exclude: list[str] | None = None, *,
                          per_channel: bool = False, reduce_range: bool = False) -> None:
    """Dynamic int8: s8 weights, activations quantized to u8 at run time.

    The defaults are ONNX Runtime's (one weight scale per tensor, 8 bits). Two options, and
    no setting is best for every model, so recipes choose and say why:
    - ``per_channel``: one scale per output column, so no column is rounded by another's range.
    - ``reduce_range``: 7-bit weights. On x86 without VNNI (AVX2, early AVX-512) ONNX Runtime's
      u8s8 kernel (``vpmaddubsw``) adds pairs of u8*s8 products into saturating int16; 255*127*2
      overflows, 255*63*2 cannot. Per-channel alone saturates more pairs (every column spans
      the full range).
    Measured at batch 1 on an AVX2 CPU: the SST-2 DistilBERT student's agreement with its float
    model went from 96.3% (-0.92 points) with the defaults to 98.4% (-0.46) with both; the quick
    5-step diffusion sampler, whose errors compound over steps, went the other way (96.7% of
    samples within tolerance with the defaults, 87% with both, 0% with per-channel alone).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Fused graphs carry contrib ops whose types the quantizer cannot infer.
    with known_advice():
        quantize_dynamic(str(src), str(dest), weight_type=QuantType.QInt8,
                         per_channel=per_channel, reduce_range=reduce_range,
                         nodes_to_exclude=exclude or [],
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


class Int8Options(FallbackOptions):
    """int8 choices shared by every format quantized through ONNX Runtime (ONNX, OpenVINO)."""

    static_op_types: list[str] | None = Field(
        None, description="int8: quantize only these op types, e.g. [MatMul, Gemm] for "
        "transformers, whose residual Adds, LayerNorms and masked attention scores lose too "
        "much in 8 bits; None: every type ONNX Runtime quantizes")


class ONNXOptions(Int8Options):
    fusion: Literal["none", "bert"] = Field("none", description="run ONNX Runtime's transformer "
                                            "optimizer (attention / LayerNorm / GELU fusion) "
                                            "first; the result runs on ONNX Runtime only")
    num_heads: int = Field(0, ge=0, description="for fusion; 0 = read from the graph")
    hidden_size: int = Field(0, ge=0, description="for fusion; 0 = read from the graph")
    per_channel: bool = Field(False, description="dynamic: one int8 weight scale per output "
                              "channel instead of per tensor (ONNX Runtime's default); int8 "
                              "(static) is always per channel. See quantize_dynamic_int8")
    fp16_keep_fp32: list[str] = Field(default_factory=list, description="fp16: op types kept "
                                      "in float32 (ONNX Runtime's CUDA LayerNorm/Softmax kernels "
                                      "already accumulate in float32). See onnx_fp16")
    reduce_range: bool = Field(False, description="dynamic: 7-bit weights, which x86 CPUs without "
                               "VNNI cannot saturate in int16 pair sums; pair it with per_channel. "
                               "See quantize_dynamic_int8")


def fuse_transformer(src: Path, dest: Path, options: ONNXOptions) -> dict[str, int]:
    """ONNX Runtime's BERT fusions; returns the fused-op counts it reports.

    The same two passes as ``optimize_model(..., opt_level=1)``, without PyTorch: that call
    runs ONNX Runtime's basic graph optimisations through ``optimize_by_onnxruntime``, which
    imports torch (only to pick a GPU provider), and torch is no edgekit dependency. So the
    basic pass runs here through an InferenceSession that saves its optimised graph, with the
    optimizer's own setting (ConstantSharing off), and ``opt_level=0`` then applies only the
    Python fusions to it."""
    import onnxruntime as ort
    from onnxruntime.transformers.optimizer import optimize_model

    with tempfile.TemporaryDirectory(prefix="edgekit-fuse-") as tmp, native_stderr():
        basic = Path(tmp) / "basic.onnx"
        session_options = ort.SessionOptions()
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        session_options.optimized_model_filepath = str(basic)
        ort.InferenceSession(str(src), session_options, providers=["CPUExecutionProvider"],
                             disabled_optimizers=["ConstantSharing"])
        optimized = optimize_model(str(basic), model_type="bert", num_heads=options.num_heads,
                                   hidden_size=options.hidden_size, opt_level=0)
    optimized.save_model_to_file(str(dest))
    return {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}


class ONNXExporter(Exporter[ONNXOptions]):
    format = Format.ONNX
    precisions = frozenset({Precision.FP32, Precision.FP16, Precision.INT8, Precision.DYNAMIC})
    runtime = "onnxruntime"
    suffix = FORMATS[format].suffix
    Options = ONNXOptions

    def export(self, model: Any, precision: Precision, dest: Path, calibration: Split,
               options: ONNXOptions | None = None,
               family: FamilySpec | None = None, tuning: Split | None = None) -> ExportedArtifact:
        opts = options if options is not None else ONNXOptions()
        return self.build(model, precision, dest, calibration, opts, family, tuning, self.runtime)

    def build(self, model: Any, precision: Precision, dest: Path, calibration: Split,
              opts: ONNXOptions, family: FamilySpec | None, tuning: Split | None,
              judge_runtime: str) -> ExportedArtifact:
        """:meth:`export`, with the runtime that judges the int8 fallback named: a format
        built from this ONNX (OpenVINO) is judged on its own runtime, whose int8 kernels and
        float precision (bf16 on some CPUs) differ from ONNX Runtime's."""
        notes: dict[str, Any] = {"opset": OPSET}
        out = dest.resolve()  # absolute: the work below runs inside the temporary folder
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".tmp-") as tmpdir, \
                working_directory(tmpdir):
            graph = Path(tmpdir) / "fp32.onnx"
            writer, notes["graph"] = writer_for(family, self.format, model, "tf2onnx")
            if writer is not None:
                writer.write(model, graph)
            else:
                keras_to_onnx(model, graph, calibration)
            if opts.fusion != "none":
                fused = Path(tmpdir) / "fused.onnx"
                notes["fused_ops"] = fuse_transformer(graph, fused, opts)
                graph = fused
            tmp = out.with_name(f".{out.name}.tmp")
            if precision == "fp32":
                graph.replace(tmp)
            elif precision == "fp16":
                notes |= convert_to_fp16(graph, tmp, opts.fp16_keep_fp32)
            else:
                if precision == "int8":
                    prepared = Path(tmpdir) / "prepared.onnx"
                    prepare_for_static(graph, prepared)
                    graph = prepared
                    quantize = partial(_static, op_types=opts.static_op_types)
                    notes["quantization"] = "static QDQ, per-channel s8 weights, u8 activations"
                else:
                    quantize = partial(_dynamic, per_channel=opts.per_channel,
                                       reduce_range=opts.reduce_range)
                    notes["quantization"] = (
                        f"dynamic, {'per-channel' if opts.per_channel else 'per-tensor'} "
                        f"{'7-bit' if opts.reduce_range else '8-bit'} s8 weights, "
                        "activations quantized at run time")
                if opts.fallback_min_agreement is None:
                    quantize(graph, tmp, [], calibration)
                else:
                    notes["fallback"] = quantize_with_fallback(
                        graph, tmp, calibration, tuning, [layer.name for layer in model.layers],
                        opts.fallback_min_agreement, quantize, opts.fallback_examples,
                        judge_runtime, batch=1 if precision == "dynamic" else 32)
            tmp.replace(out)
        return ExportedArtifact(self.format, precision, [dest], notes)


def _static(src: Path, dest: Path, exclude: list[str], calibration: Split,
            op_types: list[str] | None = None) -> None:
    quantize_static_qdq(src, dest, calibration, exclude, op_types)


def _dynamic(src: Path, dest: Path, exclude: list[str], calibration: Split,
             per_channel: bool = False, reduce_range: bool = False) -> None:
    quantize_dynamic_int8(src, dest, exclude, per_channel=per_channel,  # nothing to calibrate
                          reduce_range=reduce_range)


EXPORTERS.register(ONNXExporter.format.value, ONNXExporter())
