"""Shared by the autoencoder builders: a dense encoder to a small code, a mirrored decoder back
to the input's shape with a sigmoid (pixels are in [0, 1])."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.models import BuilderConfig
from edgekit.models._common import dense_stack, single_input


class AutoencoderConfig(BuilderConfig):
    hidden: tuple[int, ...] = Field((128,), description="encoder widths; the decoder mirrors them")
    code: int = Field(16, ge=1, description="bottleneck width")


def decoder(x: Any, config: AutoencoderConfig, shape: tuple[int, ...]) -> Any:
    layers = _tf.keras().layers
    x = dense_stack(x, tuple(reversed(config.hidden)), "relu", 0.0, "dec")
    x = layers.Dense(int(np.prod(shape)), activation="sigmoid", name="dec_out")(x)
    return layers.Reshape(shape, name="reconstruction")(x)


def build_autoencoder(model_name: str, data: Dataset, config: AutoencoderConfig,
                      corrupt: Callable[[Any], Any] | None = None,
                      bottleneck: Callable[[Any], Any] | None = None) -> Any:
    """``corrupt`` acts on the input (training-only noise for a denoising AE); ``bottleneck``
    replaces the plain Dense code layer (a VAE's sampling)."""
    keras = _tf.keras()
    layers = keras.layers
    name, shape = single_input(data, model_name)
    inp = keras.Input(shape=shape, name=name)
    x = corrupt(inp) if corrupt else inp
    x = layers.Flatten(name="flatten")(x) if len(shape) > 1 else x
    x = dense_stack(x, config.hidden, "relu", 0.0, "enc")
    x = bottleneck(x) if bottleneck else layers.Dense(config.code, activation="relu",
                                                      name="code")(x)
    return keras.Model(inp, decoder(x, config, shape), name=model_name)
