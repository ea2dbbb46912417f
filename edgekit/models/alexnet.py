"""AlexNet (Krizhevsky, Sutskever & Hinton 2012) scaled to small grey images: five convolutions
(ReLU; max-pooling after the first, second and fifth), then three dense layers with dropout.

The shape is the paper's: a wider first kernel, channels rising to the middle convolutions and
falling at the fifth, overlapping 3×3/stride-2 pooling at the end, two wide dense layers
holding most of the weights (which is why pruning pays off here). What is scaled: 224×224×3
becomes 28×28×1, so the first kernel is 5×5 at stride 1 (11×11 at stride 4 would leave a 6×6
map after one layer) and the widths are about a sixth of the paper's.

Local response normalisation is dropped: the paper credits it with ~1.4 points of top-1 on
ImageNet, later work (VGG, Simonyan & Zisserman 2014) measured no gain from it, BatchNorm
replaced it everywhere, and TFMOT has no quantize config for it (QAT would refuse the model)
while the converters would each lower it differently. Nothing replaces it, so the net stays
AlexNet's plain conv + bias + ReLU."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.models import MODELS, BuilderConfig, ModelBuilder
from edgekit.models._common import dense_stack, require_classes, single_input


class AlexNetConfig(BuilderConfig):
    filters: tuple[int, int, int, int, int] = Field(
        (16, 48, 64, 64, 48), description="the five convolutions' channels (paper: 96, 256, "
        "384, 384, 256)")
    first_kernel: int = Field(5, ge=1, description="the first convolution's kernel (paper: 11 "
                              "at stride 4, for 224-pixel images); the second is 5×5 and the "
                              "rest 3×3, as in the paper")
    dense_units: tuple[int, int] = Field((256, 256), description="paper: 4096, 4096")
    dropout: float = Field(0.5, ge=0, lt=1, description="after each hidden dense layer, as in "
                           "the paper")


class AlexNet(ModelBuilder[AlexNetConfig]):
    name = "alexnet"
    family = "cnn"
    Config = AlexNetConfig

    def build(self, config: AlexNetConfig, data: Dataset) -> Any:
        keras = _tf.keras()
        L = keras.layers
        input_name, shape = single_input(data, self.name)
        x = inp = keras.Input(shape=shape, name=input_name)
        for i, f in enumerate(config.filters):
            kernel = config.first_kernel if i == 0 else 5 if i == 1 else 3
            x = L.Conv2D(f, kernel, padding="same", activation="relu", name=f"conv{i + 1}")(x)
            if i in (0, 1):  # halve the map after conv1 and conv2, as the paper's pools do
                x = L.MaxPooling2D(2, name=f"pool{i + 1}")(x)
        # the paper's overlapping pool (3×3 window, stride 2) before the dense layers
        x = L.MaxPooling2D(3, strides=2, padding="same", name="pool5")(x)
        x = L.Flatten(name="flatten")(x)
        x = dense_stack(x, config.dense_units, "relu", config.dropout, "fc")
        out = L.Dense(require_classes(data, self.name), name="logits")(x)
        return keras.Model(inp, out, name=self.name)


MODELS.register(AlexNet.name, AlexNet())
