"""Quantization-aware training (TFMOT). On an already pruned model it uses TFMOT's
prune-preserving scheme, so fine-tuning does not refill the zeros pruning made.

Activation ranges are calibrated before fine-tuning. TFMOT starts every activation range at
[-6, 6] and moves it by an exponential moving average with decay 0.999 per training step, so it
needs thousands of steps to reach the data's range; a short QAT schedule (LeNet-5's: 2 epochs,
80 steps) left ReLU outputs in 0..4 quantized over [-5.5, 5.8], nearly half the 256 levels spent
on values that never occur, and the QAT artifact lost a point more than post-training int8,
whose ranges are calibrated from data. Starting each range at the float model's observed range
(the same min(·, 0) / max(·, 0) rule TFMOT's average follows) makes the schedule's length a
choice about weights only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from edgekit import _tf
from edgekit.data import Split
from edgekit.stages import STAGES, Stage, StageConfig, StageResult
from edgekit.stages._wrap import wrap_kernel_layers
from edgekit.stages.prune import kernel_sparsity
from edgekit.training import TrainContext, compile_model, fit, per_epoch


class QATConfig(StageConfig):
    epochs: int = Field(1, ge=1)
    learning_rate: float | None = Field(None, gt=0, description="default: the recipe's / 10")
    preserve_sparsity: bool = Field(True, description="keep pruned zeros at zero (PQAT)")
    calibration_examples: int = Field(1024, ge=0, description="training examples that set each "
                                      "activation range before fine-tuning; 0: TFMOT's [-6, 6]")


# TFMOT's names for a wrapper's activation-range variables, by what they quantize: the
# wrapped layer's output (after its activation) in both cases.
_OUTPUT_RANGE_VARIABLES = {"post_activation_min": "min", "post_activation_max": "max",
                           "output_min": "min", "output_max": "max"}


def _observed_ranges(model: Any, names: list[str], calibration: Split,
                     batch_size: int = 256) -> dict[str, tuple[float, float]]:
    """(min, max) of each named layer's output over ``calibration``, through ``model``.

    Probed on a clone: a model that came out of another clone (pruning's strip) shares layer
    objects with it, and their ``.output`` may belong to the other graph."""
    keras = _tf.keras()
    source = keras.models.clone_model(model)
    source.set_weights(model.get_weights())
    outputs = {}
    for name in names:
        try:
            outputs[name] = source.get_layer(name).output
        except (AttributeError, ValueError):  # shared layers have no single output
            continue
    if not outputs:
        return {}
    probe = keras.Model(source.inputs, list(outputs.values()))
    lows = {n: np.inf for n in outputs}
    highs = {n: -np.inf for n in outputs}
    for start in range(0, len(calibration), batch_size):
        batch = {k: v[start:start + batch_size] for k, v in calibration.x.items()}
        values = probe(batch, training=False)
        values = values if isinstance(values, (list, tuple)) else [values]
        for name, value in zip(outputs, values):
            v = np.asarray(value)
            lows[name] = min(lows[name], float(v.min()))
            highs[name] = max(highs[name], float(v.max()))
    return {n: (lows[n], highs[n]) for n in outputs}


def calibrate_activation_ranges(qat: Any, float_model: Any, calibration: Split) -> int:
    """Set every wrapper's output range to the float model's observed one; returns how many
    ranges were set. Layers the float model does not have by name keep TFMOT's start."""
    wrappers = {layer: layer.layer.name for layer in qat.layers if hasattr(layer, "layer")}
    ranges = _observed_ranges(float_model, sorted(set(wrappers.values())), calibration)
    count = 0
    for wrapper, inner in wrappers.items():
        if inner not in ranges:
            continue
        low, high = ranges[inner]
        for var in wrapper.weights:
            end = _OUTPUT_RANGE_VARIABLES.get(var.name.split("/")[-1].split(":")[0])
            if end and var.shape.rank == 0:
                var.assign(min(low, 0.0) if end == "min" else max(high, 0.0))
                count += 1
    return count // 2


class QAT(Stage[QATConfig]):
    name = "qat"
    description = "quantization-aware training (int8 fake-quant), sparsity-preserving"
    Config = QATConfig

    def run(self, model: Any, config: QATConfig, ctx: TrainContext) -> StageResult:
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
        calibrated = calibrate_activation_ranges(
            qat, model, ctx.data.train.take(config.calibration_examples)) \
            if config.calibration_examples else 0
        history = fit(qat, ctx, config.epochs)
        return StageResult(qat, {"scheme": "prune-preserving 8-bit" if sparse and
                                 config.preserve_sparsity else "default 8-bit",
                                 "calibrated_activation_ranges": calibrated,
                                 "kernel_sparsity": round(kernel_sparsity(qat), 4),
                                 "loss_history": {"fine-tuning": per_epoch(history, True)}})


STAGES.register(QAT.name, QAT())
