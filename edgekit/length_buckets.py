"""Batches of texts of similar length, each padded only to its own longest text.

Tokenized text is stored padded to one fixed length (what every export runs), but most texts
are far shorter: SST-2's training sentences have a median of about 10 tokens. Training on the
fixed length spends most of its compute on padding; training on batches cut to their longest
example spends it on tokens. Grouping examples of similar length makes that cut deep.

One epoch's plan (:func:`epoch_batches`): examples in a random order, then stably sorted into
buckets of :data:`BUCKET_WIDTH` tokens (random within a bucket), cut into
``ceil(n / batch_size)`` batches of near-equal size (so the steps per epoch are a
fixed-length run's and no batch is a straggler of one or two examples, which a multi-replica
step would split into empty halves), and the batches shuffled. Every example is visited exactly
once per epoch; the plans follow from the seed alone. Buckets 8 tokens wide, rather than exact
lengths, keep the batches' make-up random from epoch to epoch at a cost of at most 7 padded
tokens per example.

The true length of an example is read from its ``attention_mask`` (right-padded, as the
tokenizer pads); data without one has no length to bucket by. NumPy only.
"""

from __future__ import annotations

import numpy as np

from edgekit.data import Inputs

#: Token lengths that share a bucket: 1-8, 9-16, ...
BUCKET_WIDTH = 8


def true_lengths(x: Inputs) -> np.ndarray | None:
    """Real tokens per example (at least 1), or None for inputs with no ``attention_mask``."""
    mask = x.get("attention_mask")
    if mask is None or mask.ndim != 2:
        return None
    return np.maximum(np.asarray(mask).sum(axis=1), 1).astype(np.int64)


def epoch_batches(lengths: np.ndarray, batch_size: int,
                  rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch's batches (example indices), bucketed by length and shuffled; see above."""
    n = len(lengths)
    count = max(1, -(-n // batch_size))
    order = rng.permutation(n)
    order = order[np.argsort((lengths[order] - 1) // BUCKET_WIDTH, kind="stable")]
    batches = np.array_split(order, count)
    return [batches[i] for i in rng.permutation(count)]


def batch_width(lengths: np.ndarray, batch: np.ndarray) -> int:
    """The padded length of ``batch``: its longest example's."""
    return int(lengths[batch].max())


def cut(x: Inputs, batch: np.ndarray, width: int) -> Inputs:
    """The inputs of ``batch``, each per-token array cut to ``width`` tokens (right padding
    only is dropped: every example of the batch has at most ``width`` real tokens)."""
    return {k: v[batch, :width] if v.ndim >= 2 else v[batch] for k, v in x.items()}


def padding_facts(lengths: np.ndarray, batch_size: int, width: int, seed: int) -> dict[str, int]:
    """Tokens of one epoch: real ones, and what a model computes on padded to the buckets'
    widths (the first epoch of ``seed``) or to the fixed ``width``; for a stage's facts."""
    batches = epoch_batches(lengths, batch_size, np.random.default_rng(seed))
    return {"real": int(lengths.sum()),
            "padded_to_buckets": int(sum(len(b) * batch_width(lengths, b) for b in batches)),
            "padded_to_fixed_length": int(len(lengths) * width)}
