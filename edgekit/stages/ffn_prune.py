"""Structured pruning of a BERT's feed-forward neurons: a smaller dense model, faster everywhere.

Unstructured (magnitude) sparsity leaves every matrix its full shape, so CPU runtimes run the
same dense kernels and gain no speed. Removing whole FFN neurons shrinks the intermediate
matrices (two thirds of an encoder block's weights) for every runtime and format.

Each neuron ``j`` of a block scores ``‖W_in[:, j]‖ · ‖W_out[j, :]‖`` (how much signal can flow
through it); every block keeps the same number of top-scoring neurons so the result is still an
ordinary BERT config (one ``intermediate_size``) that Hugging Face and every exporter express.
The pruned model then recovers by distillation from the unpruned one (soft logits, cached once).

Whole attention heads are removed by the sibling stage :mod:`edgekit.stages.head_prune`; the
two compose (``head_prune`` then ``ffn_prune``, or the reverse).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from pydantic import Field

from edgekit.stages import STAGES
from edgekit.stages._structured import Plan, RecoveryConfig, Selection, StructuredPrune, copy_selected
from edgekit.training import TrainContext


class FfnPruneConfig(RecoveryConfig):
    keep: float = Field(0.5, gt=0, le=1, description="share of FFN neurons kept in every block")


def neuron_scores(w_in: np.ndarray, w_out: np.ndarray) -> np.ndarray:
    """Importance of each intermediate neuron: norm of its input column × its output row."""
    return np.linalg.norm(w_in, axis=0) * np.linalg.norm(w_out, axis=1)


def kept_neurons(w_in: np.ndarray, w_out: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` most important neurons, in their original order."""
    return np.sort(np.argsort(neuron_scores(w_in, w_out))[::-1][:count])


def ffn_selection(model: Any, layers: int, count: int) -> Selection:
    """Keep the ``count`` most important neurons of each block: the intermediate kernel's
    columns and bias, the output kernel's rows."""
    from edgekit.models.bert import names

    select: Selection = {}
    for i in range(layers):
        inner, outer = (names.layer_name(i, p) for p in ("ffn/intermediate", "ffn/output"))
        keep = kept_neurons(model.get_layer(inner).get_weights()[0],
                            model.get_layer(outer).get_weights()[0], count)
        select[inner] = {0: (1, keep), 1: (0, keep)}
        select[outer] = {0: (0, keep)}
    return select


def copy_pruned_ffn(src: Any, dst: Any, layers: int, count: int) -> None:
    """Copy ``src`` into ``dst`` (same BERT, ``count`` FFN neurons per block), keeping the
    ``count`` most important neurons of each block."""
    copy_selected(src, dst, ffn_selection(src, layers, count))


class FfnPrune(StructuredPrune[FfnPruneConfig]):
    name = "ffn_prune"
    description = "structured pruning of BERT FFN neurons (smaller dense matrices), then recovery"
    Config = FfnPruneConfig

    def smaller(self, cfg: Any, config: FfnPruneConfig) -> Any:
        return replace(cfg, intermediate_size=max(1, round(cfg.intermediate_size * config.keep)))

    def plan(self, model: Any, cfg: Any, config: FfnPruneConfig, ctx: TrainContext) -> Plan:
        small = self.smaller(cfg, config)
        count = small.intermediate_size
        return Plan(small,
                    ffn_selection(model, cfg.num_layers, count), f"ffn{count}",
                    {"intermediate_size": {"before": cfg.intermediate_size, "after": count},
                     "importance": "‖W_in[:, j]‖·‖W_out[j, :]‖, same count in every block"})


STAGES.register(FfnPrune.name, FfnPrune())
