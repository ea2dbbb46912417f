"""An Inception-style net (Szegedy et al. 2015): blocks of four parallel branches (1×1;
1×1→3×3; 1×1→3×3→3×3 standing in for 5×5; 3×3 max-pool→1×1) concatenated on channels.
Exercises Concatenate of differently-shaped computations and max-pool with 'same' padding,
which converters handle differently (explicit Pad ops in ONNX)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.models import MODELS, BuilderConfig, ModelBuilder
from edgekit.models._conv import conv_bn, conv_classifier


class InceptionConfig(BuilderConfig):
    stem_filters: int = Field(16, ge=1)
    blocks: list[int] = Field([8, 16], min_length=1,
                              description="branch width per inception block (output = 4×); a "
                              "2×2 max-pool follows every block but the last")


def inception_block(x: Any, width: int, name: str) -> Any:
    layers = _tf.keras().layers
    b1 = conv_bn(x, width, 1, 1, f"{name}_1x1")
    b3 = conv_bn(conv_bn(x, width, 1, 1, f"{name}_3x3r"), width, 3, 1, f"{name}_3x3")
    b5 = conv_bn(x, width, 1, 1, f"{name}_5x5r")
    b5 = conv_bn(conv_bn(b5, width, 3, 1, f"{name}_5x5a"), width, 3, 1, f"{name}_5x5b")
    bp = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    bp = conv_bn(bp, width, 1, 1, f"{name}_poolproj")
    return layers.Concatenate(name=f"{name}_concat")([b1, b3, b5, bp])


class InceptionNet(ModelBuilder[InceptionConfig]):
    name = "inception"
    family = "cnn"
    Config = InceptionConfig

    def build(self, config: InceptionConfig, data: Dataset) -> Any:
        def body(x: Any) -> Any:
            for i, width in enumerate(config.blocks):
                x = inception_block(x, width, f"inc{i}")
                if i < len(config.blocks) - 1:
                    x = _tf.keras().layers.MaxPooling2D(2, name=f"inc{i}_down")(x)
            return x

        return conv_classifier(data, self.name, config.stem_filters, body)

MODELS.register(InceptionNet.name, InceptionNet())
