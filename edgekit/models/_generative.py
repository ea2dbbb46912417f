"""Shared by the generators: the model *is* the generator (input ``z`` → flattened image) and
carries what it needs only for training (an encoder, a discriminator) as attributes used by its
own ``train_step``. Exporters and runtimes therefore only ever see ``z → image``."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.errors import EdgekitError
from edgekit.models import BuilderConfig


class GeneratorConfig(BuilderConfig):
    code: int = Field(8, ge=1, description="latent width; must match the data's code")


def latent_input(data: Dataset, config: GeneratorConfig, model_name: str) -> tuple[Any, int]:
    """The ``z`` input and the number of pixels to generate, after checking the data poses a
    generation task with the same code width."""
    shapes = data.input_shapes()
    if set(shapes) != {"z"} or data.task != "generation":
        raise EdgekitError(f"{model_name} needs a generation dataset (input 'z'); "
                           f"'{data.name}' gives task {data.task}, inputs {sorted(shapes)}",
                           where="data.params.task", fix="set task: generation")
    if shapes["z"] != (config.code,):
        raise EdgekitError(f"data code width {shapes['z']} != model code {config.code}",
                           where="model.params.code", fix="use the same 'code' in both")
    z = _tf.keras().Input(shape=(config.code,), name="z")
    return z, int(np.prod(data.train.y.shape[1:]))
