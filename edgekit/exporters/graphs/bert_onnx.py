"""edgekit's BERT classifier as the ONNX graph ``torch.onnx`` writes for HF
``BertForSequenceClassification``, so ONNX Runtime's ``optimize_model(model_type="bert")`` fuses
it (EmbedLayerNormalization, Attention, SkipLayerNormalization, BiasGelu).

tf2onnx's trace of the same Keras model computes the same numbers, but LayerNorm arrives as
moment/normalize chains and every reshape as Shape/Concat, so none of ORT's fusion patterns
(``onnxruntime/transformers/fusion_*.py``) match and the ONNX model runs about twice as slow
as the torch path. Node order and operand positions below follow those patterns:

* embeddings: ``Add(Add(Gather(word, ids), Gather(type, tt)), Gather(pos, Slice(position_ids,
  0, Unsqueeze(Gather(Shape(ids), 1)))))`` then ``LayerNormalization``; a vocabulary-trimmed
  model's ``ids`` are ``Gather(int32 id table, input_ids)``, which the fusion keeps in front;
* mask: ``Mul(Sub(1, Cast(Unsqueeze(Unsqueeze(mask, 1), 2))), MASK_VALUE)`` (the encoder's value;
  ORT stores anything but -10000 as the fused Attention's ``mask_filter_value``);
* attention: ``MatMul+Add -> Reshape(0,0,heads,head) -> Transpose`` per Q/K/V (K straight to
  ``0,2,3,1``), ``MatMul -> Div(sqrt(head)) -> Add(mask) -> Softmax -> MatMul -> Transpose ->
  Reshape(0,0,heads*head)`` (the hidden size, unless heads were pruned: then Q/K/V are narrower
  than the hidden size and ORT's fused Attention reads its width from the weights);
* residual ``Add`` into ``LayerNormalization`` (post-LN), erf GELU as ``Div/Erf/Add/Mul/Mul``;
* pooler ``Gather(h, 0, axis=1) -> Gemm -> Tanh``, classifier ``Gemm`` (``transB=1`` on the HF
  ``[out, in]`` weights, as torch writes Linear on 2-D inputs).

Weights are read with :func:`~edgekit.models.bert.checkpoint.extract_hf_weights`, i.e. through
the same :mod:`~edgekit.models.bert.names` table as HF checkpoints, so the ONNX initializers
carry HF parameter names. Inputs are int32 ``[batch, seq_len]`` as every edgekit runtime feeds
them; the batch dimension is dynamic, the sequence length is the model's.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.atomic import write_bytes
from edgekit.exporters.graphs import GRAPH_WRITERS, GraphWriter

OPSET = 17
IR_VERSION = 8  # the IR that introduced opset 17; older ORT builds refuse newer IRs
ACTIVATIONS = ("gelu", "relu")
OUTPUT = "logits"


class _Graph:
    """Append-only node list with named initializers: keeps the writer readable."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._consts: dict[tuple, str] = {}

    def init(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        # copy(order="C"), not ascontiguousarray: the latter turns 0-d scalars into 1-d.
        self.initializers.append(numpy_helper.from_array(np.asarray(value).copy(order="C"), name))
        return name

    def const(self, value: Any, dtype: Any = np.int64) -> str:
        """A shared small constant (shapes, axes, scalars), named by its value."""
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            self._consts[key] = self.init(f"const_{len(self._consts)}", arr)
        return self._consts[key]

    def op(self, op_type: str, inputs: list[str], name: str, **attrs: Any) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attrs))
        return name


