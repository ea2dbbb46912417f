"""Multi-layer perceptron: Dense hidden layers with dropout, then logits."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.models import MODELS, BuilderConfig, ModelBuilder
from edgekit.models._common import dense_stack, require_classes, single_input


class MLPConfig(BuilderConfig):
    hidden: tuple[int, ...] = Field((64, 32), min_length=1, description="units per hidden layer")
    activation: Literal["relu", "tanh", "gelu"] = "relu"
    dropout: float = Field(0.1, ge=0, lt=1)


class MLP(ModelBuilder[MLPConfig]):
    name = "mlp"
    family = "feedforward"
    Config = MLPConfig

    def build(self, config: MLPConfig, data: Dataset) -> Any:
        keras = _tf.keras()
        name, shape = single_input(data, self.name)
        inp = keras.Input(shape=shape, name=name)
        x = keras.layers.Flatten(name="flatten")(inp) if len(shape) > 1 else inp
        x = dense_stack(x, config.hidden, config.activation, config.dropout, "hidden")
        out = keras.layers.Dense(require_classes(data, self.name), name="logits")(x)
        return keras.Model(inp, out, name=self.name)


MODELS.register(MLP.name, MLP())
