"""edgekit._tf.load_keras_file: the same model as tf_keras's own load_model, read fast.

Models trained with an optimizer (whose state the .keras file also holds), a CNN and an LSTM,
are saved, loaded both ways, and must have equal weights and equal outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit import _tf


SHAPE = (8, 8)


def _trained(kind: str) -> object:
    keras = _tf.keras()
    _tf.set_seed(0)
    layers = ([keras.layers.Reshape((*SHAPE, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
               keras.layers.Flatten()] if kind == "cnn" else [keras.layers.LSTM(5)])
    model = keras.Sequential([keras.layers.Input(SHAPE), *layers, keras.layers.Dense(3)])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(True))
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(32, *SHAPE)), rng.integers(0, 3, 32), epochs=1, verbose=0)
    return model


@pytest.mark.parametrize("kind", ["cnn", "lstm"])
def test_fast_load_equals_tf_keras_load(tmp_path: Path, kind: str) -> None:
    keras = _tf.keras()
    path = tmp_path / "m.keras"
    _trained(kind).save(path)  # type: ignore[attr-defined]
    fast = _tf.load_keras_file(path)
    slow = keras.models.load_model(path, compile=False, safe_mode=True)
    assert [w.name for w in fast.weights] == [w.name for w in slow.weights]
    for a, b in zip(fast.weights, slow.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.name)
    x = np.random.default_rng(1).normal(size=(4, *SHAPE)).astype("float32")
    np.testing.assert_array_equal(fast.predict(x, verbose=0), slow.predict(x, verbose=0))
