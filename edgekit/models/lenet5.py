"""LeNet-5 (LeCun et al. 1998): two conv/pool blocks and three dense layers, 32×32 input."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.models import MODELS, BuilderConfig, ModelBuilder


class LeNet5Config(BuilderConfig):
    filters: tuple[int, int] = (6, 16)
    dense_units: tuple[int, int] = (120, 84)
    activation: Literal["relu", "tanh"] = Field("relu", description="the 1998 paper used tanh; "
                                                "relu trains faster and quantizes as well")


class LeNet5(ModelBuilder[LeNet5Config]):
    name = "lenet5"
    family = "cnn"
    Config = LeNet5Config

    def build(self, config: LeNet5Config, data: Dataset) -> Any:
        keras = _tf.keras()
        (input_name, shape), = data.input_shapes().items()
        x = inp = keras.Input(shape=shape, name=input_name)
        for i, f in enumerate(config.filters):
            x = keras.layers.Conv2D(f, 5, activation=config.activation, name=f"conv{i + 1}")(x)
            x = keras.layers.AveragePooling2D(2, name=f"pool{i + 1}")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        for i, units in enumerate(config.dense_units):
            x = keras.layers.Dense(units, activation=config.activation, name=f"fc{i + 1}")(x)
        out = keras.layers.Dense(data.num_classes, name="logits")(x)
        return keras.Model(inp, out, name="lenet5")


MODELS.register(LeNet5.name, LeNet5())
