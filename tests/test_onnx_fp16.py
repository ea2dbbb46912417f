"""ONNX fp16 (edgekit/exporters/_onnx_fp16.py) on tiny random BERTs, plain and fused: float16
weights and compute inside, float32 in and out, and logits within the family's fp16 tolerance
of Keras on ONNX Runtime (the CPU EP here: valid, not fast; the CUDA EP is benchmarks/gpu.py's).
The small CNN's fp16 file is covered by tests/test_exporters_numeric.py's exporter matrix."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from edgekit.families import FAMILIES
from edgekit.device.runtimes import RUNTIMES
from test_bert_onnx import TINY, _export, _feed, _model

onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def tiny():
    return _model(TINY)


@pytest.mark.parametrize("fusion", ["none", "bert"])
def test_bert_fp16_matches_keras_with_float32_io(tiny, tmp_path: Path, fusion: str) -> None:
    art = _export(tiny, TINY, tmp_path / "b.onnx", precision="fp16", fusion=fusion)
    model = onnx.load(str(art.path))
    weights = [t for t in model.graph.initializer if t.data_type in (onnx.TensorProto.FLOAT,
                                                                      onnx.TensorProto.FLOAT16)]
    big = [t for t in weights if np.prod(t.dims) >= 64]
    assert big and all(t.data_type == onnx.TensorProto.FLOAT16 for t in big)
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert "CPU EP runs it correctly but not fast" in art.notes["fp16_runtime"]
    fp32 = _export(tiny, TINY, tmp_path / "b32.onnx", fusion=fusion)
    assert art.path.stat().st_size < 0.7 * fp32.path.stat().st_size
    feed = _feed(TINY, 8, seed=3)
    session = RUNTIMES.get("onnxruntime").load(art.path, 1)
    got = session.run(feed)
    assert got.dtype == np.float32
    want = tiny.predict(feed, verbose=0)
    atol = FAMILIES.get("bert").conversion_atol["fp16"]
    diff = float(np.max(np.abs(got - want)))
    assert diff <= atol
    assert diff > 0  # it really computed in float16, not a float32 copy


def test_fp16_can_keep_op_types_in_float32(tiny, tmp_path: Path) -> None:
    from edgekit.data import Split
    from edgekit.exporters.onnx import ONNXExporter, ONNXOptions

    feed = _feed(TINY, 8, seed=7)
    art = ONNXExporter().export(tiny, "fp16", tmp_path / "k.onnx", Split(feed, np.zeros(8)),
                                ONNXOptions(fp16_keep_fp32=["LayerNormalization", "Softmax"]),
                                family=FAMILIES.get("bert"))
    graph = onnx.load(str(art.path)).graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.output]}
    kept = [n for n in graph.node if n.op_type in ("LayerNormalization", "Softmax")]
    assert kept and all(types.get(n.output[0]) == onnx.TensorProto.FLOAT for n in kept)
    assert art.notes["fp16_kept_fp32_ops"] == ["LayerNormalization", "Softmax"]
