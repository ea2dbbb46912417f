"""Elman recurrent network (SimpleRNN, tanh): the plain recurrence, the baseline the gated cells improve on."""

from __future__ import annotations

from typing import Any

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.models import MODELS, ModelBuilder
from edgekit.models._recurrent import RecurrentConfig, build_recurrent


def _layer(config: RecurrentConfig, return_sequences: bool, name: str) -> Any:
    return _tf.keras().layers.SimpleRNN(config.units, unroll=config.unroll,
                                   return_sequences=return_sequences, name=name)


class Builder(ModelBuilder):
    name = "simple_rnn"
    family = "recurrent"
    Config = RecurrentConfig

    def build(self, config: RecurrentConfig, data: Dataset) -> Any:  # type: ignore[override]
        return build_recurrent(self.name, data, config, _layer)


MODELS.register(Builder.name, Builder())
