"""What the structured-pruning stages (``ffn_prune``, ``head_prune``) share.

Both do the same four things and differ only in *what* they keep: check the model is a BERT,
build a smaller BERT from a smaller config, copy the kept slices of every weight into it, and
let it recover by distillation from the unpruned model. A stage supplies a :class:`Plan`
(the smaller config and, per layer, which units of which weight axes survive);
:class:`StructuredPrune` does the rest.

Structured, not unstructured, because only removing whole units makes matrices smaller:
magnitude sparsity leaves every matrix its full shape, so CPU runtimes run the same dense
kernels and gain no speed.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from pydantic import Field

from edgekit.stages import Stage, StageConfig, StageResult
from edgekit.stages._bert import copy_weights, float_params, rebuild_bert, require_bert
from edgekit.stages._distill import (TeacherCache, bert_stage_footprint, bucket_lengths, distill_fit,
                                     hard_cross_entropy, soft_cross_entropy, text_fields)
from edgekit.training import TrainContext, last_epoch

#: ``{layer name: {weight index: (axis, kept positions on that axis)}}``.
Selection = dict[str, dict[int, tuple[int, np.ndarray]]]

NOTE = ("structured: the exported matrices are smaller, so every runtime runs fewer FLOPs "
        "(unlike unstructured sparsity, which keeps dense shapes and rarely runs faster)")


class RecoveryConfig(StageConfig):
    """Recovery distillation from the unpruned model (soft logits, cached once)."""

    epochs: int = Field(2, ge=0, description="recovery distillation from the unpruned model")
    learning_rate: float = Field(5e-5, gt=0)
    temperature: float = Field(2.0, gt=0)
    alpha_hard: float = Field(0.5, ge=0)
    batch_size: int | None = Field(None, ge=1, description="default: the recipe's")


@dataclass
class Plan:
    """What a structured stage keeps: the smaller architecture and the surviving units."""

    config: Any                 # BertConfig of the pruned model
    select: Selection
    suffix: str                 # appended to the model name, e.g. "ffn64" or "heads8"
    facts: dict[str, Any] = field(default_factory=dict)


def copy_selected(src: Any, dst: Any, select: Selection) -> None:
    """Copy every weight of ``src`` into ``dst`` (same layer names); weights named in
    ``select`` keep only the listed positions on their axis."""
    copy_weights(src, dst, skip=select)
    for name, picks in select.items():
        values = src.get_layer(name).get_weights()
        for index, (axis, kept) in picks.items():
            values[index] = np.take(values[index], kept, axis=axis)
        dst.get_layer(name).set_weights(values)


def recovery_loss(config: RecoveryConfig) -> Any:
    """Hinton soft-target loss on the unpruned model's logits plus ``alpha_hard`` × labels."""

    def loss(x: Any, y: Any, t: dict[str, Any], s: Any) -> tuple[Any, dict[str, Any]]:
        soft = soft_cross_entropy(s, t["logits"], config.temperature)
        hard = hard_cross_entropy(s, y)
        return soft + config.alpha_hard * hard, {"soft": soft, "hard": hard}

    return loss


def recover(pruned: Any, teacher: Any, config: RecoveryConfig,
            ctx: TrainContext) -> dict[str, list[float]]:
    """Distil ``teacher`` (the unpruned model) into ``pruned``; the per-epoch losses."""
    if not config.epochs:
        return {}
    lengths = bucket_lengths(ctx, teacher, pruned)  # train.bucketing: see length_buckets
    cache = TeacherCache(teacher, ctx.data.train, lengths=lengths)
    try:
        return distill_fit(pruned, recovery_loss(config), ctx.data.train, cache,
                           epochs=config.epochs, learning_rate=config.learning_rate,
                           batch_size=config.batch_size or ctx.train.batch_size,
                           strategy=ctx.strategy, seed=ctx.train.seed, lengths=lengths)
    finally:
        cache.close()


R = TypeVar("R", bound=RecoveryConfig)


class StructuredPrune(Stage[R]):
    """Run a :class:`Plan`: build the smaller BERT, copy the kept weights, recover. Generic
    over the subclass's config, which extends :class:`RecoveryConfig`."""

    @abstractmethod
    def plan(self, model: Any, cfg: Any, config: R, ctx: TrainContext) -> Plan:
        """What to keep of ``model`` (whose config is ``cfg``) under the stage's ``config``."""

    @abstractmethod
    def smaller(self, cfg: Any, config: R) -> Any:
        """The pruned model's BertConfig: known from the configs alone, before any weight
        is scored, so the run's resource estimate can size it up front."""

    def footprint(self, config: R, model: Any, data: Any, lengths: Any = None) -> Any:
        """The smaller BERT; recovery caches the unpruned model's logits."""
        t = model.arch
        if t is None or "seq_len" not in data.extra:
            return super().footprint(config, model, data, lengths)
        return bert_stage_footprint(model, self.smaller(t, config), data, lengths,
                                    per_example=t.num_labels if config.epochs else 0)

    def run(self, model: Any, config: R, ctx: TrainContext) -> StageResult:
        from edgekit.models.bert.introspect import config_of

        require_bert(model, self.name,
                     fix="use the 'prune' stage (magnitude pruning) for this family")
        plan = self.plan(model, config_of(model, **text_fields(ctx)), config, ctx)
        with ctx.strategy.scope():
            # rebuild_bert keeps a vocab_trim id table, so pruning may follow trimming
            pruned = rebuild_bert(model, plan.config, name=f"{model.name}_{plan.suffix}")
            copy_selected(model, pruned, plan.select)
        logs = recover(pruned, model, config, ctx)
        return StageResult(pruned, {
            **plan.facts,
            "parameters": {"before": float_params(model), "after": float_params(pruned)},
            "recovery": {"epochs": config.epochs, "final_losses": last_epoch(logs)},
            **({"loss_history": {"recovery": logs}} if logs else {}),
            "note": NOTE})
