"""Convolution building blocks shared by the CNN builders (not a plug-in module)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgekit import _tf

# Keras' default 0.99 needs thousands of steps before the moving statistics match the batch
# ones; quick runs (a few hundred steps on 1,257 digits) then evaluate at chance. 0.9 settles in
# ~50 steps and costs nothing on long runs.
BN_MOMENTUM = 0.9


# oneDNN (v3.7.3 in TensorFlow 2.21, still so upstream) writes past its scratchpad in the
# backward-weights pass of a strided 1×1 convolution whose NHWC input has fewer channels than the
# kernel's channel block (16 on AVX-512, 8 on AVX2): heap corruption, then a segfault, an abort,
# a hang or silently wrong filter gradients, depending on batch size and thread count
# (https://github.com/uxlfoundation/oneDNN/issues/6035). The quick ResNet's 8→16 projection
# shortcut crashed `fit` that way on AVX-512 machines. Such a convolution is built instead as a
# 1×1 max-pool with the stride (pure subsampling) followed by the same 1×1 convolution at stride
# 1: the same function, weights and initialisation, with no strided 1×1 backward pass. 16 is the
# largest f32 channel block on x86, so this holds on AVX2 and AVX-512 alike; wider inputs keep
# the plain strided convolution.
SAFE_STRIDED_1X1_CHANNELS = 16


def conv_bn(x: Any, filters: int, kernel: int, stride: int, name: str, relu: bool = True) -> Any:
    """Conv → BatchNorm (→ ReLU): the pattern TFLite, ONNX and OpenVINO all fold into one op, and
    that TFMOT's QAT quantizes as one unit. A strided 1×1 conv on fewer than
    :data:`SAFE_STRIDED_1X1_CHANNELS` channels subsamples first (see there)."""
    layers = _tf.keras().layers
    if kernel == 1 and stride > 1 and x.shape[-1] < SAFE_STRIDED_1X1_CHANNELS:
        x = layers.MaxPooling2D(1, strides=stride, padding="same", name=f"{name}_subsample")(x)
        stride = 1
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
