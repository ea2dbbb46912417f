"""Next-token language modelling: the model maps a window of token ids ``(n, T)`` to logits
``(n, T, V)``; the labels are the same windows shifted by one token.

Metric, ``perplexity`` (lower is better): exp of the mean cross-entropy of the true next token
over every held-out position, the standard figure for a language model (a uniform guess over V
tokens scores V). Agreement: next-token top-1 agreement, the share of positions where the
artifact's most likely next token is the reference model's; it is what greedy generation
follows, token by token.
"""

from __future__ import annotations

import numpy as np

from edgekit import _tf
from edgekit.tasks import TASKS, Task, top1_agreement


def token_losses(outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per window, the summed negative log-likelihood of its true next tokens ``(n,)``;
    log-softmax in float64, a window at a time (the logits can be large)."""
    sums = np.empty(len(outputs))
    for i, (logits, target) in enumerate(zip(outputs, labels)):
        z = logits.astype(np.float64)
        z -= z.max(axis=-1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        sums[i] = -np.take_along_axis(log_p, target[:, None].astype(np.int64), -1).sum()
    return sums


def perplexity_of_losses(losses: np.ndarray, labels: np.ndarray) -> float:
    """exp(total loss / total positions) over the resampled windows (all of one length)."""
    return float(np.exp(losses.sum() / max(1, np.asarray(labels).size)))


def perplexity(outputs: np.ndarray, labels: np.ndarray) -> float:
    return perplexity_of_losses(token_losses(outputs, labels), labels)


TASKS.register("language_model", Task(
    name="language_model",
    metric="perplexity",
    higher_is_better=False,
    score=perplexity,
    agreement=top1_agreement,  # per next token
    keras_loss=lambda: _tf.keras().losses.SparseCategoricalCrossentropy(from_logits=True),
    keras_metrics=lambda: [],
    per_example=lambda outputs, split: token_losses(outputs, split.y),
    reduce=perplexity_of_losses,
))
