"""Dense autoencoder: images squeezed through a small code and rebuilt. Trained on normal
classes only, it reconstructs an unseen class badly: the error is the anomaly score."""

from __future__ import annotations

from typing import Any

from edgekit.data import Dataset
from edgekit.models import MODELS, ModelBuilder
from edgekit.models._autoencoder import AutoencoderConfig, build_autoencoder


class DenseAutoencoder(ModelBuilder[AutoencoderConfig]):
    name = "dense_autoencoder"
    family = "autoencoder"
    Config = AutoencoderConfig

    def build(self, config: AutoencoderConfig, data: Dataset) -> Any:
        return build_autoencoder(self.name, data, config)


MODELS.register(DenseAutoencoder.name, DenseAutoencoder())
