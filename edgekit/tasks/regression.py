"""Regression (forecasting): mean absolute error; two outputs agree when within a tolerance."""

from __future__ import annotations

import numpy as np

from edgekit import _tf
from edgekit.tasks import TASKS, Task

# In the target's units; the series loaders standardize, so this is 0.1 training std-devs.
AGREEMENT_ATOL = 0.1


def mae(outputs: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean(np.abs(outputs.reshape(targets.shape) - targets)))


def within_tolerance(outputs: np.ndarray, reference: np.ndarray) -> float:
    """Share of examples whose every output is within AGREEMENT_ATOL of the reference's."""
    diff = np.abs(outputs - reference).reshape(len(outputs), -1)
    return float(np.mean(np.all(diff <= AGREEMENT_ATOL, axis=1)))


TASKS.register("regression", Task(
    name="regression",
    metric="mae",
    higher_is_better=False,
    score=mae,
    agreement=within_tolerance,
    keras_loss=lambda: _tf.keras().losses.Huber(),
    keras_metrics=lambda: ["mae"],
))
