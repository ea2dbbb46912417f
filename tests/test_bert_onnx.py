"""The BERT family's own ONNX writer (edgekit/exporters/graphs/bert_onnx.py) on tiny random
BERTs: numbers match Keras, ONNX Runtime's BERT optimizer fuses every block, and the fused graph
still quantizes. The fusion counts are the point: a graph that runs but does not fuse is the
slow path this writer exists to replace."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from edgekit.data import Split
from edgekit.exporters.graphs import GRAPH_WRITERS, writer_for
from edgekit.exporters.onnx import ONNXExporter, ONNXOptions
from edgekit.families import FAMILIES
from edgekit.models.bert.config import BertConfig
from edgekit.models.bert.encoder import build_bert
from test_bert_model import _as_list, _randomize

ort = pytest.importorskip("onnxruntime")

SEQ = 16
TINY = BertConfig(vocab_size=100, hidden_size=32, num_layers=2, num_heads=4,
                  intermediate_size=64, max_position_embeddings=32, num_labels=3)
# Odd sizes: 3 blocks, 3 heads of 16, ReLU FFN, so nothing is hard-wired to the default shape.
ODD = BertConfig(vocab_size=120, hidden_size=48, num_layers=3, num_heads=3,
                 intermediate_size=80, max_position_embeddings=20, num_labels=2, hidden_act="relu")
ATOL = 1e-4


def _feed(config: BertConfig, batch: int, seed: int) -> dict[str, np.ndarray]:
    """Random ids, right-padded to a different length per row (row 0 unpadded)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, SEQ, batch)
    lengths[0] = SEQ
    mask = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.int32)
    types = (np.arange(SEQ)[None, :] >= lengths[:, None] // 2).astype(np.int32) * mask
    ids = rng.integers(1, config.vocab_size, (batch, SEQ)).astype(np.int32) * mask
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def _model(config: BertConfig, seed: int = 1):
    model = build_bert(config, SEQ)
    _randomize(model, seed)
    return model


def _export(model, config: BertConfig, dest: Path, precision: str = "fp32", fusion: str = "none"):
    feed = _feed(config, 8, seed=7)
    art = ONNXExporter().export(model, precision, dest, Split(feed, np.zeros(8, np.int64)),
                                ONNXOptions(fusion=fusion), family=FAMILIES.get("bert"))
    return art


def _run(path: Path, feed: dict[str, np.ndarray]) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feed)[0]


@pytest.fixture(scope="module")
def tiny():
    return _model(TINY)


@pytest.fixture(scope="module")
def fused(tiny, tmp_path_factory: pytest.TempPathFactory):
    return _export(tiny, TINY, tmp_path_factory.mktemp("fused") / "bert.onnx", fusion="bert")


@pytest.mark.parametrize("config", [TINY, ODD], ids=["tiny", "odd-relu"])
def test_written_graph_matches_keras(config: BertConfig, tmp_path: Path) -> None:
    model = _model(config, seed=2)
    art = _export(model, config, tmp_path / "bert.onnx")
    assert art.notes["graph"] == "bert_onnx"
    session = ort.InferenceSession(str(art.path), providers=["CPUExecutionProvider"])
    assert [(i.name, i.type, i.shape[1]) for i in session.get_inputs()] == \
        [(n, "tensor(int32)", SEQ) for n in ("input_ids", "attention_mask", "token_type_ids")]
    for batch in (5, 1):  # the batch dimension is dynamic
        feed = _feed(config, batch, seed=batch)
        ref = model.predict(_as_list(feed), verbose=0)
        out = session.run(None, feed)[0]
        assert out.shape == (batch, config.num_labels)
        np.testing.assert_allclose(out, ref, atol=ATOL, rtol=0)


def test_ort_fuses_every_block(fused) -> None:
    ops = fused.notes["fused_ops"]
    n = TINY.num_layers
    assert ops.get("Attention") == n, ops
    assert ops.get("SkipLayerNormalization") == 2 * n, ops
    assert ops.get("BiasGelu") == n, ops
    assert sum(v for k, v in ops.items() if k.startswith("EmbedLayerNormalization")) == 1, ops


