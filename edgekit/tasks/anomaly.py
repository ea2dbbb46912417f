"""Anomaly detection by reconstruction: the model reconstructs its input; the per-example
reconstruction error is the anomaly score, judged by AUROC against held-out labels
(1 = the class kept out of training). Training fits the outputs to the inputs themselves."""

from __future__ import annotations

import numpy as np

from edgekit import _tf
from edgekit.data import Split
from edgekit.tasks import TASKS, Task

# Two reconstructions agree when they differ by at most this much per pixel on average
# (pixels are in [0, 1]): far below what separates a good reconstruction from a bad one.
AGREEMENT_MEAN_ATOL = 0.02


def only_input(split: Split) -> np.ndarray:
    (x,) = split.x.values()
    return x


def reconstruction_error(outputs: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """Per-example mean squared error."""
    diff = outputs.reshape(len(outputs), -1) - inputs.reshape(len(inputs), -1)
    return np.mean(diff * diff, axis=1)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (probability a random anomaly scores above a random normal),
    as the Mann-Whitney rank statistic (ties averaged): the same number as scikit-learn's
    ``roc_auc_score`` at a hundredth of its cost, which the bootstrap's 2000 resamples need."""
    value = _rank_auroc(scores, labels)
    if not np.isfinite(value):
        raise ValueError("AUROC needs both normal and anomalous held-out examples")
    return value


def _rank_auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """AUROC, or NaN when a class is missing (a bootstrap resample may draw one class only)."""
    positive = np.asarray(labels).reshape(-1) == 1
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # 1-based ranks, tied scores sharing their average rank
    _, inverse, counts = np.unique(np.asarray(scores).reshape(-1), return_inverse=True,
                                   return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse.reshape(-1)]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def anomaly_auroc(outputs: np.ndarray, split: Split) -> float:
    return auroc(reconstruction_error(outputs, only_input(split)), split.y)


def mean_within(outputs: np.ndarray, reference: np.ndarray) -> float:
    """Share of examples whose mean |output - reference| is within AGREEMENT_MEAN_ATOL."""
    diff = np.abs(outputs - reference).reshape(len(outputs), -1).mean(axis=1)
    return float(np.mean(diff <= AGREEMENT_MEAN_ATOL))


TASKS.register("anomaly", Task(
    name="anomaly",
    metric="anomaly_auroc",
    higher_is_better=True,
    split_score=anomaly_auroc,
    share=True,
    per_example=lambda outputs, split: reconstruction_error(outputs, only_input(split)),
    reduce=_rank_auroc,
    targets=only_input,
    agreement=mean_within,
    keras_loss=lambda: _tf.keras().losses.MeanSquaredError(),
    keras_metrics=lambda: [],
))