class _Writer:
    """One model's graph; methods mirror the HF modules they stand for."""

    def __init__(self, weights: dict[str, np.ndarray], config: Any, activation: str,
                 vocab_map: np.ndarray | None = None) -> None:
        from edgekit.models.bert import names

        self.w, self.cfg, self.act = weights, config, activation
        self.vocab_map = vocab_map  # int32 original id -> kept row of a trimmed vocabulary
        self.g = _Graph()
        # Projection nodes carry the Keras layer name, as tf2onnx's do, so tools that group
        # nodes by layer (edgekit.exporters._onnx_fallback) see the same layers either way.
        self.layer_of = {slot.hf_name.rsplit(".", 1)[0]: slot.layer
                         for slot in names.weight_slots(config.num_layers)}

    def param(self, hf_name: str, transpose: bool = False) -> str:
        """An HF-named weight as an initializer; Linear weights transposed to [in, out] for
        MatMul (``transpose=True``) or kept [out, in] for Gemm(transB=1)."""
        value = self.w[hf_name]
        return self.g.init(hf_name, value.T if transpose else value)

    def linear(self, x: str, module: str) -> str:
        g = self.g
        layer = self.layer_of[module]
        mm = g.op("MatMul", [x, self.param(f"{module}.weight", transpose=True)], f"{layer}/MatMul")
        return g.op("Add", [self.param(f"{module}.bias"), mm], f"{layer}/BiasAdd")

    def gemm(self, x: str, module: str) -> str:
        return self.g.op("Gemm", [x, self.param(f"{module}.weight"), self.param(f"{module}.bias")],
                         f"{self.layer_of[module]}/Gemm", alpha=1.0, beta=1.0, transB=1)

    def layer_norm(self, x: str, module: str) -> str:
        return self.g.op("LayerNormalization",
                         [x, self.param(f"{module}.weight"), self.param(f"{module}.bias")],
                         f"{self.layer_of[module]}/LayerNorm", axis=-1, epsilon=float(self.cfg.layer_norm_eps))

    def embeddings(self, ids: str, types: str) -> str:
        g, m = self.g, "embeddings"
        if self.vocab_map is not None:
            # A trimmed vocabulary's int32 id table (no quantizer touches integers). Everything
            # below reads the remapped ids, the position Shape included: ORT's
            # EmbedLayerNormalization fusion wants both from the word Gather's index.
            ids = g.op("Gather", [g.init(f"{m}.vocab_map", self.vocab_map), ids], f"{m}/vocab_map")
        positions = g.init(f"{m}.position_ids",
                           np.arange(self.cfg.max_position_embeddings, dtype=np.int64)[None, :])
        shape = g.op("Shape", [ids], f"{m}/Shape")
        seq = g.op("Gather", [shape, g.const(1)], f"{m}/seq_len")
        end = g.op("Unsqueeze", [seq, g.const([0])], f"{m}/seq_end")
        pos_ids = g.op("Slice", [positions, g.const([0]), end, g.const([1]), g.const([1])],
                       f"{m}/position_slice")
        word = g.op("Gather", [self.param(f"{m}.word_embeddings.weight"), ids], f"{m}/word")
        tok = g.op("Gather", [self.param(f"{m}.token_type_embeddings.weight"), types],
                   f"{m}/token_type")
        pos = g.op("Gather", [self.param(f"{m}.position_embeddings.weight"), pos_ids],
                   f"{m}/position")
        summed = g.op("Add", [g.op("Add", [word, tok], f"{m}/add_type"), pos], f"{m}/add_position")
        return self.layer_norm(summed, f"{m}.LayerNorm")

    def mask_bias(self, mask: str) -> str:
        from edgekit.models.bert.encoder import MASK_VALUE

        g = self.g
        expanded = g.op("Unsqueeze", [g.op("Unsqueeze", [mask, g.const([1])], "mask/unsqueeze_1"),
                                      g.const([2])], "mask/unsqueeze_2")
        keep = g.op("Cast", [expanded], "mask/cast", to=1)  # FLOAT
        inverted = g.op("Sub", [g.const(1.0, np.float32), keep], "mask/invert")
        return g.op("Mul", [inverted, g.const(MASK_VALUE, np.float32)], "mask/bias")

    def heads(self, x: str, name: str, perm: list[int]) -> str:
        g, cfg = self.g, self.cfg
        split = g.op("Reshape", [x, g.const([0, 0, cfg.num_heads, cfg.head_size])], f"{name}/split")
        return g.op("Transpose", [split], f"{name}/transpose", perm=perm)

    def attention(self, x: str, bias: str, prefix: str) -> str:
        g, cfg, s = self.g, self.cfg, f"{prefix}.attention.self"
        q = self.heads(self.linear(x, f"{s}.query"), f"{s}.query", [0, 2, 1, 3])
        k = self.heads(self.linear(x, f"{s}.key"), f"{s}.key", [0, 2, 3, 1])
        v = self.heads(self.linear(x, f"{s}.value"), f"{s}.value", [0, 2, 1, 3])
        scores = g.op("Div", [g.op("MatMul", [q, k], f"{s}/qk"),
                              g.const(math.sqrt(cfg.head_size), np.float32)], f"{s}/scale")
        probs = g.op("Softmax", [g.op("Add", [scores, bias], f"{s}/masked")], f"{s}/softmax",
                     axis=-1)
        context = g.op("Transpose", [g.op("MatMul", [probs, v], f"{s}/context")],
                       f"{s}/seq_first", perm=[0, 2, 1, 3])
        merged = g.op("Reshape", [context, g.const([0, 0, cfg.attention_width])], f"{s}/merge")
        return self.residual_norm(merged, x, f"{prefix}.attention.output")

    def residual_norm(self, x: str, residual: str, module: str) -> str:
        out = self.linear(x, f"{module}.dense")
        return self.layer_norm(self.g.op("Add", [out, residual], f"{module}/residual"),
                               f"{module}.LayerNorm")

    def activation(self, x: str, name: str) -> str:
        g = self.g
        if self.act == "relu":
            return g.op("Relu", [x], f"{name}/relu")
        erf = g.op("Erf", [g.op("Div", [x, g.const(math.sqrt(2.0), np.float32)], f"{name}/div")],
                   f"{name}/erf")
        one_plus = g.op("Add", [erf, g.const(1.0, np.float32)], f"{name}/add_one")
        return g.op("Mul", [g.op("Mul", [x, one_plus], f"{name}/mul"),
                            g.const(0.5, np.float32)], f"{name}/gelu")

    def block(self, x: str, bias: str, i: int) -> str:
        prefix = f"encoder.layer.{i}"
        x = self.attention(x, bias, prefix)
        h = self.activation(self.linear(x, f"{prefix}.intermediate.dense"),
                            f"{prefix}.intermediate")
        return self.residual_norm(h, x, f"{prefix}.output")

    def head(self, sequence: str) -> str:
        g = self.g
        cls = g.op("Gather", [sequence, g.const(0)], "pooler/cls_token", axis=1)
        pooled = g.op("Tanh", [self.gemm(cls, "pooler.dense")], "pooler/tanh")
        return g.op("Identity", [self.gemm(pooled, "classifier")], OUTPUT)

    def model(self, seq_len: int) -> Any:
        from onnx import TensorProto, helper

        from edgekit.models.bert.encoder import INPUT_NAMES

        ids, mask, types = INPUT_NAMES
        x = self.embeddings(ids, types)
        bias = self.mask_bias(mask)
        for i in range(self.cfg.num_layers):
            x = self.block(x, bias, i)
        logits = self.head(x)
        inputs = [helper.make_tensor_value_info(n, TensorProto.INT32, ["batch", seq_len])
                  for n in INPUT_NAMES]
        outputs = [helper.make_tensor_value_info(logits, TensorProto.FLOAT,
                                                 ["batch", self.cfg.num_labels])]
        graph = helper.make_graph(self.g.nodes, "edgekit_bert", inputs, outputs,
                                  self.g.initializers)
        # No producer_name: ORT's optimizer warns when it is not "pytorch" for model_type bert.
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  ir_version=IR_VERSION, doc_string="written by edgekit")
        helper.set_model_props(model, {"edgekit.graph_writer": BertONNXWriter.name})
        return model


