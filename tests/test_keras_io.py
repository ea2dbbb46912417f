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


def test_run_cache_saves_weights_without_the_optimizer(tmp_path: Path) -> None:
    """The stage cache's model.keras holds no optimizer slots (3x the weights with Adam), the
    caller's model keeps its optimizer and trains on, and the file loads to equal outputs."""
    import io
    import zipfile

    import h5py

    from edgekit.stage_records import RunCache

    model = _trained("cnn")
    optimizer = model.optimizer  # type: ignore[attr-defined]
    model.save(tmp_path / "with.keras")  # type: ignore[attr-defined]
    assert RunCache._save_model(model, tmp_path)
    with zipfile.ZipFile(tmp_path / "model.keras") as zf:
        groups = set(h5py.File(io.BytesIO(zf.read("model.weights.h5"))))
    assert "optimizer" not in groups and "layers" in groups
    assert (tmp_path / "model.keras").stat().st_size < (tmp_path / "with.keras").stat().st_size
    assert model.optimizer is optimizer  # type: ignore[attr-defined]
    x = np.random.default_rng(1).normal(size=(4, *SHAPE)).astype("float32")
    loaded = RunCache._load_model(tmp_path, {})
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    model.fit(x, np.zeros(4), epochs=1, verbose=0)  # type: ignore[attr-defined]
    assert int(optimizer.iterations) > 1
