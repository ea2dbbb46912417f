"""What a model and a compression stage will weigh, known before anything is trained.

These are the figures the plug-ins hand to the run's up-front disk and memory estimate
(:mod:`edgekit.resources`): a model builder says what its untrained model weighs
(:class:`Footprint`), a compression stage what it hands on and what it holds meanwhile
(:class:`StageFootprint`). They live in a module of their own, below the plug-in base classes,
because the estimator sits above the plug-ins (it looks builders and stages up by name): were
the types in the estimator, the base classes and the estimator would import each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Footprint:
    """What a model will weigh, known without training it."""

    params: int
    outputs: int = 1  # output values per example (the held-out reference outputs)
    activations: int = 0  # values computed per example in a forward pass
    arch: Any = None  # builder-specific architecture later stages can read (a BertConfig)


@dataclass(frozen=True)
class StageFootprint:
    """What a compression stage hands on, and what it needs while it runs."""

    model: Footprint
    held_params: int = 0  # parameters alive beside the model it trains (teacher, masks)
    temp_bytes: int = 0  # files in the temp dir (the distillation teacher cache)


def built_footprint(model: Any) -> Footprint:
    """The footprint of a built (untrained) Keras model: its parameters, outputs and the
    values each layer produces per example."""

    def per_example(shape: Any) -> int:
        shapes = shape if isinstance(shape, list) else [shape]
        return int(sum(np.prod([d or 1 for d in s[1:]], dtype=np.int64) for s in shapes
                       if isinstance(s, tuple)))

    activations = 0
    for layer in model.layers:
        try:
            activations += per_example(layer.output_shape)
        except (AttributeError, RuntimeError):  # a layer used at several shapes
            continue
    outputs = sum(per_example(tuple(o.shape)) for o in model.outputs)
    return Footprint(params=int(model.count_params()), outputs=max(1, outputs),
                     activations=activations)
