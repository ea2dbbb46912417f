"""A tiny Vision Transformer (Dosovitskiy et al. 2021): non-overlapping patches embedded by a
strided convolution, learned position embeddings, pre-norm encoder blocks (multi-head
self-attention + erf-GELU MLP), mean-pooled tokens → class scores.

Mean pooling instead of a class token keeps the graph free of a concat with a broadcast
constant; the exact erf GELU is the one the BERT encoder uses (it lowers to TFLite GELU and
ONNX Erf)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.errors import EdgekitError
from edgekit.models import MODELS, BuilderConfig, ModelBuilder


class ViTConfig(BuilderConfig):
    patch: int = Field(2, ge=1, description="patch side in pixels; must divide the image side")
    dim: int = Field(32, ge=4, description="token width")
    depth: int = Field(2, ge=1, le=12, description="encoder blocks")
    heads: int = Field(2, ge=1)
    mlp_dim: int = Field(64, ge=4)


def position_embedding(tokens: int, dim: int, name: str) -> Any:
    """A keras layer adding a learned (tokens, dim) table to its input."""
    keras = _tf.keras()

    class PositionEmbedding(keras.layers.Layer):
        def build(self, input_shape: Any) -> None:
            self.table = self.add_weight(name="table", shape=(1, tokens, dim),
                                         initializer=keras.initializers.RandomNormal(stddev=0.02))

        def call(self, x: Any) -> Any:
            return x + self.table

    return PositionEmbedding(name=name)


def encoder_block(x: Any, config: ViTConfig, i: int) -> Any:
    from edgekit.models.bert.encoder import erf_gelu

    L = _tf.keras().layers
    h = L.LayerNormalization(epsilon=1e-6, name=f"block{i}_ln1")(x)
    h = L.MultiHeadAttention(config.heads, config.dim // config.heads,
                             name=f"block{i}_attention")(h, h)
    x = L.Add(name=f"block{i}_res1")([x, h])
    h = L.LayerNormalization(epsilon=1e-6, name=f"block{i}_ln2")(x)
    h = L.Dense(config.mlp_dim, activation=erf_gelu(), name=f"block{i}_mlp1")(h)
    h = L.Dense(config.dim, name=f"block{i}_mlp2")(h)
    return L.Add(name=f"block{i}_res2")([x, h])


class ViT(ModelBuilder[ViTConfig]):
    name = "vit"
    family = "transformer"
    Config = ViTConfig

    def build(self, config: ViTConfig, data: Dataset) -> Any:
        keras = _tf.keras()
        L = keras.layers
        (input_name, shape), = data.input_shapes().items()
        if len(shape) != 3 or shape[0] % config.patch or shape[1] % config.patch:
            raise EdgekitError(f"vit needs H×W×C images whose side the patch ({config.patch}) "
                               f"divides; dataset '{data.name}' gives {shape}",
                               where="model.params.patch", fix="pick a patch that divides the side")
        tokens = (shape[0] // config.patch) * (shape[1] // config.patch)
        inp = keras.Input(shape=shape, name=input_name)
        x = L.Conv2D(config.dim, config.patch, strides=config.patch, name="patch_embed")(inp)
        x = L.Reshape((tokens, config.dim), name="tokens")(x)
        x = position_embedding(tokens, config.dim, "position")(x)
        for i in range(config.depth):
            x = encoder_block(x, config, i + 1)
        x = L.LayerNormalization(epsilon=1e-6, name="final_ln")(x)
        x = L.GlobalAveragePooling1D(name="pool")(x)
        return keras.Model(inp, L.Dense(data.num_classes, name="logits")(x), name=self.name)


MODELS.register(ViT.name, ViT())
