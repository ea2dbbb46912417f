"""Radial basis function network: Gaussian units around centres, then a linear readout.

The RBF layer is written with plain ops (||x||² − 2x·c + ||c||², exp) so TFLite, ONNX and
OpenVINO all lower it to built-ins. Centres start at training examples (a data-aware
initialisation, like the k-means start of the classic recipe) and are trained with the rest.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.models import MODELS, BuilderConfig, ModelBuilder
from edgekit.models._common import require_classes, single_input


class RBFConfig(BuilderConfig):
    centers: int = Field(32, ge=1, description="number of Gaussian units")
    gamma: float = Field(0.05, gt=0, description="initial width: exp(-gamma * ||x - c||^2)")
    seed: int = 0


def rbf_layer_class() -> type:
    keras = _tf.keras()
    tf = _tf.tf()

    class RBF(keras.layers.Layer):
        def __init__(self, centers: np.ndarray, gamma: float, **kw: Any) -> None:
            super().__init__(**kw)
            self._init_centers = np.asarray(centers, np.float32)
            self._gamma = float(gamma)

        def build(self, input_shape: Any) -> None:
            self.centers = self.add_weight(
                name="centers", shape=self._init_centers.shape,
                initializer=keras.initializers.Constant(self._init_centers))
            # log-width keeps the width positive without a constraint op in the graph
            self.log_gamma = self.add_weight(
                name="log_gamma", shape=(self._init_centers.shape[0],),
                initializer=keras.initializers.Constant(np.log(self._gamma)))

        def call(self, x: Any) -> Any:
            c = self.centers
            d2 = (tf.reduce_sum(x * x, axis=-1, keepdims=True) - 2.0 * tf.matmul(x, c, transpose_b=True)
                  + tf.reduce_sum(c * c, axis=-1)[None, :])
            return tf.exp(-tf.exp(self.log_gamma) * tf.maximum(d2, 0.0))

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "centers": self._init_centers.tolist(),
                    "gamma": self._gamma}

    return RBF


class RBFNetwork(ModelBuilder[RBFConfig]):
    name = "rbf_network"
    family = "feedforward"
    Config = RBFConfig

    def build(self, config: RBFConfig, data: Dataset) -> Any:
        keras = _tf.keras()
        name, shape = single_input(data, self.name)
        train = data.train.x[name].reshape(len(data.train), -1)
        pick = np.random.default_rng(config.seed).choice(len(train), config.centers,
                                                         replace=len(train) < config.centers)
        inp = keras.Input(shape=shape, name=name)
        x = keras.layers.Flatten(name="flatten")(inp) if len(shape) > 1 else inp
        x = rbf_layer_class()(train[pick], config.gamma, name="rbf")(x)
        out = keras.layers.Dense(require_classes(data, self.name), name="logits")(x)
        return keras.Model(inp, out, name=self.name)


MODELS.register(RBFNetwork.name, RBFNetwork())
