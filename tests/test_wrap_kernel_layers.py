"""Fine-tuning a wrapped copy (pruning, QAT) must leave the model it was made from unchanged.

A ``clone_model`` whose ``clone_function`` returned the original layer shared it with the copy,
so pruning retrained the reference in place: every kernel and the BatchNorm statistics moved,
and an export of ``model: reference`` made after the prune stage was no longer the reference.
"""

from __future__ import annotations

import numpy as np

from edgekit import _tf
from edgekit.stages._wrap import wrap_kernel_layers


def _model():
    keras = _tf.keras()
    inp = keras.Input((8,))
    h = keras.layers.Dense(16, activation="relu", name="d1")(inp)
    h = keras.layers.BatchNormalization(name="bn")(h)
    return keras.Model(inp, keras.layers.Dense(2, name="d2")(h))


def test_pruning_the_copy_leaves_the_original_alone() -> None:
    sparsity = _tf.tfmot().sparsity.keras
    model = _model()
    before = [w.copy() for w in model.get_weights()]
    pruned = wrap_kernel_layers(model, lambda layer: sparsity.prune_low_magnitude(
        layer, pruning_schedule=sparsity.ConstantSparsity(0.5, 0)))
    # the copy starts from the original's weights ...
    x = np.random.default_rng(0).random((64, 8)).astype("float32")
    np.testing.assert_allclose(sparsity.strip_pruning(pruned).predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=1e-6)
    pruned.compile("adam", "mse")
    pruned.fit(x, np.ones((64, 2), "float32"), epochs=2, verbose=0,
               callbacks=[sparsity.UpdatePruningStep()])
    # ... and training it moves its weights, not the original's
    after = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after)), \
        "fine-tuning the pruned copy changed the model it was cloned from"
    assert not np.allclose(sparsity.strip_pruning(pruned).get_layer("d1").get_weights()[0],
                           before[0])
