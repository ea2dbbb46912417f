"""Single-label classification from logits.

Accuracy is the default metric; on imbalanced data it hides the minority class (99% accuracy
with a third of a 1%-class missed), so every proof also reports per-class precision, recall
and F1 and their macro averages, and a recipe can put its budget on any of them
(``budgets.metric: macro_f1``, ``f1[1]``, ``recall[0]``, ...; classes by index).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from edgekit import _tf
from edgekit.tasks import TASKS, Metric, Task, top1_agreement

PER_CLASS = re.compile(r"^(precision|recall|f1)\[(\d+)\]$")
MACRO = ("macro_f1", "macro_precision", "macro_recall")


def _accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(outputs, axis=-1) == labels))


def _counts(outputs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class (over the output's classes): true positives, predicted and actual counts."""
    n_classes = outputs.shape[-1]
    predicted = np.argmax(outputs, axis=-1)
    labels = np.asarray(labels).astype(np.int64).reshape(predicted.shape)
    tp = np.bincount(labels[predicted == labels], minlength=n_classes)[:n_classes]
    return (tp, np.bincount(predicted, minlength=n_classes)[:n_classes],
            np.bincount(labels, minlength=n_classes)[:n_classes])


def _ratios(tp: np.ndarray, predicted: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, ...]:
    """Precision, recall, F1 per class; 0 where undefined (nothing predicted / no examples),
    as scikit-learn's ``zero_division=0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        recall = np.where(actual > 0, tp / np.maximum(actual, 1), 0.0)
        f1 = np.where(predicted + actual > 0, 2 * tp / np.maximum(predicted + actual, 1), 0.0)
    return precision, recall, f1


def _macro(kind: str) -> Any:
    column = {"macro_precision": 0, "macro_recall": 1, "macro_f1": 2}[kind]

    def score(outputs: np.ndarray, labels: np.ndarray) -> float:
        tp, predicted, actual = _counts(outputs, labels)
        present = (predicted + actual) > 0  # classes neither predicted nor present don't count
        return float(np.mean(_ratios(tp, predicted, actual)[column][present]))
    return score


def _one_class(kind: str, k: int) -> Any:
    column = {"precision": 0, "recall": 1, "f1": 2}[kind]

    def score(outputs: np.ndarray, labels: np.ndarray) -> float:
        if k >= outputs.shape[-1]:
            raise ValueError(f"class {k} is not among the model's {outputs.shape[-1]} outputs")
        return float(_ratios(*_counts(outputs, labels))[column][k])
    return score


def other_metric(name: str) -> Metric | None:
    """``macro_f1`` / ``macro_precision`` / ``macro_recall``, or ``f1[K]`` / ``precision[K]`` /
    ``recall[K]`` for class index K."""
    if name in MACRO:
        return Metric(name, True, score=_macro(name), share=True)
    match = PER_CLASS.match(name)
    if match:
        return Metric(name, True, score=_one_class(match[1], int(match[2])), share=True,
                      classes_needed=int(match[2]) + 1)
    return None


def class_report(outputs: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Per-class precision, recall, F1 and support, and their macro averages."""
    tp, predicted, actual = _counts(outputs, labels)
    precision, recall, f1 = _ratios(tp, predicted, actual)
    present = (predicted + actual) > 0
    return {"classes": [{"class": k, "support": int(actual[k]), "predicted": int(predicted[k]),
                         "precision": float(precision[k]), "recall": float(recall[k]),
                         "f1": float(f1[k])} for k in range(len(tp)) if present[k]],
            "macro_precision": float(np.mean(precision[present])),
            "macro_recall": float(np.mean(recall[present])),
            "macro_f1": float(np.mean(f1[present]))}


TASKS.register("classification", Task(
    name="classification",
    metric="accuracy",
    higher_is_better=True,
    score=_accuracy,
    agreement=top1_agreement,
    keras_loss=lambda: _tf.keras().losses.SparseCategoricalCrossentropy(from_logits=True),
    keras_metrics=lambda: ["accuracy"],
    share=True,
    share_of_examples=True,
    other_metrics=other_metric,
    metric_help="macro_f1, macro_precision, macro_recall, f1[K], precision[K], recall[K] "
                "(K: class index)",
    per_class=class_report,
))
