"""Exact duplicates, found before splitting so that they never straddle train and held-out.

A held-out example that also sits in the training split is a question the model has seen the
answer to: it makes the held-out figure optimistic (a user file of short texts had 123 of its
1,115 held-out texts word for word in training). So the split code groups examples by a key
(text after whitespace/case normalisation, or the bytes of a table row or an image), splits
*groups*, and reports how many duplicates, and how many groups with conflicting labels, it
found.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

Inputs = dict[str, np.ndarray]


def normalise_text(text: str) -> str:
    """The key two texts share when they differ only in whitespace or letter case."""
    return " ".join(str(text).split()).casefold()


def row_groups(x: Inputs) -> np.ndarray:
    """Group id per example: examples whose every input holds the same bytes share one."""
    arrays = [np.ascontiguousarray(v) for v in x.values()]
    n = len(arrays[0])
    digests = []
    for i in range(n):  # a 16-byte digest per example: no copy of the data set in memory
        h = hashlib.blake2b(digest_size=16)
        for v in arrays:
            h.update(v[i].tobytes())
        digests.append(h.digest())
    _, inverse = np.unique(np.array(digests, dtype="S16"), return_inverse=True)
    return inverse.ravel().astype(np.int64)


def key_groups(keys: Sequence[object]) -> np.ndarray:
    """Group id per example from explicit keys (e.g. normalised texts)."""
    _, inverse = np.unique(np.asarray([str(k) for k in keys], dtype=object).astype(str),
                           return_inverse=True)
    return inverse.ravel().astype(np.int64)


@dataclass(frozen=True)
class DuplicateReport:
    """What the split found and did; ``to_json`` goes into report.json."""

    dedup: bool  # duplicates kept in one split (False: split row by row, as asked)
    examples: int
    unique: int
    conflicting_groups: int  # groups of duplicates whose labels disagree
    conflicting_examples: int
    heldout_seen_in_training: int  # held-out examples whose key is also in train or val

    @property
    def duplicates(self) -> int:
        """Examples that repeat an earlier one."""
        return self.examples - self.unique

    def to_json(self) -> dict[str, object]:
        return asdict(self) | {"duplicates": self.duplicates}


def conflicts(groups: np.ndarray, y: np.ndarray) -> tuple[int, int]:
    """(groups, examples) where the same key carries more than one label."""
    if y.ndim != 1 or len(y) == 0 or not np.issubdtype(y.dtype, np.integer):
        return 0, 0  # labels only: regression targets and generated images have no classes
    pairs = np.unique(np.stack([groups, y.astype(np.int64)], axis=1), axis=0)
    ids, labels_per_group = np.unique(pairs[:, 0], return_counts=True)
    bad = ids[labels_per_group > 1]
    return int(len(bad)), int(np.isin(groups, bad).sum())


def report(groups: np.ndarray, y: np.ndarray, heldout: np.ndarray, *, dedup: bool) -> DuplicateReport:
    """Describe the grouping and the split made of it (``heldout``: held-out example indices)."""
    in_test = np.zeros(len(groups), dtype=bool)
    in_test[heldout] = True
    seen = np.isin(groups[in_test], groups[~in_test])
    n_conf, n_conf_rows = conflicts(groups, np.asarray(y))
    return DuplicateReport(dedup=dedup, examples=len(groups), unique=int(len(np.unique(groups))),
                           conflicting_groups=n_conf, conflicting_examples=n_conf_rows,
                           heldout_seen_in_training=int(seen.sum()))
