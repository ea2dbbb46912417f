"""Quantization-aware training (TFMOT). On an already pruned model it uses TFMOT's
prune-preserving scheme, so fine-tuning does not refill the zeros pruning made."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from edgekit import _tf
from edgekit.stages import STAGES, Stage, StageConfig, StageResult
from edgekit.stages._wrap import wrap_kernel_layers
from edgekit.stages.prune import kernel_sparsity
from edgekit.training import TrainContext, compile_model, fit, per_epoch


class QATConfig(StageConfig):
    epochs: int = Field(1, ge=1)
    learning_rate: float | None = Field(None, gt=0, description="default: the recipe's / 10")
    preserve_sparsity: bool = Field(True, description="keep pruned zeros at zero (PQAT)")


class QAT(Stage):
    name = "qat"
    description = "quantization-aware training (int8 fake-quant), sparsity-preserving"
    Config = QATConfig

    def run(self, model: Any, config: QATConfig, ctx: TrainContext) -> StageResult:  # type: ignore[override]
        tfmot = _tf.tfmot()
        q = tfmot.quantization.keras
        sparse = kernel_sparsity(model) > 0.05
        lr = config.learning_rate or ctx.train.learning_rate / 10
        with ctx.strategy.scope():
            annotated = wrap_kernel_layers(model, q.quantize_annotate_layer)
            if sparse and config.preserve_sparsity:
                scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
                qat = q.quantize_apply(annotated, scheme)
            else:
                qat = q.quantize_apply(annotated)
            compile_model(qat, ctx, lr)
        history = fit(qat, ctx, config.epochs)
        return StageResult(qat, {"scheme": "prune-preserving 8-bit" if sparse and
                                 config.preserve_sparsity else "default 8-bit",
                                 "kernel_sparsity": round(kernel_sparsity(qat), 4),
                                 "loss_history": {"fine-tuning": per_epoch(history, True)}})


STAGES.register(QAT.name, QAT())
