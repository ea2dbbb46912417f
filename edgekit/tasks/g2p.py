"""Grapheme to phoneme: the model maps a word's letters and the phonemes so far (teacher
forcing) to next-phoneme logits ``(n, T, V)``; the labels are the phonemes followed by ``</s>``
(id 2), then padding (id 0).

Metric, ``per`` (phoneme error rate, lower is better): the Levenshtein distance between the
predicted and the true phoneme sequence over the true length, summed over held-out words
first, the G2P literature's figure. Here, on one forward, the prediction is the arg-max at each
teacher-forced position up to the first ``</s>``: a per-artifact proof then needs only the
whole-sequence graph. The free-running greedy decode, the figure a device delivers, is the
encoder-decoder family's generation proof (:mod:`edgekit.validation.g2p`), which scores with
the same functions. ``word_accuracy`` (higher is better): the share of words predicted exactly.

Agreement: next-phoneme top-1 agreement with the reference, counted up to and including the
reference's own first ``</s>`` (the padding after it is trivially agreed on and would inflate
the share).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgekit import _tf
from edgekit.tasks import TASKS, Metric, Task

PAD, BOS, EOS = 0, 1, 2


def edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Levenshtein distance (insertions, deletions, substitutions each cost 1)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def until_end(ids: Sequence[int] | np.ndarray) -> list[int]:
    """The phonemes before the first ``</s>`` or padding."""
    out = []
    for i in ids:
        if int(i) in (EOS, PAD):
            break
        out.append(int(i))
    return out


def errors_and_lengths(outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per example ``(edit distance, true length)`` of the teacher-forced arg-max, ``(n, 2)``."""
    predicted = np.argmax(outputs, axis=-1)
    rows = [(edit_distance(until_end(p), ref), len(ref))
            for p, ref in ((p, until_end(t)) for p, t in zip(predicted, labels))]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 2)


def rate(counts: np.ndarray, labels: np.ndarray | None = None) -> float:
    """Summed errors over summed reference lengths."""
    return float(counts[:, 0].sum() / max(1.0, counts[:, 1].sum()))


def phoneme_error_rate(outputs: np.ndarray, labels: np.ndarray) -> float:
    return rate(errors_and_lengths(outputs, labels))


def word_accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(errors_and_lengths(outputs, labels)[:, 0] == 0))


def agreement(outputs: np.ndarray, reference: np.ndarray) -> float:
    """Next-phoneme top-1 agreement over the positions up to the reference's first ``</s>``."""
    ours, theirs = np.argmax(outputs, axis=-1), np.argmax(reference, axis=-1)
    ended = np.cumsum(theirs == EOS, axis=-1) - (theirs == EOS)  # 0 up to the first </s>
    counted = ended == 0
    return float(np.sum((ours == theirs) & counted) / max(1, counted.sum()))


def other_metric(name: str) -> Metric | None:
    if name == "word_accuracy":
        return Metric(name, True, word_accuracy, share=True, share_of_examples=True)
    return None


TASKS.register("g2p", Task(
    name="g2p",
    metric="per",
    higher_is_better=False,
    score=phoneme_error_rate,
    agreement=agreement,
    keras_loss=lambda: _tf.keras().losses.SparseCategoricalCrossentropy(from_logits=True),
    keras_metrics=lambda: [],
    other_metrics=other_metric,
    metric_help="word_accuracy",
    per_example=lambda outputs, split: errors_and_lengths(outputs, split.y),
    reduce=rate,
))


def nearest_reference(predicted: Sequence[int], references: Sequence[Sequence[int]]
                      ) -> tuple[int, int]:
    """``(edit distance, length)`` of the reference nearest to ``predicted``: a word with
    several pronunciations is right when it says any of them (the G2P literature's scoring)."""
    return min(((edit_distance(predicted, ref), len(ref)) for ref in references),
               key=lambda pair: (pair[0], -pair[1]))
