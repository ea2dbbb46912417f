"""MobileNet (v1, Howard et al. 2017) for small images: depthwise-separable blocks (3×3
depthwise + 1×1 pointwise, each BN + ReLU6) and the width multiplier ``alpha`` that thins every
layer. Depthwise kernels hold few weights each, so pruning them costs accuracy fast: the
recipe quantizes (QAT) instead."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.models import MODELS, BuilderConfig, ModelBuilder
from edgekit.models._common import require_classes, single_input
from edgekit.models._conv import BN_MOMENTUM, classifier_head


class MobileNetConfig(BuilderConfig):
    alpha: float = Field(0.5, gt=0, le=2, description="width multiplier (channels × alpha)")
    stem_filters: int = Field(32, ge=1)
    blocks: list[tuple[int, int]] = Field(
        [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1)],
        description="(pointwise filters before alpha, stride) per depthwise-separable block")
    dropout: float = Field(0.1, ge=0, lt=1)


def _width(filters: int, alpha: float) -> int:
    return max(8, int(round(filters * alpha / 8)) * 8)


class MobileNet(ModelBuilder[MobileNetConfig]):
    name = "mobilenet"
    family = "cnn"
    Config = MobileNetConfig

    def build(self, config: MobileNetConfig, data: Dataset) -> Any:
        keras = _tf.keras()
        L = keras.layers
        name, shape = single_input(data, self.name)
        x = inp = keras.Input(shape=shape, name=name)
        x = L.Conv2D(_width(config.stem_filters, config.alpha), 3, strides=2, padding="same",
                     use_bias=False, name="stem_conv")(x)
        x = L.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
        x = L.ReLU(6.0, name="stem_relu")(x)
        for i, (filters, stride) in enumerate(config.blocks):
            x = L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                                  name=f"dw{i}")(x)
            x = L.BatchNormalization(momentum=BN_MOMENTUM, name=f"dw{i}_bn")(x)
            x = L.ReLU(6.0, name=f"dw{i}_relu")(x)
            x = L.Conv2D(_width(filters, config.alpha), 1, use_bias=False, name=f"pw{i}")(x)
            x = L.BatchNormalization(momentum=BN_MOMENTUM, name=f"pw{i}_bn")(x)
            x = L.ReLU(6.0, name=f"pw{i}_relu")(x)
        out = classifier_head(x, require_classes(data, self.name), config.dropout)
        return keras.Model(inp, out, name=self.name)


MODELS.register(MobileNet.name, MobileNet())
