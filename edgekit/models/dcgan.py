"""DCGAN generator (Radford et al. 2016): z → Dense → (side/4)² feature map → two strided
transposed convolutions (BatchNorm + ReLU between) → sigmoid image, flattened.

The model is the generator (see ``_generative``); its ``train_step`` trains an attached
discriminator (strided convs + LeakyReLU) with the non-saturating GAN loss and one-sided label
smoothing (real = 0.9). Both nets use Adam(2e-4, β1 = 0.5) as in the DCGAN paper, so the
recipe's ``train.learning_rate`` is not used.
BatchNorm folds into the transposed conv at export, so runtimes see ConvTranspose + Relu."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.errors import EdgekitError
from edgekit.models import MODELS, ModelBuilder
from edgekit.models._generative import GeneratorConfig, latent_input


class DCGANConfig(GeneratorConfig):
    filters: int = Field(32, ge=4, description="channels of the first feature map; halved per "
                         "upsampling")
    disc_filters: int = Field(32, ge=4)
    gan_learning_rate: float = Field(2e-4, gt=0, description="Adam rate of both nets")


def _trainer_class() -> type:
    keras = _tf.keras()
    tf = _tf.tf()
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    class GeneratorWithCritic(keras.Model):
        """A functional generator whose training step also trains its discriminator."""

        def attach(self, discriminator: Any, learning_rate: float) -> None:
            self.discriminator = discriminator
            self.disc_optimizer = keras.optimizers.Adam(learning_rate, beta_1=0.5)
            self.gen_optimizer = keras.optimizers.Adam(learning_rate, beta_1=0.5)

        def train_step(self, data: Any) -> dict[str, Any]:
            z, images = data
            with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
                fake = self(z, training=True)
                real_logit = self.discriminator(images, training=True)
                fake_logit = self.discriminator(fake, training=True)
                d_loss = (bce(0.9 * tf.ones_like(real_logit), real_logit)
                          + bce(tf.zeros_like(fake_logit), fake_logit))
                g_loss = bce(tf.ones_like(fake_logit), fake_logit)
            d_w = self.discriminator.trainable_weights
            self.disc_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_w), d_w))
            self.gen_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, self.trainable_weights),
                                                   self.trainable_weights))
            return {"g_loss": g_loss, "d_loss": d_loss}

        def test_step(self, data: Any) -> dict[str, Any]:
            z, _ = data
            logit = self.discriminator(self(z, training=False), training=False)
            return {"loss": bce(tf.ones_like(logit), logit)}

    return GeneratorWithCritic


class DCGANGenerator(ModelBuilder[DCGANConfig]):
    name = "dcgan"
    family = "generative"
    Config = DCGANConfig

    def build(self, config: DCGANConfig, data: Dataset) -> Any:
        keras = _tf.keras()
        L = keras.layers
        z, pixels = latent_input(data, config, self.name)
        side = math.isqrt(pixels)
        if side * side != pixels or side % 4:
            raise EdgekitError(f"dcgan needs square images with a side divisible by 4; "
                               f"'{data.name}' gives {pixels} pixels", where="data.dataset",
                               fix="use sklearn_digits or fashion_mnist")
        q = side // 4
        h = L.Dense(q * q * config.filters, use_bias=False, name="project")(z)
        h = L.ReLU(name="project_relu")(L.BatchNormalization(name="project_bn")(h))
        h = L.Reshape((q, q, config.filters), name="feature_map")(h)
        h = L.Conv2DTranspose(config.filters // 2, 4, strides=2, padding="same", use_bias=False,
                              name="up1")(h)
        h = L.ReLU(name="up1_relu")(L.BatchNormalization(name="up1_bn")(h))
        h = L.Conv2DTranspose(1, 4, strides=2, padding="same", activation="sigmoid",
                              name="up2")(h)
        model = _trainer_class()(z, L.Flatten(name="image")(h), name=self.name)

        img = keras.Input(shape=(pixels,), name="image")
        d = L.Reshape((side, side, 1))(img)
        for i in range(2):
            d = L.LeakyReLU(0.2)(L.Conv2D(config.disc_filters * (i + 1), 4, strides=2,
                                          padding="same")(d))
        disc = keras.Model(img, L.Dense(1)(L.Flatten()(d)), name="discriminator")
        model.attach(disc, config.gan_learning_rate)
        return model


MODELS.register(DCGANGenerator.name, DCGANGenerator())
