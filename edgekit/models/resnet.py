"""A small ResNet (He et al. 2016): stages of basic residual blocks (two 3×3 conv-BN, identity
or 1×1-projection shortcut, Add, ReLU), global pooling, logits. The skip connections are what
this tests through every converter: Add of two branches must survive fusion and int8."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.models import MODELS, BuilderConfig, ModelBuilder
from edgekit.models._conv import conv_bn, conv_classifier


class ResNetConfig(BuilderConfig):
    stem_filters: int = Field(16, ge=1)
    stages: list[tuple[int, int]] = Field([(16, 1), (32, 2), (64, 2)],
                                          description="(filters, blocks) per stage; stages after "
                                          "the first halve the resolution")


def basic_block(x: Any, filters: int, stride: int, name: str) -> Any:
    layers = _tf.keras().layers
    shortcut = x
    y = conv_bn(x, filters, 3, stride, f"{name}_a")
    y = conv_bn(y, filters, 3, 1, f"{name}_b", relu=False)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = conv_bn(x, filters, 1, stride, f"{name}_proj", relu=False)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([y, shortcut]))


class ResNet(ModelBuilder[ResNetConfig]):
    name = "resnet"
    family = "cnn"
    Config = ResNetConfig

    def build(self, config: ResNetConfig, data: Dataset) -> Any:
        def body(x: Any) -> Any:
            for s, (filters, blocks) in enumerate(config.stages):
                for b in range(blocks):
                    x = basic_block(x, filters, 2 if (s > 0 and b == 0) else 1, f"s{s}b{b}")
            return x

        return conv_classifier(data, self.name, config.stem_filters, body)

MODELS.register(ResNet.name, ResNet())
