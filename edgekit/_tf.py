"""The one place TensorFlow is imported.

TFMOT only understands tf-keras (Keras 2) models, and TensorFlow picks its Keras at import
time from ``TF_USE_LEGACY_KERAS``; so the variable must be set before the first import, which
this module guarantees. Everything else imports TensorFlow through :func:`tf` and
:func:`keras`, lazily, so that the CLI's help and listing commands never pay for it (imports
under ``TYPE_CHECKING``, for annotations only, are the one exception; tests/test_layering.py
keeps it so). The device package (:mod:`edgekit.device`) never imports TensorFlow at all.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

from edgekit.errors import EdgekitError


def _prepare_env() -> None:
    if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise EdgekitError(
            "TensorFlow was imported before edgekit could select tf-keras",
            fix="set TF_USE_LEGACY_KERAS=1 before importing tensorflow, or import edgekit first")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tf() -> ModuleType:
    _prepare_env()
    if "tensorflow" not in sys.modules:
        import logging
        import warnings

        from edgekit.quiet import native_stderr

        with native_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import tensorflow

            tensorflow.config.list_physical_devices()  # device probing logs cuInit failures
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    import tensorflow

    return tensorflow


def keras() -> ModuleType:
    tf()
    import tf_keras

    return tf_keras


def tfmot() -> ModuleType:
    tf()
    import tensorflow_model_optimization

    return tensorflow_model_optimization


def lite_flatbuffers() -> ModuleType:
    """TFLite's flatbuffer reader (``tensorflow.lite.tools.flatbuffer_utils``), a submodule
    that ``import tensorflow`` does not load."""
    tf()
    from tensorflow.lite.tools import flatbuffer_utils

    return flatbuffer_utils


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow so a recipe run is repeatable."""
    keras().utils.set_random_seed(seed)
