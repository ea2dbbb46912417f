"""``train.lr_schedule``: the rate Keras' optimizer actually used in each epoch of a real fit,
and a wrong name rejected by the recipe schema before anything trains."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from edgekit import _tf
from edgekit.recipe.schema import TrainSection
from edgekit.training import lr_schedule


def _rates_used(train: TrainSection) -> list[float]:
    keras = _tf.keras()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.Adam(train.learning_rate), loss="mse")
    seen: list[float] = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(
        float(keras.backend.get_value(model.optimizer.learning_rate))))
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    model.fit(x, x[:, :2], epochs=train.epochs, batch_size=8, verbose=0,
              callbacks=[*lr_schedule(train), record])
    return seen


def test_cosine_falls_along_half_a_cosine() -> None:
    seen = _rates_used(TrainSection(learning_rate=0.01, lr_schedule="cosine", epochs=4))
    expected = [0.01 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)]
    assert seen == pytest.approx(expected, rel=1e-5)
    assert seen[0] == pytest.approx(0.01) and seen[-1] < 0.0015


def test_constant_keeps_the_rate() -> None:
    train = TrainSection(learning_rate=0.01, epochs=3)
    assert train.lr_schedule == "constant" and lr_schedule(train) == []
    assert _rates_used(train) == pytest.approx([0.01] * 3)


def test_unknown_schedule_is_a_schema_error() -> None:
    with pytest.raises(ValidationError, match="lr_schedule"):
        TrainSection(lr_schedule="linear")
