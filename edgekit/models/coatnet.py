"""A CoAtNet-style convolution–attention hybrid (Dai et al. 2021) for small images:
convolutional stages of MBConv blocks first, where locality and translation equivariance help
most, then transformer stages over the remaining feature map's positions, where global
attention pays for itself, then mean-pooled tokens → class scores.

The stem is the CNN builders' 3×3 conv-BN-ReLU (:func:`edgekit.models._conv.conv_bn`). MBConv
here is MobileNetV2's inverted bottleneck (1×1 expand → 3×3 depthwise → 1×1 linear
project, BatchNorm after each, identity shortcut where shape allows) with CoAtNet's erf GELU
instead of ReLU6, and without the squeeze-excitation CoAtNet adds. The transformer stages are
simplified: CoAtNet's relative attention (a learned bias per relative offset added to the
attention logits) becomes standard multi-head self-attention with learned absolute position
embeddings, i.e. :mod:`edgekit.models.vit`'s encoder blocks, reused as they are, so the
attention exports exactly as the ViT's does (BatchMatMul/FullyConnected, TFLite GELU, ONNX
Erf). The two differ in how position enters the logits: relative attention's bias depends
only on the offset between two positions (translation-equivariant, any map size), learned
absolute positions can learn that but are not held to it, and fix the token count to the
training input size."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.errors import EdgekitError
from edgekit.models import MODELS, BuilderConfig, ModelBuilder
from edgekit.models._common import require_classes, single_input
from edgekit.models._conv import BN_MOMENTUM, conv_bn
from edgekit.models.vit import ViTConfig, encoder_block, position_embedding


class CoAtNetConfig(BuilderConfig):
    stem_filters: int = Field(16, ge=1)
    mbconv: list[tuple[int, int]] = Field(
        [(24, 2), (24, 1), (32, 2)],
        description="(output channels, stride) per MBConv block; stride 2 halves the map")
    expand: int = Field(4, ge=1, description="MBConv expansion ratio (channels × expand inside)")
    dim: int = Field(48, ge=4, description="token width of the transformer stages")
    depth: int = Field(2, ge=1, le=12, description="transformer blocks")
    heads: int = Field(3, ge=1)
    mlp_dim: int = Field(96, ge=4)


def mbconv(x: Any, filters: int, stride: int, expand: int, name: str) -> Any:
    from edgekit.models.bert.encoder import erf_gelu

    L = _tf.keras().layers
    gelu = erf_gelu()
    y = L.Conv2D(x.shape[-1] * expand, 1, use_bias=False, name=f"{name}_expand")(x)
    y = L.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_expand_bn")(y)
    y = L.Activation(gelu, name=f"{name}_expand_gelu")(y)
    y = L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                          name=f"{name}_dw")(y)
    y = L.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_dw_bn")(y)
    y = L.Activation(gelu, name=f"{name}_dw_gelu")(y)
    y = L.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(y)
    y = L.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_project_bn")(y)
    if stride == 1 and x.shape[-1] == filters:
        y = L.Add(name=f"{name}_add")([x, y])
    return y


class CoAtNet(ModelBuilder[CoAtNetConfig]):
    name = "coatnet"
    family = "hybrid"
    Config = CoAtNetConfig

    def build(self, config: CoAtNetConfig, data: Dataset) -> Any:
        keras = _tf.keras()
        L = keras.layers
        if config.dim % config.heads:
            raise EdgekitError(f"coatnet's token width {config.dim} is not divisible by its "
                               f"{config.heads} heads", where="model.params.heads",
                               fix="pick heads that divide dim")
        input_name, shape = single_input(data, self.name)
        x = inp = keras.Input(shape=shape, name=input_name)
        x = conv_bn(x, config.stem_filters, 3, 1, "stem")
        for i, (filters, stride) in enumerate(config.mbconv):
            x = mbconv(x, filters, stride, config.expand, f"mbconv{i + 1}")
        height, width = int(x.shape[1]), int(x.shape[2])
        tokens = height * width
        x = L.Conv2D(config.dim, 1, name="to_tokens")(x)  # channels → token width
        x = L.Reshape((tokens, config.dim), name="tokens")(x)
        x = position_embedding(tokens, config.dim, "position")(x)
        blocks = ViTConfig(dim=config.dim, depth=config.depth, heads=config.heads,
                           mlp_dim=config.mlp_dim)
        for i in range(config.depth):
            x = encoder_block(x, blocks, i + 1)
        x = L.LayerNormalization(epsilon=1e-6, name="final_ln")(x)
        x = L.GlobalAveragePooling1D(name="pool")(x)
        out = L.Dense(require_classes(data, self.name), name="logits")(x)
        return keras.Model(inp, out, name=self.name)


MODELS.register(CoAtNet.name, CoAtNet())
