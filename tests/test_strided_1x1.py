"""oneDNN's strided 1×1 backward-weights bug (uxlfoundation/oneDNN#6035) kept out of the CNNs.

With fewer input channels than oneDNN's channel block (16 on AVX-512, 8 on AVX2), the backward
pass of a strided 1×1 convolution writes past its scratchpad: the quick ResNet's 8→16
projection shortcut crashed ``fit`` (segfault, or glibc's "double free or corruption") on an
AVX-512 machine with 2 threads and a last batch of odd size. ``conv_bn`` builds such a
convolution as a 1×1 max-pool with the stride followed by a stride-1 convolution instead.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from edgekit import _tf
from edgekit.models import MODELS
from edgekit.models._conv import SAFE_STRIDED_1X1_CHANNELS, conv_bn


def _narrow_strided_1x1(model) -> list[str]:
    conv = _tf.keras().layers.Conv2D
    return [layer.name for layer in model.layers
            if isinstance(layer, conv) and tuple(layer.kernel_size) == (1, 1)
            and max(layer.strides) > 1 and layer.input_shape[-1] < SAFE_STRIDED_1X1_CHANNELS]


def _resnet(params: dict, side: int):
    builder = MODELS.get("resnet")
    data = SimpleNamespace(input_shapes=lambda: {"image": (side, side, 1)}, num_classes=10)
    return builder.build(builder.Config(**params), data)


def test_resnet_has_no_narrow_strided_1x1_conv() -> None:
    quick = _resnet({"stem_filters": 8, "stages": [(8, 1), (16, 1)]}, 16)  # recipes/resnet --quick
    assert not _narrow_strided_1x1(quick)
    assert quick.get_layer("s1b0_proj_subsample").strides == (2, 2)
    wide = _resnet({"stages": [(16, 1), (32, 1), (64, 1)]}, 28)  # the full recipe: unchanged
    assert not _narrow_strided_1x1(wide)
    assert not [la for la in wide.layers if la.name.endswith("_subsample")]


def test_subsampled_1x1_conv_is_the_strided_one() -> None:
    keras = _tf.keras()
    x = np.random.default_rng(0).random((3, 15, 15, 8), dtype=np.float32)
    inp = keras.Input((15, 15, 8))
    model = keras.Model(inp, conv_bn(inp, 16, 1, 2, "p", relu=False))
    strided = keras.layers.Conv2D(16, 1, strides=2, padding="same", use_bias=False)
    strided.build((None, 15, 15, 8))
    strided.set_weights(model.get_layer("p_conv").get_weights())
    bn = model.get_layer("p_bn")
    np.testing.assert_allclose(model(x, training=False), bn(strided(x), training=False), atol=1e-6)


def test_quick_resnet_fits_with_an_odd_batch() -> None:
    """What crashed: training steps whose batch size is odd (here every one)."""
    keras = _tf.keras()
    keras.utils.set_random_seed(0)
    model = _resnet({"stem_filters": 8, "stages": [(8, 1), (16, 1)]}, 16)
    model.compile(keras.optimizers.Adam(0.004),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.random((45, 16, 16, 1), dtype=np.float32), rng.integers(0, 10, 45)
    history = model.fit(x, y, batch_size=9, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
