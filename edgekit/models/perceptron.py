"""Single-layer perceptron: one Dense layer from (flattened) features straight to logits.

A linear model is the honest baseline for tabular data; every edge runtime runs it, and its
quantization error is easy to reason about (one matmul).
"""

from __future__ import annotations

from typing import Any

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.models import MODELS, BuilderConfig, ModelBuilder
from edgekit.models._common import require_classes, single_input


class Perceptron(ModelBuilder[BuilderConfig]):
    name = "perceptron"
    family = "feedforward"
    Config = BuilderConfig

    def build(self, config: BuilderConfig, data: Dataset) -> Any:
        keras = _tf.keras()
        name, shape = single_input(data, self.name)
        inp = keras.Input(shape=shape, name=name)
        x = keras.layers.Flatten(name="flatten")(inp) if len(shape) > 1 else inp
        out = keras.layers.Dense(require_classes(data, self.name), name="logits")(x)
        return keras.Model(inp, out, name=self.name)


MODELS.register(Perceptron.name, Perceptron())
