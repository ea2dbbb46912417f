"""Initialise a narrower BERT student from a wider teacher by taking a slice of its weights.

TinyBERT students are narrower than their teachers, so the DistilBERT trick (copy whole teacher
layers) does not apply; the paper starts from a *general-distilled* student instead, which
needs a pre-training corpus we do not have offline. Slicing is the cheap substitute: the
student keeps the teacher's head count, each head keeps the first ``head_size'`` of its
dimensions, and every hidden / FFN axis keeps its leading units. The result is not a good
model by itself, but it starts from pretrained embeddings and attention patterns, so
task-specific distillation converges from there far faster than from random weights
(``init: random`` remains available to measure exactly that).

Head-structured axes (the output of Q/K/V, the input of the attention output projection) must
be sliced per head, not as a prefix, or heads would be cut across.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from . import names
from .encoder import count_layers, default_layer_map
from .heads import HEAD_AXES



def head_columns(heads: int, teacher_head: int, student_head: int) -> np.ndarray:
    """Indices of the first ``student_head`` dims of each of ``heads`` teacher heads."""
    return (np.arange(heads)[:, None] * teacher_head + np.arange(student_head)[None, :]).ravel()


def slice_weight(teacher_w: np.ndarray, student_shape: tuple[int, ...],
                 head_axis: int | None, heads: int) -> np.ndarray:
    """Leading slice of ``teacher_w`` on every axis; per-head slice on ``head_axis``."""
    index: list[Any] = []
    for axis, size in enumerate(student_shape):
        if axis == head_axis:
            index.append(head_columns(heads, teacher_w.shape[axis] // heads, size // heads))
        else:
            index.append(slice(0, size))
    return np.ascontiguousarray(teacher_w[tuple(index)])


def init_student_by_slicing(student: Any, teacher: Any, heads: int,
                            layer_map: Iterable[int] | None = None) -> list[str]:
    """Fill every student weight from the matching teacher weight; returns the layers set.

    Student block ``i`` reads teacher block ``layer_map[i]`` (default: spread evenly). The
    student must keep the teacher's head count (TinyBERT's attention loss needs it anyway).
    """
    t_layers, s_layers = count_layers(teacher), count_layers(student)
    mapping = list(layer_map) if layer_map is not None else default_layer_map(t_layers, s_layers)
    pairs = [(n, n, None) for n in (names.EMB_WORD, names.EMB_POSITION, names.EMB_TOKEN_TYPE,
                                    names.EMB_NORM, names.POOLER, names.CLASSIFIER)]
    pairs += [(names.layer_name(s, part), names.layer_name(t, part), part)
              for s, t in enumerate(mapping) for part in names.BLOCK_PARTS]
    written = []
    for s_name, t_name, part in pairs:
        try:
            s_layer, t_layer = student.get_layer(s_name), teacher.get_layer(t_name)
        except ValueError:  # e.g. a head-less model
            continue
        axes = HEAD_AXES.get(part or "", {})
        s_layer.set_weights([slice_weight(t, s.shape, axes.get(i), heads)
                             for i, (t, s) in enumerate(zip(t_layer.get_weights(),
                                                            s_layer.get_weights()))])
        written.append(s_name)
    return written
