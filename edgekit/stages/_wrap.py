"""Wrap selected layers of a functional tf-keras model (TFMOT pruning / QAT annotation).

Wrapping the whole model fails for graphs with raw TF ops (BERT's attention matmuls become
``TFOpLambda`` layers that TFMOT cannot wrap), so stages clone the model and wrap only layers
with kernels that the technique applies to. Weights are copied back by layer name, because
``clone_model`` may rebuild layers with fresh initial values.

Every layer of the clone is a new object built from the original's config: a ``clone_function``
that returned the original layer (or wrapped it) would share it, so fine-tuning the wrapped copy
would also change the model given (pruning used to retrain the reference in place, kernels and
BatchNorm statistics alike, and a later export of ``model: reference`` would not be the
reference any more).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgekit import _tf


def kernel_layer_types() -> tuple[type, ...]:
    keras = _tf.keras()
    return (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D,
            keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)


def wrap_kernel_layers(model: Any, wrap: Callable[[Any], Any]) -> Any:
    """Clone ``model`` with ``wrap`` applied to every layer that holds a kernel."""
    keras = _tf.keras()
    kinds = kernel_layer_types()
    weights = {layer.name: layer.get_weights() for layer in model.layers if layer.weights}

    def clone(layer: Any) -> Any:
        fresh = layer.__class__.from_config(layer.get_config())
        return wrap(fresh) if isinstance(layer, kinds) else fresh

    wrapped = keras.models.clone_model(model, clone_function=clone)
    for layer in wrapped.layers:
        inner = getattr(layer, "layer", layer)  # TFMOT wrappers keep the original in .layer
        if inner.name in weights and inner.get_weights() and \
                [w.shape for w in inner.get_weights()] == [w.shape for w in weights[inner.name]]:
            inner.set_weights(weights[inner.name])
    return wrapped
