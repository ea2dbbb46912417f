"""Denoising autoencoder (Vincent et al. 2008): Gaussian noise is added to the input during
training only (a GaussianNoise layer, the identity at inference, so the exported graph has no
noise op) and the clean input is the target."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.models import MODELS, ModelBuilder
from edgekit.models._autoencoder import AutoencoderConfig, build_autoencoder


class DenoisingConfig(AutoencoderConfig):
    noise_std: float = Field(0.2, gt=0, description="std of the training-time input noise")


class DenoisingAutoencoder(ModelBuilder[DenoisingConfig]):
    name = "denoising_autoencoder"
    family = "autoencoder"
    Config = DenoisingConfig

    def build(self, config: DenoisingConfig, data: Dataset) -> Any:
        noise = _tf.keras().layers.GaussianNoise(config.noise_std, name="train_noise")
        return build_autoencoder(self.name, data, config, corrupt=noise)


MODELS.register(DenoisingAutoencoder.name, DenoisingAutoencoder())
