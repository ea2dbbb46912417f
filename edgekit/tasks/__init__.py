"""Tasks: what a model's outputs mean, how they are scored, and how two outputs agree.

One module per task registers a :class:`Task`; datasets name the task they pose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit.registry import Registry


@dataclass(frozen=True)
class Task:
    name: str
    metric: str  # the metric's name as reported, e.g. 'accuracy'
    higher_is_better: bool
    score: Callable[[np.ndarray, np.ndarray], float]  # (outputs, labels) -> metric
    agreement: Callable[[np.ndarray, np.ndarray], float]  # (outputs, reference outputs) -> share
    keras_loss: Callable[[], Any]
    keras_metrics: Callable[[], list[Any]]

    def drop(self, reference: float, value: float) -> float:
        """How much worse ``value`` is than ``reference`` (positive = worse)."""
        return reference - value if self.higher_is_better else value - reference


TASKS: Registry[Task] = Registry("task", "edgekit.tasks")
