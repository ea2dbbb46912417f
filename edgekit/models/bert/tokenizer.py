"""Token counting and ``seq_len`` choice for BERT checkpoints, over the device package's
tokenizer.

Loading and encoding (:func:`load_tokenizer`, :func:`encode`) live in
:mod:`edgekit.device.tokenizer`, because the text runner tokenizes on a device with exactly the
code that tokenized the training data here; they are importable from this module too. No
``transformers`` and no TensorFlow import here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tokenizers import Tokenizer

from edgekit.device.tokenizer import TextInput, encode, encode_batch, load_tokenizer, untruncated

__all__ = ["TextInput", "choose_seq_len", "encode", "load_tokenizer", "token_lengths",
           "untruncated"]


def token_lengths(tok: Tokenizer, texts: Sequence[TextInput]) -> np.ndarray:
    """Untruncated token counts (special tokens included), to pick ``seq_len`` from data."""
    return np.asarray([len(e.ids) for e in encode_batch(untruncated(tok), texts)],
                      dtype=np.int64)


def choose_seq_len(lengths: Sequence[int] | np.ndarray, *, percentile: float = 99.0,
                   multiple_of: int = 8, max_len: int = 512) -> int:
    """Smallest multiple of ``multiple_of`` covering ``percentile`` % of ``lengths``.

    Rounding up to a multiple of 8 keeps matmuls aligned for NPUs/SIMD; capping at
    ``max_len`` respects the position-embedding table.
    """
    lengths = np.asarray(lengths)
    if lengths.size == 0:
        raise ValueError("choose_seq_len: no texts to measure; pass a non-empty sample")
    target = int(np.ceil(np.percentile(lengths, percentile)))
    rounded = -(-target // multiple_of) * multiple_of
    return int(min(max(rounded, multiple_of), max_len))
