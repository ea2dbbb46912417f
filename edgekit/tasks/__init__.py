"""Tasks: what a model's outputs mean, how they are scored, and how two outputs agree.

One module per task registers a :class:`Task`; datasets name the task they pose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit.data import Split
from edgekit.registry import Registry


@dataclass(frozen=True)
class Task:
    """Set ``score`` when the metric needs only outputs and labels; set ``split_score`` when it
    needs the inputs too (an autoencoder's metric is computed from its reconstruction error).
    ``targets`` says what training fits the outputs to when that is not the labels."""

    name: str
    metric: str  # the metric's name as reported, e.g. 'accuracy'
    higher_is_better: bool
    agreement: Callable[[np.ndarray, np.ndarray], float]  # (outputs, reference outputs) -> share
    keras_loss: Callable[[], Any]
    keras_metrics: Callable[[], list[Any]]
    score: Callable[[np.ndarray, np.ndarray], float] | None = None  # (outputs, labels) -> metric
    split_score: Callable[[np.ndarray, Split], float] | None = None  # (outputs, split) -> metric
    targets: Callable[[Split], np.ndarray] | None = None  # split -> training targets

    def __post_init__(self) -> None:
        if (self.score is None) == (self.split_score is None):
            raise ValueError(f"task '{self.name}': set exactly one of score / split_score")

    def evaluate(self, outputs: np.ndarray, split: Split) -> float:
        """The task's metric for ``outputs`` computed on ``split``."""
        if self.split_score is not None:
            return self.split_score(outputs, split)
        assert self.score is not None
        return self.score(outputs, split.y)

    def fit_targets(self, split: Split) -> np.ndarray:
        """What the model is trained to output on ``split`` (default: its labels)."""
        return self.targets(split) if self.targets is not None else split.y

    def drop(self, reference: float, value: float) -> float:
        """How much worse ``value`` is than ``reference`` (positive = worse)."""
        return reference - value if self.higher_is_better else value - reference


TASKS: Registry[Task] = Registry("task", "edgekit.tasks")
