"""Structured pruning of a BERT's feed-forward neurons: a smaller dense model, faster everywhere.

Unstructured (magnitude) sparsity leaves every matrix its full shape, so CPU runtimes run the
same dense kernels and gain no speed. Removing whole FFN neurons shrinks the intermediate
matrices (two thirds of an encoder block's weights) for every runtime and format.

Each neuron ``j`` of a block scores ``‖W_in[:, j]‖ · ‖W_out[j, :]‖`` (how much signal can flow
through it); every block keeps the same number of top-scoring neurons so the result is still an
ordinary BERT config (one ``intermediate_size``) that Hugging Face and every exporter express.
The pruned model then recovers by distillation from the unpruned one (soft logits, cached once).

Attention heads are not removed here: a pruned head count would break ``hidden = heads ×
head_size``, which the Hugging Face config cannot express without per-layer ``pruned_heads``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from edgekit.stages import STAGES, Stage, StageConfig, StageResult
from edgekit.stages._bert import copy_weights, rebuild_bert, require_bert
from edgekit.stages._distill import (TeacherCache, distill_fit, hard_cross_entropy,
                                     soft_cross_entropy, text_fields)
from edgekit.training import TrainContext


class FfnPruneConfig(StageConfig):
    keep: float = Field(0.5, gt=0, le=1, description="share of FFN neurons kept in every block")
    epochs: int = Field(2, ge=0, description="recovery distillation from the unpruned model")
    learning_rate: float = Field(5e-5, gt=0)
    temperature: float = Field(2.0, gt=0)
    alpha_hard: float = Field(0.5, ge=0)
    batch_size: int | None = Field(None, ge=1, description="default: the recipe's")


def neuron_scores(w_in: np.ndarray, w_out: np.ndarray) -> np.ndarray:
    """Importance of each intermediate neuron: norm of its input column × its output row."""
    return np.linalg.norm(w_in, axis=0) * np.linalg.norm(w_out, axis=1)


def kept_neurons(w_in: np.ndarray, w_out: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` most important neurons, in their original order."""
    return np.sort(np.argsort(neuron_scores(w_in, w_out))[::-1][:count])


def copy_pruned_ffn(src: Any, dst: Any, layers: int, count: int) -> None:
    """Copy ``src`` into ``dst`` (same BERT, ``count`` FFN neurons per block), keeping the
    ``count`` most important neurons of each block."""
    from edgekit.models.bert import names

    ffn = {names.layer_name(i, p) for i in range(layers) for p in ("ffn/intermediate", "ffn/output")}
    copy_weights(src, dst, skip=ffn)
    for i in range(layers):
        inner = src.get_layer(names.layer_name(i, "ffn/intermediate")).get_weights()
        outer = src.get_layer(names.layer_name(i, "ffn/output")).get_weights()
        keep = kept_neurons(inner[0], outer[0], count)
        dst.get_layer(names.layer_name(i, "ffn/intermediate")).set_weights([inner[0][:, keep],
                                                                           inner[1][keep]])
        dst.get_layer(names.layer_name(i, "ffn/output")).set_weights([outer[0][keep], outer[1]])


class FfnPrune(Stage):
    name = "ffn_prune"
    description = "structured pruning of BERT FFN neurons (smaller dense matrices), then recovery"
    Config = FfnPruneConfig

    def run(self, model: Any, config: FfnPruneConfig, ctx: TrainContext) -> StageResult:  # type: ignore[override]
        from dataclasses import replace

        from edgekit.models.bert.introspect import config_of

        require_bert(model, self.name, fix="use the 'prune' stage (magnitude pruning) for this "
                                           "family")
        cfg = config_of(model, **text_fields(ctx))
        count = max(1, round(cfg.intermediate_size * config.keep))
        small_cfg = replace(cfg, intermediate_size=count)
        with ctx.strategy.scope():
            pruned = rebuild_bert(model, small_cfg, name=f"{model.name}_ffn{count}")
            copy_pruned_ffn(model, pruned, cfg.num_layers, count)
        logs: dict[str, Any] = {}
        if config.epochs:
            cache = TeacherCache(model, ctx.data.train)
            try:
                logs = distill_fit(pruned, self._loss(config), ctx.data.train, cache,
                                   epochs=config.epochs, learning_rate=config.learning_rate,
                                   batch_size=config.batch_size or ctx.train.batch_size,
                                   strategy=ctx.strategy, seed=ctx.train.seed)
            finally:
                cache.close()
        return StageResult(pruned, {
            "intermediate_size": {"before": cfg.intermediate_size, "after": count},
            "parameters": {"before": int(model.count_params()), "after": int(pruned.count_params())},
            "importance": "‖W_in[:, j]‖·‖W_out[j, :]‖, same count in every block",
            "recovery": {"epochs": config.epochs, "final_losses": logs},
            "note": "structured: the exported matrices are smaller, so every runtime runs fewer "
                    "FLOPs (unlike unstructured sparsity)"})

    @staticmethod
    def _loss(config: FfnPruneConfig) -> Any:
        def loss(x: Any, y: Any, t: dict[str, Any], s: Any) -> tuple[Any, dict[str, Any]]:
            soft = soft_cross_entropy(s, t["logits"], config.temperature)
            hard = hard_cross_entropy(s, y)
            return soft + config.alpha_hard * hard, {"soft": soft, "hard": hard}
        return loss


STAGES.register(FfnPrune.name, FfnPrune())
