"""A Neural ODE forecaster (Chen et al. 2018; the latent-ODE reading of Rubanova et al. 2019
with a deterministic encoder): the past window is encoded into a latent state h(0), a learned
vector field dh/dt = f(h, t) carries it across the forecast horizon, and h(horizon) is read
out as the next value.

The solver is classic fixed-step Runge–Kutta 4, ``steps`` steps over [0, horizon], unrolled
in the graph (four evaluations of f per step, all sharing f's weights), like the diffusion
sampler's DDIM steps: the artifact is again ``window → forecast`` with no loop op and no
adaptive step control for a runtime to lack, and its cost is fixed and known. Training
back-propagates through the unrolled steps (discretise-then-optimise): exact gradients of the
solver that ships, at a memory cost that is small for a few steps (the adjoint method of the
paper saves memory on long integrations, which this is not).

f is a one-hidden-layer tanh MLP; t enters as ``t * u`` added to the hidden pre-activation
(u learned), which is f([h, t]) with the time column of the first weight matrix written as u,
without a concat of a broadcast constant in the graph."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.errors import EdgekitError
from edgekit.models import MODELS, BuilderConfig, ModelBuilder
from edgekit.models._common import single_input


class NeuralODEConfig(BuilderConfig):
    dim: int = Field(16, ge=1, description="latent state width")
    hidden: int = Field(32, ge=1, description="the vector field's hidden width")
    steps: int = Field(4, ge=1, le=64, description="RK4 steps unrolled over [0, horizon]")
    horizon: float = Field(1.0, gt=0, description="integration time, in the series' steps "
                           "(1.0: one sampling interval ahead)")


def rk4_block(config: NeuralODEConfig, name: str) -> Any:
    """A keras layer integrating h' = f(h, t) from 0 to ``horizon`` by ``steps`` RK4 steps."""
    keras = _tf.keras()
    tf = _tf.tf()
    dt = config.horizon / config.steps

    class RK4ODEBlock(keras.layers.Layer):
        def build(self, input_shape: Any) -> None:
            self.field_hidden = keras.layers.Dense(config.hidden, name="field_hidden")
            self.field_out = keras.layers.Dense(config.dim, name="field_out")
            self.time_weight = self.add_weight(
                name="field_time", shape=(config.hidden,),
                initializer=keras.initializers.RandomNormal(stddev=0.1))

        def field(self, h: Any, t: float) -> Any:
            return self.field_out(tf.tanh(self.field_hidden(h) + t * self.time_weight))

        def call(self, h: Any) -> Any:
            for i in range(config.steps):
                t = i * dt
                k1 = self.field(h, t)
                k2 = self.field(h + (dt / 2) * k1, t + dt / 2)
                k3 = self.field(h + (dt / 2) * k2, t + dt / 2)
                k4 = self.field(h + dt * k3, t + dt)
                h = h + (dt / 6) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            return h

    return RK4ODEBlock(name=name)


class NeuralODE(ModelBuilder[NeuralODEConfig]):
    name = "neural_ode"
    family = "hybrid"
    Config = NeuralODEConfig

    def build(self, config: NeuralODEConfig, data: Dataset) -> Any:
        keras = _tf.keras()
        L = keras.layers
        if data.task != "regression":
            raise EdgekitError(f"model '{self.name}' forecasts a series but dataset "
                               f"'{data.name}' poses task '{data.task}'", where="data.dataset",
                               fix="pick a series data set (sunspots, co2)")
        input_name, shape = single_input(data, self.name)
        x = inp = keras.Input(shape=shape, name=input_name)
        if len(shape) > 1:
            x = L.Flatten(name="flatten")(x)
        h0 = L.Dense(config.dim, activation="tanh", name="encode")(x)
        h1 = rk4_block(config, "ode")(h0)
        out = L.Dense(int(data.train.y.shape[-1]), name="readout")(h1)
        return keras.Model(inp, out, name=self.name)


MODELS.register(NeuralODE.name, NeuralODE())
