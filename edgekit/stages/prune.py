"""Magnitude pruning with TFMOT: fine-tune while a polynomial schedule zeroes the smallest
weights, then strip the wrappers so the exported graph is a plain model with sparse kernels.

Unstructured sparsity shrinks compressed size but rarely speeds up dense kernels on CPU runtimes;
the report says so rather than implying a speed-up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from edgekit import _tf
from edgekit.stages import STAGES, Stage, StageConfig, StageResult
from edgekit.stages._wrap import wrap_kernel_layers
from edgekit.training import TrainContext, compile_model, fit, per_epoch


class PruneConfig(StageConfig):
    target_sparsity: float = Field(0.5, ge=0, lt=1, description="share of weights set to zero")
    initial_sparsity: float = Field(0.0, ge=0, lt=1)
    epochs: int = Field(2, ge=1, description="fine-tuning epochs during which sparsity ramps up")
    frequency: int = Field(10, ge=1, description="steps between mask updates")
    learning_rate: float | None = Field(None, gt=0, description="default: the recipe's")


def kernel_sparsity(model: Any) -> float:
    """Share of zeros over all Dense/Conv kernels (the weights pruning targets)."""
    zeros = total = 0
    for w in model.weights:
        if "kernel" in w.name and len(w.shape) >= 2:
            v = np.asarray(w.numpy())
            zeros += int(np.sum(v == 0))
            total += v.size
    return zeros / total if total else 0.0


class Prune(Stage[PruneConfig]):
    name = "prune"
    description = "magnitude pruning (TFMOT polynomial schedule) with fine-tuning"
    Config = PruneConfig

    def footprint(self, config: PruneConfig, model: Any, data: Any, lengths: Any = None) -> Any:
        """Same size out; while fine-tuning, the wrappers keep a mask per weight beside the
        model given and its wrapped copy."""
        from edgekit.footprint import StageFootprint

        return StageFootprint(model=model, held_params=2 * model.params)

    def run(self, model: Any, config: PruneConfig, ctx: TrainContext) -> StageResult:
        tfmot = _tf.tfmot()
        sparsity = tfmot.sparsity.keras
        steps = ctx.steps_per_epoch() * config.epochs
        # Reach the target at ~80% of fine-tuning so the last steps recover accuracy.
        end = max(1, int(steps * 0.8))
        schedule = sparsity.PolynomialDecay(initial_sparsity=config.initial_sparsity,
                                            final_sparsity=config.target_sparsity,
                                            begin_step=0, end_step=end,
                                            frequency=min(config.frequency, end))
        with ctx.strategy.scope():
            pruned = wrap_kernel_layers(
                model, lambda layer: sparsity.prune_low_magnitude(layer, pruning_schedule=schedule))
            compile_model(pruned, ctx, config.learning_rate)
        history = fit(pruned, ctx, config.epochs, callbacks=[sparsity.UpdatePruningStep()])
        stripped = sparsity.strip_pruning(pruned)
        achieved = kernel_sparsity(stripped)
        return StageResult(stripped, {"target_sparsity": config.target_sparsity,
                                      "achieved_kernel_sparsity": round(achieved, 4),
                                      "note": "unstructured sparsity: smaller when compressed, "
                                              "not faster on dense CPU kernels",
                                      "loss_history": {"fine-tuning": per_epoch(history, True)}})


STAGES.register(Prune.name, Prune())
