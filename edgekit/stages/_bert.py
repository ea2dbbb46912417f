"""Helpers shared by the structured BERT stages (``ffn_prune``, ``head_prune`` through
:mod:`edgekit.stages._structured`, and ``vocab_trim``): each builds a smaller BERT of the same
layout and copies over every weight it does not reshape."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from edgekit.errors import EdgekitError


def require_bert(model: Any, stage: str, fix: str) -> None:
    """Refuse a model that is not edgekit's BERT (no word-embedding layer to work on)."""
    from edgekit.models.bert import names

    if names.EMB_WORD not in {layer.name for layer in model.layers}:
        raise EdgekitError(f"{stage} works on BERT models only", where="compression", fix=fix)


def rebuild_bert(model: Any, config: Any, name: str, vocab_map: np.ndarray | None = None) -> Any:
    """A fresh BERT of ``config`` at ``model``'s sequence length. It keeps ``model``'s
    vocabulary remap unless ``vocab_map`` replaces it, so a stage after ``vocab_trim`` still
    takes the original tokenizer's ids."""
    from edgekit.models.bert.encoder import build_bert
    from edgekit.models.bert.introspect import seq_len_of
    from edgekit.models.bert.vocab import vocab_map_of

    table = vocab_map if vocab_map is not None else vocab_map_of(model)
    return build_bert(config, seq_len_of(model), name=name, vocab_map=table)


def copy_weights(src: Any, dst: Any, skip: Iterable[str] = ()) -> None:
    """Copy every weighted layer of ``dst`` from the same-named layer of ``src``, except
    ``skip`` (the layers the stage reshapes and fills itself)."""
    skipped = set(skip)
    for layer in dst.layers:
        if layer.weights and layer.name not in skipped:
            layer.set_weights(src.get_layer(layer.name).get_weights())


def float_params(model: Any) -> int:
    """Number of float weights: what quantization and size budgets are about (a trimmed
    model's int32 id table is left out; it is reported on its own)."""
    return int(sum(np.prod(w.shape) for w in model.weights if w.dtype.is_floating))


def require_full_vocabulary(model: Any, stage: str) -> None:
    """Refuse a vocabulary-trimmed model in a stage that rebuilds it without the id table
    (the distillation stages build teacher and student copies from the config alone)."""
    from edgekit.models.bert.vocab import vocab_map_of

    if vocab_map_of(model) is not None:
        raise EdgekitError(f"{stage} cannot follow vocab_trim (its copies of the model would "
                           "lose the id table)", where="compression",
                           fix=f"put vocab_trim after {stage} in the recipe")
