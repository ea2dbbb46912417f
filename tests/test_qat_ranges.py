"""The QAT stage starts every activation range at the data's range, not TFMOT's [-6, 6].

TFMOT moves its ranges by an average with decay 0.999 per step, so a short schedule keeps them
near [-6, 6]: ReLU outputs spend half the int8 levels on negatives that never occur, and larger
outputs (logits) are clipped. That cost LeNet-5's QAT artifact a point on the demo.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgekit import _tf
from edgekit.data import Dataset, Split
from edgekit.recipe.schema import TrainSection
from edgekit.stages import STAGES
from edgekit.strategy import make_strategy
from edgekit.training import TrainContext

pytest.importorskip("tensorflow_model_optimization")


def _ranges(model) -> dict[str, float]:
    return {w.name.split(":")[0]: float(w.numpy()) for w in model.weights
            if w.shape.rank == 0 and w.name.split("/")[-1].split(":")[0] in
            ("post_activation_min", "post_activation_max")}


def _run_qat(calibration_examples: int):
    keras = _tf.keras()
    _tf.set_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((96, 8), dtype=np.float32)
    y = (x.sum(axis=1) > 4).astype(np.int64)
    inp = keras.Input((8,), name="features")
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(inp)
    logits = keras.layers.Dense(2, name="logits")(hidden)
    model = keras.Model(inp, logits)
    # Weights large enough that the logits reach past TFMOT's +-6 start.
    model.get_layer("hidden").set_weights([rng.uniform(0, 2, (8, 16)).astype(np.float32),
                                           np.zeros(16, np.float32)])
    model.get_layer("logits").set_weights([rng.normal(0, 1, (16, 2)).astype(np.float32),
                                           np.zeros(2, np.float32)])
    split = Split({"features": x}, y)
    data = Dataset("toy", "classification", split, Split({"features": x[:0]}, y[:0]), split, 2,
                   "random")
    train = TrainSection(epochs=1, batch_size=32, learning_rate=1e-9)
    ctx = TrainContext(data=data, train=train, strategy=make_strategy("default"))
    stage = STAGES.get("qat")
    config = stage.Config(epochs=1, calibration_examples=calibration_examples)
    probe = keras.Model(inp, [hidden, logits])
    want_hidden, want_logits = (np.asarray(v) for v in probe(x))
    return stage.run(model, config, ctx), want_hidden, want_logits


def test_activation_ranges_start_at_the_data() -> None:
    result, hidden, logits = _run_qat(calibration_examples=1024)
    assert result.facts["calibrated_activation_ranges"] == 2
    got = _ranges(result.model)
    # After calibration, three near-frozen steps (lr 1e-9) move an average by at most 0.3%.
    assert got["quant_hidden/post_activation_min"] == 0.0  # ReLU: nothing below zero
    assert got["quant_hidden/post_activation_max"] == pytest.approx(hidden.max(), rel=1e-2)
    assert got["quant_logits/post_activation_max"] == pytest.approx(max(logits.max(), 0), rel=1e-2)
    assert got["quant_logits/post_activation_min"] == pytest.approx(min(logits.min(), 0), rel=1e-2)
    assert max(abs(logits.min()), logits.max()) > 6, "the toy must reach past TFMOT's start"


def test_without_calibration_ranges_stay_near_tfmot_start() -> None:
    """The failure the calibration removes, so the test above means something."""
    result, _, _ = _run_qat(calibration_examples=0)
    got = _ranges(result.model)
    assert result.facts["calibrated_activation_ranges"] == 0
    assert got["quant_hidden/post_activation_min"] < -5.9
