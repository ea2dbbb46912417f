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
class Metric:
    """One number a budget can be put on, and how to compute it on any subset of the held-out
    examples (the confidence intervals resample them: :mod:`edgekit.validation.intervals`).

    ``share``: the metric lies in [0, 1] (accuracy, F1, AUROC), so drops read in points.
    ``share_of_examples``: one example moves it by exactly 1/n (accuracy), so
    :mod:`edgekit.resolution` can say whether a split of n examples resolves a budget."""

    name: str
    higher_is_better: bool
    score: Callable[[np.ndarray, np.ndarray], float] | None = None  # (outputs, labels) -> metric
    split_score: Callable[[np.ndarray, Split], float] | None = None  # (outputs, split) -> metric
    share: bool = False
    share_of_examples: bool = False
    classes_needed: int | None = None  # a per-class metric: the data needs this many classes
    # For a metric that is expensive on raw outputs (AUROC of reconstruction errors, a Fréchet
    # distance), what each example contributes, computed once, and the metric from those
    # contributions: resampling then costs one cheap ``reduce`` per resample.
    per_example: Callable[[np.ndarray, Split], np.ndarray] | None = None
    reduce: Callable[[np.ndarray, np.ndarray], float] | None = None  # (contributions, labels)

    def evaluate(self, outputs: np.ndarray, split: Split) -> float:
        if self.split_score is not None:
            return self.split_score(outputs, split)
        assert self.score is not None
        return self.score(outputs, split.y)

    def resampler(self, outputs: np.ndarray, split: Split) -> Callable[[np.ndarray], float]:
        """``idx -> the metric on the examples idx`` (repeats allowed: a bootstrap resample),
        with what can be computed once computed once."""
        labels = np.asarray(split.y)
        if self.per_example is not None and self.reduce is not None:
            contributions, reduce = self.per_example(outputs, split), self.reduce
            return lambda idx: reduce(contributions[idx], labels[idx])
        if self.score is not None:
            score = self.score
            return lambda idx: score(outputs[idx], labels[idx])
        return lambda idx: self.evaluate_at(outputs, split, idx)

    def evaluate_at(self, outputs: np.ndarray, split: Split, idx: np.ndarray) -> float:
        """The metric on the examples ``idx`` (repeats allowed: a bootstrap resample)."""
        if self.split_score is not None:
            return self.split_score(outputs[idx], Split({k: np.asarray(v)[idx]
                                                         for k, v in split.x.items()},
                                                        np.asarray(split.y)[idx]))
        assert self.score is not None
        return self.score(outputs[idx], np.asarray(split.y)[idx])

    def drop(self, reference: float, value: float) -> float:
        """How much worse ``value`` is than ``reference`` (positive = worse)."""
        return reference - value if self.higher_is_better else value - reference


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
    share: bool = False  # the default metric lies in [0, 1] (see Metric)
    share_of_examples: bool = False  # ... and one example moves it by 1/n (see Metric)
    other_metrics: Callable[[str], Metric | None] | None = None  # name -> a metric budgets may name
    metric_help: str = ""  # the names other_metrics knows, for error messages
    per_class: Callable[[np.ndarray, np.ndarray], dict[str, Any]] | None = None  # class report
    interval_resamples: int = 2000  # bootstrap resamples (fewer for an expensive metric)
    per_example: Callable[[np.ndarray, Split], np.ndarray] | None = None  # see Metric
    reduce: Callable[[np.ndarray, np.ndarray], float] | None = None  # see Metric

    def __post_init__(self) -> None:
        if (self.score is None) == (self.split_score is None):
            raise ValueError(f"task '{self.name}': set exactly one of score / split_score")

    def evaluate(self, outputs: np.ndarray, split: Split) -> float:
        """The task's metric for ``outputs`` computed on ``split``."""
        if self.split_score is not None:
            return self.split_score(outputs, split)
        assert self.score is not None
        return self.score(outputs, split.y)

    @property
    def default_metric(self) -> Metric:
        return Metric(self.metric, self.higher_is_better, self.score, self.split_score,
                      self.share, self.share_of_examples, per_example=self.per_example,
                      reduce=self.reduce)

    def metric_named(self, name: str | None) -> Metric | None:
        """The metric a budget names (None or the task's own name: the default); None when the
        task has no metric of that name."""
        if name is None or name == self.metric:
            return self.default_metric
        return self.other_metrics(name) if self.other_metrics is not None else None

    def metric_names(self) -> str:
        """The names :meth:`metric_named` accepts, for an error message's fix."""
        return ", ".join(n for n in (self.metric, self.metric_help) if n)

    def fit_targets(self, split: Split) -> np.ndarray:
        """What the model is trained to output on ``split`` (default: its labels)."""
        return self.targets(split) if self.targets is not None else split.y

    def drop(self, reference: float, value: float) -> float:
        """How much worse ``value`` is than ``reference`` (positive = worse)."""
        return reference - value if self.higher_is_better else value - reference


def top1_agreement(outputs: np.ndarray, reference: np.ndarray) -> float:
    """Share of positions where both outputs' largest logit is the same class (per example
    for a classifier, per token for a language model)."""
    return float(np.mean(np.argmax(outputs, axis=-1) == np.argmax(reference, axis=-1)))


TASKS: Registry[Task] = Registry("task", "edgekit.tasks")
