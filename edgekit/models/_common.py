"""Helpers every builder shares (not a plug-in: the leading underscore keeps discovery out)."""

from __future__ import annotations

from typing import Any

from edgekit.data import Dataset
from edgekit.errors import EdgekitError


def single_input(data: Dataset, builder: str) -> tuple[str, tuple[int, ...]]:
    """(name, shape) of the dataset's only input; one-line error if it has several."""
    shapes = data.input_shapes()
    if len(shapes) != 1:
        raise EdgekitError(f"model '{builder}' takes one input, dataset '{data.name}' has "
                           f"{sorted(shapes)}", where="data.dataset",
                           fix="pick a dataset with a single input")
    (name, shape), = shapes.items()
    return name, shape


def keras_inputs(data: Dataset) -> dict[str, Any]:
    """A named keras.Input per dataset input, with the dataset's dtype."""
    from edgekit import _tf

    keras = _tf.keras()
    dtypes = data.input_dtypes()
    return {name: keras.Input(shape=shape, name=name, dtype=str(dtypes[name]))
            for name, shape in data.input_shapes().items()}


def dense_stack(x: Any, units: tuple[int, ...] | list[int], activation: str, dropout: float,
                prefix: str) -> Any:
    """Dense (+ dropout) layers, named ``{prefix}{i}``: the hidden part of most heads."""
    from edgekit import _tf

    keras = _tf.keras()
    for i, n in enumerate(units):
        x = keras.layers.Dense(n, activation=activation, name=f"{prefix}{i + 1}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{prefix}{i + 1}_dropout")(x)
    return x


def require_classes(data: Dataset, builder: str) -> int:
    if not data.num_classes:
        raise EdgekitError(f"model '{builder}' is a classifier but dataset '{data.name}' poses "
                           f"task '{data.task}'", where="data.dataset",
                           fix="pick a classification dataset")
    return data.num_classes
