"""Graph attention network (Veličković et al. 2018) on a dense 0/1 adjacency mask (A + I).

Per head: scores e_ij = LeakyReLU(a_src·Wh_i + a_dst·Wh_j), softmax over i's neighbours, then
h'_i = Σ_j α_ij Wh_j. The masked softmax is written as ``exp(e - max) * mask / Σ`` rather than
with an additive -1e9: every intermediate stays in a small range, so int8 calibration keeps its
resolution, and only MatMul/Exp/ReduceSum/Div are needed (every runtime has them)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.models import MODELS
from edgekit.models._graph import GraphConfig, MessagePassingBuilder


class GATConfig(GraphConfig):
    heads: int = Field(4, ge=1, le=8, description="attention heads of the hidden layers "
                       "(concatenated); the output layer has one")


def attention_layer(units: int, heads: int, name: str) -> Any:
    """A keras layer: (h (B,N,F), mask (B,N,N)) → (B,N,units*heads)."""
    keras = _tf.keras()
    tf = _tf.tf()

    class GraphAttention(keras.layers.Layer):
        def build(self, input_shape: Any) -> None:
            features = int(input_shape[0][-1])
            self.kernel = self.add_weight(name="kernel", shape=(heads, features, units))
            self.a_src = self.add_weight(name="a_src", shape=(heads, units, 1))
            self.a_dst = self.add_weight(name="a_dst", shape=(heads, units, 1))

        def call(self, inputs: Any) -> Any:
            h, mask = inputs
            outs = []
            for k in range(heads):
                wh = tf.matmul(h, self.kernel[k])                      # (B,N,U)
                src = tf.matmul(wh, self.a_src[k])                     # (B,N,1)
                dst = tf.matmul(wh, self.a_dst[k])                     # (B,N,1)
                e = tf.nn.leaky_relu(src + tf.transpose(dst, [0, 2, 1]), alpha=0.2)
                p = tf.exp(e - tf.reduce_max(e, axis=-1, keepdims=True)) * mask
                att = p / (tf.reduce_sum(p, axis=-1, keepdims=True) + 1e-9)
                outs.append(tf.matmul(att, wh))
            return outs[0] if heads == 1 else tf.concat(outs, axis=-1)

    return GraphAttention(name=name)


class GAT(MessagePassingBuilder[GATConfig]):
    name = "gat"
    Config = GATConfig

    def layer(self, h: Any, adjacency: Any, units: int, index: int, last: bool,
              config: GATConfig) -> Any:
        h = attention_layer(units, 1 if last else config.heads, f"gat{index}")([h, adjacency])
        return h if last else _tf.keras().layers.ELU(name=f"gat{index}_elu")(h)


MODELS.register(GAT.name, GAT())
