"""Compiling and fitting tf-keras models the way every recipe and stage does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit import _tf
from edgekit.data import Dataset, Split
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


def fit(model: Any, ctx: TrainContext, epochs: int, callbacks: list[Any] | None = None) -> Any:
    val = ctx.data.val if len(ctx.data.val) else None
    task = ctx.task
    return model.fit(ctx.data.train.x, task.fit_targets(ctx.data.train),
                     batch_size=ctx.train.batch_size, epochs=epochs, verbose=0, shuffle=True,
                     callbacks=callbacks or [],
                     validation_data=(val.x, task.fit_targets(val)) if val is not None else None)


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
