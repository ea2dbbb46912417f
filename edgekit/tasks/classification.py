"""Single-label classification from logits."""

from __future__ import annotations

import numpy as np

from edgekit import _tf
from edgekit.tasks import TASKS, Task


def _accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(outputs, axis=-1) == labels))


def _top1_agreement(outputs: np.ndarray, reference: np.ndarray) -> float:
    return float(np.mean(np.argmax(outputs, axis=-1) == np.argmax(reference, axis=-1)))


TASKS.register("classification", Task(
    name="classification",
    metric="accuracy",
    higher_is_better=True,
    score=_accuracy,
    agreement=_top1_agreement,
    keras_loss=lambda: _tf.keras().losses.SparseCategoricalCrossentropy(from_logits=True),
    keras_metrics=lambda: ["accuracy"],
))
