"""Bidirectional LSTM: one LSTM reads the sequence forwards, one backwards, outputs
concatenated. Needs the whole sequence up front, so it suits classification of a finished
snippet rather than streaming."""

from __future__ import annotations

from typing import Any

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.models import MODELS, ModelBuilder
from edgekit.models._recurrent import RecurrentConfig, build_recurrent


def _layer(config: RecurrentConfig, return_sequences: bool, name: str) -> Any:
    layers = _tf.keras().layers
    return layers.Bidirectional(layers.LSTM(config.units, unroll=config.unroll,
                                            return_sequences=return_sequences), name=name)


class BiLSTM(ModelBuilder):
    name = "bilstm"
    family = "recurrent"
    Config = RecurrentConfig

    def build(self, config: RecurrentConfig, data: Dataset) -> Any:  # type: ignore[override]
        return build_recurrent(self.name, data, config, _layer)


MODELS.register(BiLSTM.name, BiLSTM())
