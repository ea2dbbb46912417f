"""Convolution building blocks shared by the CNN builders (not a plug-in module)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgekit import _tf

# Keras' default 0.99 needs thousands of steps before the moving statistics match the batch
# ones; quick runs (a few hundred steps on 1,257 digits) then evaluate at chance. 0.9 settles in
# ~50 steps and costs nothing on long runs.
BN_MOMENTUM = 0.9


def conv_bn(x: Any, filters: int, kernel: int, stride: int, name: str, relu: bool = True) -> Any:
    """Conv → BatchNorm (→ ReLU): the pattern TFLite, ONNX and OpenVINO all fold into one op, and
    that TFMOT's QAT quantizes as one unit."""
    layers = _tf.keras().layers
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def classifier_head(x: Any, num_classes: int, dropout: float = 0.0) -> Any:
    """Global average pooling → (dropout →) logits."""
    layers = _tf.keras().layers
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return layers.Dense(num_classes, name="logits")(x)


def conv_classifier(data: Any, model_name: str, stem_filters: int,
                    body: Callable[[Any], Any]) -> Any:
    """The CNN builders' common frame: image input → 3×3 conv-BN stem → ``body`` → pooled
    logits."""
    from edgekit.models._common import require_classes, single_input

    keras = _tf.keras()
    name, shape = single_input(data, model_name)
    inp = keras.Input(shape=shape, name=name)
    x = body(conv_bn(inp, stem_filters, 3, 1, "stem"))
    return keras.Model(inp, classifier_head(x, require_classes(data, model_name)), name=model_name)
