"""The Neural ODE's unrolled RK4 solver integrates a field whose solution is known in closed
form: with f(h, t) = W tanh(t u) (hidden kernel and biases zero), h(T) = h(0) + W log(cosh(uT))/u.
A wrong stage weight, a missed time offset or Euler instead of RK4 misses it by orders of
magnitude more than the tolerance (Euler with 4 steps: 0.5)."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.models.neural_ode import NeuralODEConfig, rk4_block


@pytest.mark.parametrize("steps,atol", [(4, 1e-4), (16, 1e-6)])
def test_rk4_block_matches_the_closed_form_solution(steps: int, atol: float) -> None:
    from edgekit import _tf

    keras = _tf.keras()
    config = NeuralODEConfig(dim=3, hidden=2, steps=steps, horizon=1.5)
    block = rk4_block(config, "ode")
    h0 = np.array([[0.5, -1.0, 2.0]], np.float32)
    block(keras.Input(shape=(3,)))  # build
    u = np.array([1.3, -0.7], np.float32)
    w = np.array([[1.0, 0.5, -2.0], [0.3, -1.0, 0.8]], np.float32)
    block.field_hidden.set_weights([np.zeros((3, 2), np.float32), np.zeros(2, np.float32)])
    block.field_out.set_weights([w, np.zeros(3, np.float32)])
    block.time_weight.assign(u)
    got = block(h0).numpy()
    expected = h0 + (np.log(np.cosh(u * config.horizon)) / u) @ w
    np.testing.assert_allclose(got, expected, atol=atol)
