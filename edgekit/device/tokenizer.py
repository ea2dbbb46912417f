"""WordPiece tokenization for BERT checkpoints via the Rust ``tokenizers`` library alone.

No ``transformers`` and no pydantic: ``tokenizer.json`` is the exact pipeline the checkpoint was
trained with; only when it is missing do we rebuild a BERT WordPiece tokenizer from
``vocab.txt``. In the device package because the text runner (:mod:`edgekit.device.text_classify`)
tokenizes on the device with the same code that tokenized the training data on the host
(:mod:`edgekit.models.bert.tokenizer` imports it from here).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np
from tokenizers import Tokenizer

#: A single text, or a (text_a, text_b) pair for sentence-pair tasks (NLI, QQP...).
TextInput = Union[str, tuple[str, str]]


def load_tokenizer(folder: str | Path) -> Tokenizer:
    """Load the checkpoint's tokenizer: ``tokenizer.json``, else WordPiece from ``vocab.txt``.

    Lower-casing for the ``vocab.txt`` fallback follows ``tokenizer_config.json``'s
    ``do_lower_case`` (default True, as for the uncased BERTs most checkpoints derive from).
    """
    folder = Path(folder)
    if (folder / "tokenizer.json").is_file():
        return Tokenizer.from_file(str(folder / "tokenizer.json"))
    vocab = folder / "vocab.txt"
    if not vocab.is_file():
        raise FileNotFoundError(f"no tokenizer.json or vocab.txt in {folder}; pass the "
                                "checkpoint folder that holds the tokenizer files")
    from tokenizers.implementations import BertWordPieceTokenizer

    settings = _tokenizer_config(folder)
    wrapper = BertWordPieceTokenizer(str(vocab), lowercase=settings.get("do_lower_case", True),
                                     strip_accents=settings.get("strip_accents"),
                                     clean_text=True,
                                     handle_chinese_chars=settings.get("tokenize_chinese_chars",
                                                                       True))
    return wrapper._tokenizer  # the plain Tokenizer, so both paths return one type


def _tokenizer_config(folder: Path) -> dict:
    path = folder / "tokenizer_config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _pad_token(tok: Tokenizer) -> tuple[int, str]:
    for token in ("[PAD]", "<pad>"):
        token_id = tok.token_to_id(token)
        if token_id is not None:
            return token_id, token
    return 0, "[PAD]"


def _configured(tok: Tokenizer, seq_len: int | None) -> Tokenizer:
    """A copy with padding/truncation set; the caller's tokenizer is left untouched."""
    copy = Tokenizer.from_str(tok.to_str())
    copy.no_padding()
    copy.no_truncation()
    if seq_len is not None:
        pad_id, pad_token = _pad_token(tok)
        copy.enable_truncation(max_length=seq_len)
        copy.enable_padding(length=seq_len, pad_id=pad_id, pad_token=pad_token)
    return copy


def encode_batch(tok: Tokenizer, texts: Sequence[TextInput]) -> list[Any]:
    """``tok``'s encodings of ``texts`` (single texts or pairs), as the tokenizer is set up."""
    batch = [t if isinstance(t, str) else tuple(t) for t in texts]
    return tok.encode_batch(batch)


def encode(tok: Tokenizer, texts: Sequence[TextInput], seq_len: int) -> dict[str, np.ndarray]:
    """Tokenize to the model's int32 inputs, padded/truncated to exactly ``seq_len``.

    Truncation goes through the tokenizer so ``[SEP]`` survives at the end of a cut text.
    """
    if isinstance(texts, str):
        raise TypeError("encode() takes a list of texts; wrap a single text in a list")
    encodings = encode_batch(_configured(tok, seq_len), texts)
    def stack(attr: str) -> np.ndarray:
        return np.asarray([getattr(e, attr) for e in encodings], dtype=np.int32).reshape(-1, seq_len)
    return {"input_ids": stack("ids"), "attention_mask": stack("attention_mask"),
            "token_type_ids": stack("type_ids")}


def untruncated(tok: Tokenizer) -> Tokenizer:
    """A copy that encodes texts at their full length (no padding, no truncation, whatever the
    tokenizer file sets): to count tokens rather than feed a model."""
    return _configured(tok, None)
