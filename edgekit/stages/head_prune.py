"""Structured pruning of a BERT's attention heads: narrower Q/K/V, faster on every runtime.

Heads are scored by Michel et al. (2019, "Are Sixteen Heads Really Better than One?")'s
importance ``I_h = Σ_batches |∂L/∂ξ_h|``, where ``ξ_h`` is a gate multiplying head ``h``'s
output and ``L`` the task's cross-entropy on training examples. Why this measure: it asks
how much the loss would change if the head were switched off, which weight norms cannot tell
(a head with large weights may attend to nothing useful; Michel et al. show pruning by it
keeps accuracy far longer than random or norm-based choices), and it costs a few forward and
backward passes. The gate needs no extra layer: scaling head ``h``'s rows of the attention
output kernel ``W_o`` by ``ξ_h`` *is* the gate, so ``∂L/∂ξ_h = Σ_{r∈h} ⟨W_o[r], ∂L/∂W_o[r]⟩``,
read from an ordinary gradient of the output kernels. The absolute value is taken per batch
(``batch_size`` examples), not per example as in the paper: per-example gradients would cost
one backward pass each; within a batch, opposite-signed examples can cancel.

Every block keeps the same number of top-scoring heads (as ``ffn_prune`` keeps one
``intermediate_size``), each head keeps its size, so Q/K/V map hidden → ``heads × head_size``
and the attention output maps that back to hidden (:class:`~edgekit.models.bert.config.
BertConfig` ``attention_head_size``). Kept heads' Q/K/V columns and output rows are copied;
the model then recovers by distillation from the unpruned one (soft logits, cached once).

Every exporter expresses the result: TFLite and tf2onnx trace the narrower Dense layers, the
BERT ONNX writer emits them and ONNX Runtime's fusion still builds its Attention op (it reads
the width from the weights), OpenVINO converts from ONNX. The Hugging Face checkpoint is
written full-width with zero heads in place of the removed ones (same logits; see
:func:`~edgekit.models.bert.checkpoint.save_hf_checkpoint`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from edgekit import _tf
from edgekit.data import Split
from edgekit.errors import EdgekitError
from edgekit.stages import STAGES
from edgekit.stages._distill import hard_cross_entropy
from edgekit.stages._structured import Plan, RecoveryConfig, StructuredPrune
from edgekit.training import TrainContext

DEFAULT_KEEP = 0.5


class HeadPruneConfig(RecoveryConfig):
    keep: float | None = Field(None, gt=0, le=1, description="share of attention heads kept in "
                               f"every block (default {DEFAULT_KEEP}); or give heads")
    heads: int | None = Field(None, ge=1, description="heads kept in every block, instead of keep")
    score_examples: int = Field(512, ge=1, description="training examples the head importance "
                                "(Michel et al. 2019) is accumulated over")

    @model_validator(mode="after")
    def _keep_or_heads(self) -> "HeadPruneConfig":
        if self.keep is not None and self.heads is not None:
            raise ValueError("give keep (a share) or heads (a count), not both")
        return self

    def count(self, num_heads: int) -> int:
        """Heads kept in every block of a model that has ``num_heads``."""
        if self.heads is not None:
            if self.heads > num_heads:
                raise EdgekitError(f"heads: {self.heads} is more than the model's {num_heads} "
                                   "heads per block", where="compression: head_prune",
                                   fix=f"set heads to 1..{num_heads}, or use keep (a share)")
            return self.heads
        return max(1, round(num_heads * (self.keep or DEFAULT_KEEP)))


def head_importance(model: Any, split: Split, num_heads: int, head_size: int, *,
                    examples: int, batch_size: int) -> np.ndarray:
    """Michel et al.'s importance of every head, ``[layers, heads]`` (see module docstring)."""
    from edgekit.models.bert import names
    from edgekit.models.bert.encoder import count_layers

    tf = _tf.tf()
    kernels = [model.get_layer(names.layer_name(i, "attention/output")).kernel
               for i in range(count_layers(model))]
    scores = np.zeros((len(kernels), num_heads))
    n = min(examples, len(split))
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        x = {k: v[start:stop] for k, v in split.x.items()}
        with tf.GradientTape() as tape:
            loss = hard_cross_entropy(model(x, training=False), split.y[start:stop])
        for i, (w, g) in enumerate(zip(kernels, tape.gradient(loss, kernels))):
            gate = (w.numpy() * g.numpy()).sum(axis=1).reshape(num_heads, head_size).sum(axis=1)
            scores[i] += np.abs(gate) * (stop - start)
    return scores


def top_heads(scores: np.ndarray, count: int) -> list[list[int]]:
    """The ``count`` highest-scoring heads of each block, in their original order."""
    return [sorted(np.argsort(-row, kind="stable")[:count].tolist()) for row in scores]


class HeadPrune(StructuredPrune[HeadPruneConfig]):
    name = "head_prune"
    description = "structured pruning of BERT attention heads (narrower Q/K/V), then recovery"
    Config = HeadPruneConfig

    def smaller(self, cfg: Any, config: HeadPruneConfig) -> Any:
        return replace(cfg, num_heads=config.count(cfg.num_heads), attention_head_size=cfg.head_size)

    def plan(self, model: Any, cfg: Any, config: HeadPruneConfig, ctx: TrainContext) -> Plan:
        from edgekit.models.bert.heads import head_selection

        small = self.smaller(cfg, config)
        count = small.num_heads
        scores = head_importance(model, ctx.data.train, cfg.num_heads, cfg.head_size,
                                 examples=config.score_examples,
                                 batch_size=config.batch_size or ctx.train.batch_size)
        kept = top_heads(scores, count)
        return Plan(small, head_selection(cfg.num_layers, kept, cfg.head_size), f"heads{count}",
                    {"heads": {"before": cfg.num_heads, "after": count,
                               "head_size": cfg.head_size},
                     "attention_width": {"before": cfg.attention_width,
                                         "after": small.attention_width},
                     "kept_heads": kept,
                     "importance": "Michel et al. 2019 |∂L/∂gate| per head, summed over "
                                   f"{min(config.score_examples, len(ctx.data.train))} training "
                                   "examples; same count in every block"})


STAGES.register(HeadPrune.name, HeadPrune())
