"""Variational autoencoder (Kingma & Welling 2014) used as an anomaly detector: the encoder
gives a Gaussian (mean, log-variance) over the code; training samples from it and adds the KL
term (weighted by ``beta``) to the reconstruction loss; inference uses the mean, so the exported
graph is deterministic and has no random op for a runtime to lack."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.models import MODELS, ModelBuilder
from edgekit.models._autoencoder import AutoencoderConfig, build_autoencoder


class VAEConfig(AutoencoderConfig):
    beta: float = Field(1e-3, ge=0, description="weight of the KL term per example, relative "
                        "to the per-pixel reconstruction MSE")


def sampling_layer(beta: float, name: str) -> Any:
    """(mean, log-variance) → a sample while training (adding the KL loss), the mean otherwise."""
    keras = _tf.keras()
    tf = _tf.tf()

    class Sampling(keras.layers.Layer):
        def call(self, inputs: Any, training: Any = None) -> Any:
            mean, log_var = inputs
            kl = -0.5 * tf.reduce_mean(tf.reduce_sum(
                1.0 + log_var - tf.square(mean) - tf.exp(log_var), axis=-1))
            self.add_loss(beta * kl)
            sample = mean + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mean))
            return keras.backend.in_train_phase(sample, mean, training=training)

    return Sampling(name=name)


def gaussian_code(x: Any, code: int, beta: float) -> Any:
    layers = _tf.keras().layers
    mean = layers.Dense(code, name="z_mean")(x)
    log_var = layers.Dense(code, name="z_log_var")(x)
    return sampling_layer(beta, "z")([mean, log_var])


class VAE(ModelBuilder[VAEConfig]):
    name = "vae"
    family = "autoencoder"
    Config = VAEConfig

    def build(self, config: VAEConfig, data: Dataset) -> Any:
        return build_autoencoder(self.name, data, config,
                                 bottleneck=lambda x: gaussian_code(x, config.code, config.beta))


MODELS.register(VAE.name, VAE())
