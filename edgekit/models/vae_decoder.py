"""The generator half of a variational autoencoder: code z ~ N(0, I) → image.

The model is the decoder (see ``_generative``); its ``train_step`` encodes the real images (the
split's labels), samples a code, decodes it and minimises reconstruction + KL. Sampling on a
device is drawing z and running the exported decoder."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.models import MODELS, ModelBuilder
from edgekit.models._common import dense_stack
from edgekit.models._generative import GeneratorConfig, latent_input


class VAEDecoderConfig(GeneratorConfig):
    hidden: tuple[int, ...] = Field((128,), description="decoder widths; the encoder mirrors them")
    beta: float = Field(1.0, ge=0, description="KL weight (per example, against the summed "
                        "per-pixel binary cross-entropy)")


def _trainer_class() -> type:
    keras = _tf.keras()
    tf = _tf.tf()

    class DecoderWithEncoder(keras.Model):
        """A functional decoder whose training step runs the whole VAE."""

        def attach(self, encoder: Any, beta: float) -> None:
            self.encoder, self.beta = encoder, beta

        def train_step(self, data: Any) -> dict[str, Any]:
            _, images = data
            with tf.GradientTape() as tape:
                mean, log_var = tf.split(self.encoder(images, training=True), 2, axis=-1)
                z = mean + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mean))
                recon = self({"z": z}, training=True)
                bce = tf.reduce_sum(keras.losses.binary_crossentropy(
                    images[..., None], recon[..., None]), axis=-1)
                kl = -0.5 * tf.reduce_sum(1.0 + log_var - tf.square(mean) - tf.exp(log_var),
                                          axis=-1)
                loss = tf.reduce_mean(bce + self.beta * kl)
            weights = self.trainable_weights + self.encoder.trainable_weights
            self.optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
            return {"loss": loss, "kl": tf.reduce_mean(kl)}

        def test_step(self, data: Any) -> dict[str, Any]:
            _, images = data
            mean, _ = tf.split(self.encoder(images, training=False), 2, axis=-1)
            recon = self({"z": mean}, training=False)
            return {"loss": tf.reduce_mean(tf.square(recon - images))}

    return DecoderWithEncoder


class VAEDecoder(ModelBuilder[VAEDecoderConfig]):
    name = "vae_decoder"
    family = "generative"
    Config = VAEDecoderConfig

    def build(self, config: VAEDecoderConfig, data: Dataset) -> Any:
        keras = _tf.keras()
        L = keras.layers
        z, pixels = latent_input(data, config, self.name)
        img = keras.Input(shape=(pixels,), name="image")
        h = dense_stack(img, config.hidden, "relu", 0.0, "enc")
        encoder = keras.Model(img, L.Dense(2 * config.code, name="enc_gaussian")(h),
                              name="encoder")
        h = dense_stack(z, tuple(reversed(config.hidden)), "relu", 0.0, "dec")
        out = L.Dense(pixels, activation="sigmoid", name="image_out")(h)
        model = _trainer_class()(z, out, name=self.name)
        model.attach(encoder, config.beta)
        return model


MODELS.register(VAEDecoder.name, VAEDecoder())