def activation_of(model: Any) -> str | None:
    """HF ``hidden_act`` of the FFN (the Keras layers hold a function, not its name)."""
    from edgekit.models.bert import names

    fn = model.get_layer(names.layer_name(0, "ffn/intermediate")).activation
    name = getattr(fn, "__name__", None)
    return name if name in ACTIVATIONS else None


class BertONNXWriter(GraphWriter):
    name = "bert_onnx"
    format = "onnx"
    description = "BERT classifier in torch.onnx's layout, for ONNX Runtime's BERT fusions"

    def unsupported(self, model: Any) -> str | None:
        from edgekit.models.bert import names
        from edgekit.models.bert.encoder import INPUT_NAMES, count_layers

        layers = {layer.name: layer for layer in model.layers}
        blocks = count_layers(model)
        if not blocks:
            return f"no plain encoder blocks ({names.layer_name(0, 'attention/query')})"
        head = layers.get(names.CLASSIFIER)
        if head is None or len(model.outputs) != 1 or model.outputs[0].shape[-1] != head.units:
            return "the model's only output must be the classifier logits"
        wanted = {s.layer for s in names.weight_slots(blocks)}
        wrapped = sorted(n for n in wanted if n not in layers)
        if wrapped:
            return f"layers missing or wrapped (QAT/pruning?): {', '.join(wrapped[:3])}"
        if [t.name.split(":")[0] for t in model.inputs] != list(INPUT_NAMES):
            return f"inputs are not {list(INPUT_NAMES)}"
        if activation_of(model) is None:
            return f"FFN activation is not one of {ACTIVATIONS}"
        return None

    def write(self, model: Any, dest: Path) -> None:
        from edgekit.models.bert.checkpoint import extract_hf_weights
        from edgekit.models.bert.introspect import config_of, seq_len_of

        from edgekit.models.bert.vocab import vocab_map_of

        config = config_of(model)
        writer = _Writer(extract_hf_weights(model, config), config, activation_of(model) or "",
                         vocab_map_of(model))
        write_bytes(dest, writer.model(seq_len_of(model)).SerializeToString())


GRAPH_WRITERS.register(BertONNXWriter.name, BertONNXWriter())
