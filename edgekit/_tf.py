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
from pathlib import Path
from types import ModuleType
from typing import Any

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


#: What tf_keras writes into a ``.keras`` file without assets.
_PLAIN_KERAS_FILE = {"metadata.json", "config.json", "model.weights.h5"}


def load_keras_file(path: Path, custom_objects: dict[str, Any] | None = None) -> Any:
    """``tf_keras.models.load_model(path, compile=False, safe_mode=True)``, without its cost
    on large files: tf_keras reads the weights through h5py from inside the zip, and every
    backward seek re-reads the member from its start through TensorFlow's file layer
    (keras-team/keras#19793, fixed in Keras 3 by extracting the .h5 first, #19852; tf_keras 2.21
    has no fix). Loading the fine-tuned MiniLM teacher (273 MB) took 75 s here, its 3-layer
    student 10 s; each reused stage paid it. So the weights are extracted to a temporary file
    and loaded with the public ``load_weights``, the model built from the same config the same
    way. A file with assets is left to tf_keras as it is."""
    import json
    import shutil
    import tempfile
    import zipfile

    k = keras()
    with zipfile.ZipFile(path) as zf:
        if set(zf.namelist()) != _PLAIN_KERAS_FILE:
            return k.models.load_model(path, compile=False, safe_mode=True,
                                       custom_objects=custom_objects)
        config = json.loads(zf.read("config.json"))
        config["compile_config"] = None
        with tempfile.TemporaryDirectory(prefix="edgekit-keras-") as tmp:
            weights = Path(tmp) / "model.weights.h5"
            with zf.open("model.weights.h5") as src, open(weights, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 24)
            model = k.saving.deserialize_keras_object(config, custom_objects=custom_objects,
                                                      safe_mode=True)
            model.load_weights(str(weights))
    return model
