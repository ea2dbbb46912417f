"""Whole attention heads as units of a BERT's weights: pick some (pruning), or put them back
among all-zero heads (writing a head-pruned model in a layout Hugging Face can load).

Q/K/V outputs and the attention output's input are laid out ``[head, head_size]``; taking a
head means taking its ``head_size`` consecutive units on those axes of all four projections,
so the head's queries, keys, values and output rows move together.

A zero head changes nothing: its Q and K are zero, so its scores are uniform; its V is zero,
so its context is zero; and its output-projection rows are zero, so it adds nothing to the
block's output (the output bias is shared and kept). That is why zero-padding is exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import names
from .config import BertConfig

#: Block parts whose weight axes are laid out [head, head_size]: part -> {weight index: axis}
#: (Keras layout: Dense kernels are [in, out]).
HEAD_AXES: dict[str, dict[int, int]] = {
    "attention/query": {0: 1, 1: 0},
    "attention/key": {0: 1, 1: 0},
    "attention/value": {0: 1, 1: 0},
    "attention/output": {0: 0},
}


def head_units(heads: Sequence[int], head_size: int) -> np.ndarray:
    """Positions on a head-structured axis of the units of ``heads``, head by head."""
    return (np.asarray(heads, dtype=np.int64)[:, None] * head_size
            + np.arange(head_size)[None, :]).ravel()


def head_selection(num_layers: int, kept: Sequence[Sequence[int]], head_size: int
                   ) -> dict[str, dict[int, tuple[int, np.ndarray]]]:
    """``{layer: {weight index: (axis, units)}}`` that keeps heads ``kept[i]`` of block ``i``
    (the form :func:`edgekit.stages._structured.copy_selected` takes)."""
    return {names.layer_name(i, part): {index: (axis, head_units(kept[i], head_size))
                                        for index, axis in axes.items()}
            for i in range(num_layers) for part, axes in HEAD_AXES.items()}


def zero_pad_heads(config: BertConfig, layers: dict[str, list[np.ndarray]]
                   ) -> tuple[BertConfig, dict[str, list[np.ndarray]]]:
    """A head-pruned model's Keras weights as a full-width BERT whose extra heads are zero.

    The kept heads become heads ``0 .. num_heads-1`` of each block (head order carries no
    meaning: attention is a sum over heads), the rest are zero, so the padded model computes
    exactly what the pruned one does. Returns ``(config.full_width(), padded weights)``.
    """
    full = config.full_width()
    if full is config:
        return config, layers
    units = head_units(range(config.num_heads), config.head_size)
    padded = dict(layers)
    for i in range(config.num_layers):
        for part, axes in HEAD_AXES.items():
            name = names.layer_name(i, part)
            if name not in layers:
                continue
            values = list(layers[name])
            for index, axis in axes.items():
                shape = list(values[index].shape)
                shape[axis] = full.hidden_size
                out = np.zeros(shape, dtype=values[index].dtype)
                where: list[object] = [slice(None)] * out.ndim
                where[axis] = units
                out[tuple(where)] = values[index]
                values[index] = out
            padded[name] = values
    return full, padded