def test_fused_graph_matches_keras(tiny, fused) -> None:
    import onnx

    op_types = {node.op_type for node in onnx.load(str(fused.path)).graph.node}
    assert {"Attention", "SkipLayerNormalization"} <= op_types
    assert "Softmax" not in op_types and "LayerNormalization" not in op_types
    feed = _feed(TINY, 6, seed=3)
    np.testing.assert_allclose(_run(fused.path, feed), tiny.predict(_as_list(feed), verbose=0),
                               atol=ATOL, rtol=0)


def test_fusion_needs_no_pytorch(tiny, fused, tmp_path: Path, monkeypatch) -> None:
    """PyTorch is no edgekit dependency (only the ``peers`` extra brings it): with torch
    unimportable the fused export still works and fuses exactly as much."""
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    art = _export(tiny, TINY, tmp_path / "bert-no-torch.onnx", fusion="bert")
    assert art.notes["fused_ops"] == fused.notes["fused_ops"]


def test_fused_dynamic_int8_agrees_on_argmax(tiny, tmp_path: Path) -> None:
    art = _export(tiny, TINY, tmp_path / "bert-dyn.onnx", precision="dynamic", fusion="bert")
    assert art.notes["fused_ops"]["Attention"] == TINY.num_layers
    feed = _feed(TINY, 64, seed=4)
    out, ref = _run(art.path, feed), tiny.predict(_as_list(feed), verbose=0)
    assert np.isfinite(out).all() and out.shape == ref.shape
    assert (out.argmax(-1) == ref.argmax(-1)).mean() >= 0.8


def test_wrapped_models_are_declined_and_stripped_ones_accepted(tiny, tmp_path: Path) -> None:
    """Pruning wrappers (as QAT ones) hide the plain layers: the exporter must fall back to
    tf2onnx, not write a wrong graph; strip_pruning gives plain Dense layers back."""
    from edgekit import _tf
    from edgekit.stages._wrap import wrap_kernel_layers

    sparsity = _tf.tfmot().sparsity.keras
    wrapped = wrap_kernel_layers(tiny, lambda layer: sparsity.prune_low_magnitude(layer))
    writer, note = writer_for(FAMILIES.get("bert"), "onnx", wrapped, "tf2onnx")
    assert writer is None and note.startswith("tf2onnx (bert_onnx declined")
    stripped = sparsity.strip_pruning(wrapped)
    assert GRAPH_WRITERS.get("bert_onnx").unsupported(stripped) is None
    art = _export(stripped, TINY, tmp_path / "stripped.onnx")
    feed = _feed(TINY, 4, seed=5)
    np.testing.assert_allclose(_run(art.path, feed), tiny.predict(_as_list(feed), verbose=0),
                               atol=ATOL, rtol=0)


def test_models_without_logits_fall_back(tmp_path: Path) -> None:
    model = build_bert(TINY, SEQ, outputs=("pooled",))
    reason = GRAPH_WRITERS.get("bert_onnx").unsupported(model)
    assert reason is not None and "logits" in reason
    assert writer_for(None, "onnx", model, "tf2onnx") == (None, "tf2onnx")


def test_projection_nodes_group_by_keras_layer(tiny, tmp_path: Path) -> None:
    """int8 fallback (onnx_fallback.layer_groups) finds each Dense layer in the writer's graph
    under its Keras name, as it does in tf2onnx's."""
    from edgekit.exporters._onnx_fallback import layer_groups

    art = _export(tiny, TINY, tmp_path / "bert.onnx")
    groups = layer_groups(art.path, [layer.name for layer in tiny.layers])
    assert groups["layer_1/attention/query"] == ["layer_1/attention/query/MatMul"]
    assert groups["classifier"] == ["classifier/Gemm"] and groups["pooler"] == ["pooler/Gemm"]
    assert sum(g.startswith("layer_") for g in groups) == TINY.num_layers * 6  # q k v o ffn*2
