"""A user's own trained tf-keras model from a ``.keras`` file.

Loaded with ``safe_mode=True`` and without custom objects, so a file cannot run code on load
(Lambda layers with pickled bytecode are refused). Legacy ``.h5`` and SavedModel folders are not
accepted for the same reason. The recipe's training schedule still applies: set
``train.epochs`` to fine-tune, or use the model as trained with ``train.epochs: 1`` and a tiny
learning rate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.data import Dataset
from edgekit.errors import EdgekitError
from edgekit.models import MODELS, BuilderConfig, ModelBuilder


class KerasFileConfig(BuilderConfig):
    path: str = Field(description="path to a tf-keras .keras file")


class KerasFile(ModelBuilder[KerasFileConfig]):
    name = "keras_file"
    family = None
    Config = KerasFileConfig

    def build(self, config: KerasFileConfig, data: Dataset) -> Any:
        path = Path(config.path)
        if path.suffix != ".keras":
            raise EdgekitError("only .keras model files are loaded (h5/SavedModel can carry "
                               "code)", where=path, fix="re-save the model with model.save('m.keras')")
        if not path.is_file():
            raise EdgekitError("model file not found", where=path,
                               fix="set model.params.path to an existing .keras file")
        try:
            model = _tf.load_keras_file(path)
        except Exception as exc:
            raise EdgekitError(f"not a loadable tf-keras model: {str(exc).splitlines()[0]}",
                               where=path, fix="save it with tf_keras 2.x as .keras (no Lambda "
                               "layers: they carry code)") from exc
        _check_labels(model, data, path)
        return model


def _check_labels(model: Any, data: Dataset, path: Path) -> None:
    """A classifier must have an output for every label the data holds."""
    if data.task != "classification" or not data.num_classes:
        return
    shape = model.output_shape[0] if isinstance(model.output_shape, list) else model.output_shape
    outputs = shape[-1] if shape else None
    if outputs is not None and outputs != 1 and outputs < data.num_classes:
        raise EdgekitError(f"the model has {outputs} outputs but the data has labels "
                           f"0..{data.num_classes - 1}", where=path,
                           fix=f"use a model with {data.num_classes} outputs, or data whose labels "
                           f"are below {outputs}")


MODELS.register(KerasFile.name, KerasFile())
