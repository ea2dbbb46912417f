"""Compiling and fitting tf-keras models the way every recipe and stage does."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit import _tf
from edgekit.data import Dataset, Inputs, Split
from edgekit.length_buckets import batch_width, cut, epoch_batches, true_lengths
from edgekit.recipe.schema import TrainSection
from edgekit.tasks import TASKS, Task


@dataclass
class TrainContext:
    """What a stage needs to (re)train a model: data, schedule, task and the strategy."""

    data: Dataset
    train: TrainSection
    strategy: Any

    @property
    def task(self) -> Task:
        return TASKS.get(self.data.task)

    def steps_per_epoch(self) -> int:
        return max(1, int(np.ceil(len(self.data.train) / self.train.batch_size)))

    def token_lengths(self, *models: Any) -> np.ndarray | None:
        """The training texts' true lengths when ``models`` train on length buckets
        (:mod:`edgekit.length_buckets`): the recipe asks for it (``train.bucketing``), the data
        has an attention mask, and every model's graph runs at any length; else None."""
        from edgekit.models.bert.lengths import accepts_any_length

        if not self.train.bucketing or not all(accepts_any_length(m) for m in models):
            return None
        return true_lengths(self.data.train.x)


def make_optimizer(name: str, learning_rate: float) -> Any:
    keras = _tf.keras()
    factories = {
        "adam": lambda: keras.optimizers.Adam(learning_rate),
        "adamw": lambda: keras.optimizers.experimental.AdamW(learning_rate),
        "sgd": lambda: keras.optimizers.SGD(learning_rate, momentum=0.9),
    }
    return factories[name]()


def compile_model(model: Any, ctx: TrainContext, learning_rate: float | None = None) -> None:
    """Compile inside the strategy scope (callers hold the scope)."""
    model.compile(optimizer=make_optimizer(ctx.train.optimizer,
                                           learning_rate or ctx.train.learning_rate),
                  loss=ctx.task.keras_loss(), metrics=ctx.task.keras_metrics())


def lr_schedule(train: TrainSection) -> list[Any]:
    """The callbacks that carry out ``train.lr_schedule`` over the reference's ``train.epochs``.

    Cosine sets epoch e's rate to ``learning_rate · ½(1 + cos(π·e/epochs))``: full at the first
    epoch, near 0 at the last, so the final epochs settle instead of bouncing at the starting
    rate (mobilenet on Fashion-MNIST: +0.5 points for the same 12 epochs, recipes/mobilenet.yaml).
    Per epoch, not per step: the same schedule whatever the batch count or replicas."""
    if train.lr_schedule == "constant":
        return []
    import math

    keras = _tf.keras()
    base, epochs = train.learning_rate, train.epochs
    return [keras.callbacks.LearningRateScheduler(
        lambda epoch, _lr: base * 0.5 * (1 + math.cos(math.pi * epoch / epochs)))]


def fit(model: Any, ctx: TrainContext, epochs: int, callbacks: list[Any] | None = None) -> Any:
    """Keras' ``fit`` on the training split: arrays shuffled by Keras, or, with
    :meth:`TrainContext.token_lengths`, a stream of length-bucketed batches (same steps per
    epoch). Validation runs on the fixed-length arrays either way."""
    val = ctx.data.val if len(ctx.data.val) else None
    task = ctx.task
    lengths = ctx.token_lengths(model)
    validation = (val.x, task.fit_targets(val)) if val is not None else None
    if lengths is None:
        return model.fit(ctx.data.train.x, task.fit_targets(ctx.data.train),
                         batch_size=ctx.train.batch_size, epochs=epochs, verbose=0, shuffle=True,
                         callbacks=callbacks or [], validation_data=validation)
    from edgekit.models.bert.lengths import any_length

    batches = bucketed_stream(ctx.data.train.x, task.fit_targets(ctx.data.train), lengths,
                              ctx.train.batch_size, ctx.train.seed)
    return any_length(model).fit(batches, steps_per_epoch=ctx.steps_per_epoch(), epochs=epochs,
                                 verbose=0, callbacks=callbacks or [], validation_data=validation)


def bucketed_stream(x: Inputs, y: np.ndarray, lengths: np.ndarray, batch_size: int,
                    seed: int) -> Any:
    """A repeating tf.data stream of (inputs, targets) in length buckets, each batch cut to its
    longest example; epoch after epoch of :func:`~edgekit.length_buckets.epoch_batches`, drawn
    from ``seed`` (every worker of a multi-worker run draws the same batches, which
    TensorFlow splits across the replicas as it splits in-memory arrays)."""
    tf = _tf.tf()
    rng = np.random.default_rng(seed)

    def batches() -> Iterator[tuple[Inputs, np.ndarray]]:
        while True:
            for ix in epoch_batches(lengths, batch_size, rng):
                yield cut(x, ix, batch_width(lengths, ix)), y[ix]

    spec = ({k: tf.TensorSpec((None, *[None] * (v.ndim - 1)), tf.as_dtype(v.dtype))
             for k, v in x.items()},
            tf.TensorSpec((None, *y.shape[1:]), tf.as_dtype(y.dtype)))
    return tf.data.Dataset.from_generator(batches, output_signature=spec).prefetch(2)


def per_epoch(history: Any, losses_only: bool = False) -> dict[str, list[float]]:
    """Each value Keras logged, one mean per epoch (4 significant digits): the stage facts'
    ``loss_history``, so report.html can plot how training converged, not just where it ended.
    ``losses_only`` drops metrics such as accuracy, which the proof reports anyway."""
    return {k: [float(f"{v:.4g}") for v in values] for k, values in history.history.items()
            if not losses_only or "loss" in k}


def last_epoch(history: dict[str, list[float]]) -> dict[str, float]:
    """The last epoch's value of each series of :func:`per_epoch`."""
    return {k: values[-1] for k, values in history.items() if values}


def predict(model: Any, split: Split, batch_size: int = 256) -> np.ndarray:
    out = model.predict(split.x, batch_size=batch_size, verbose=0)
    return np.asarray(out[0] if isinstance(out, (list, tuple)) else out)


def count_params(model: Any) -> int:
    return int(model.count_params())
