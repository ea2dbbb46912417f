"""Vocabulary trimming of a BERT: keep only the word-embedding rows of tokens the task uses.

A task-specific model only ever sees its domain's vocabulary, yet the word-embedding table
(30,522 × hidden for the uncased BERTs) is about two thirds of a 3-layer MiniLM student's
parameters. Following Ushio et al. 2023 ("Efficient Multilingual Language Model Compression
through Vocabulary Trimming"), this stage keeps the rows of tokens seen at least ``min_count``
times in the training and validation token ids (optionally only the ``max_tokens`` most
frequent), plus the tokenizer's special tokens, and copies every other weight unchanged.

The model still takes the **original** tokenizer's ids (the bundle ships that tokenizer and
every artifact is proven on the same held-out ids): an int32 table inside the graph maps each
original id to its kept row (:mod:`edgekit.models.bert.vocab`). No retraining is needed: on
kept tokens the function is identical.

The cost: a held-out token never seen in training or validation becomes [UNK]. Labelled data
is scarce and unlabelled text of the same domain is not, so ``corpus`` names a text file whose
tokens count as seen too: with 4,000 labelled SST-2 sentences alone 4.9% of dev tokens became
[UNK]; counting the 67k unlabelled training sentences as well brought that to 2.1%. The facts
report the share of held-out token occurrences that become [UNK] and how many held-out texts
the corpus contains (it must not hold the held-out split, or the proof understates the cost),
and the proof of every artifact on the held-out set measures what it costs in accuracy. The HF
checkpoint of a trimmed model is written with its full vocabulary (dropped rows = copies of
[UNK]'s), a plain BERT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from edgekit.data import Dataset, Split
from edgekit.errors import EdgekitError
from edgekit.stages import STAGES, Stage, StageConfig, StageResult
from edgekit.stages._bert import copy_weights, float_params, rebuild_bert, require_bert
from edgekit.stages._distill import text_fields
from edgekit.training import TrainContext

#: Ids of bert-base-uncased's special tokens, used only when the data carries no tokenizer.
BERT_UNCASED_SPECIALS = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}


class VocabTrimConfig(StageConfig):
    min_count: int = Field(1, ge=1, description="keep tokens seen at least this often in the "
                           "training + validation token ids")
    max_tokens: int | None = Field(None, ge=1, description="keep at most this many tokens "
                                   "(special tokens included), the most frequent; None: no cap")
    corpus: str | None = Field(None, description="unlabelled domain text whose tokens count as "
                               "seen too: .txt (a text per line) or .csv/.tsv/.jsonl; never the "
                               "held-out split")
    corpus_column: str = Field("sentence", description="the text column of a .csv/.tsv/.jsonl corpus")

    @field_validator("corpus")
    @classmethod
    def _corpus_is_a_text_file(cls, value: str | None) -> str | None:
        """Checked when the recipe loads, not after training and distillation have run."""
        from edgekit.data.text_file import TEXT_SUFFIXES

        if value is None:
            return value
        path = Path(value).expanduser()
        if path.suffix not in TEXT_SUFFIXES:
            raise ValueError(f"{value}: use .txt (a text per line) or one of "
                             f"{', '.join(TEXT_SUFFIXES[1:])}")
        if not path.is_file():
            raise ValueError(f"corpus file not found: {value}")
        return value


def special_tokens(data: Dataset) -> tuple[dict[str, int], str]:
    """The tokenizer's special tokens (name -> id) and where they were read from.

    Read from the tokenizer the data was encoded with; bert-base-uncased's ids only for data
    without one (synthetic ids in tests).
    """
    folder = data.extra.get("tokenizer_dir")
    if folder is None:
        return dict(BERT_UNCASED_SPECIALS), "bert-base-uncased defaults (the data has no tokenizer)"
    from edgekit.models.bert.tokenizer import load_tokenizer

    tok = load_tokenizer(folder)
    specials = {t.content: int(i) for i, t in tok.get_added_tokens_decoder().items() if t.special}
    unk = getattr(tok.model, "unk_token", None)
    if unk is not None and tok.token_to_id(unk) is not None:
        specials[unk] = int(tok.token_to_id(unk))
    return specials, f"tokenizer {folder}"


def unk_id_of(specials: dict[str, int]) -> int:
    for name in ("[UNK]", "<unk>"):
        if name in specials:
            return specials[name]
    raise EdgekitError("the tokenizer has no [UNK] token for dropped ids to fall back to",
                       where="compression.vocab_trim", fix="use a WordPiece (BERT) tokenizer")


def token_counts(splits: list[Split], vocab: int) -> np.ndarray:
    """Occurrences of every id over the real (unpadded) positions of ``splits``."""
    counts = np.zeros(vocab, dtype=np.int64)
    for split in splits:
        ids = np.asarray(split.x["input_ids"])
        mask = np.asarray(split.x.get("attention_mask", np.ones_like(ids))).astype(bool)
        counts += np.bincount(ids[mask].ravel(), minlength=vocab)[:vocab]
    return counts


def corpus_counts(path: Path, column: str, tokenizer_dir: str | None, vocab: int,
                  heldout_texts: list[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """Token occurrences in the unlabelled corpus (no truncation), and facts about it.

    The corpus is encoded with the data's own tokenizer, in chunks so that a large file never
    holds more than one chunk's encodings."""
    from edgekit.data.text_file import read_texts
    from edgekit.models.bert.tokenizer import load_tokenizer, untruncated

    where = "compression.vocab_trim.corpus"
    if tokenizer_dir is None:
        raise EdgekitError("a corpus needs the tokenizer the data was encoded with, and this data "
                           "has none", where=where, fix="remove corpus, or use a text data set")
    texts = read_texts(path, column, what=where)
    tok = untruncated(load_tokenizer(tokenizer_dir))
    counts = np.zeros(vocab, dtype=np.int64)
    for start in range(0, len(texts), 4096):
        ids = np.concatenate([np.asarray(e.ids, dtype=np.int64)
                              for e in tok.encode_batch(texts[start:start + 4096])])
        counts += np.bincount(ids[ids < vocab], minlength=vocab)
    corpus = set(texts)
    leaked = sum(t in corpus for t in heldout_texts)
    return counts, {"path": str(path), "texts": len(texts), "tokens": int(counts.sum()),
                    "heldout_texts_in_corpus": leaked,
                    "heldout_texts_checked": len(heldout_texts)}


def kept_ids(counts: np.ndarray, specials: list[int], min_count: int,
             max_tokens: int | None) -> np.ndarray:
    """Sorted ids to keep: specials always, then tokens seen ``min_count`` times, the most
    frequent first (ties: lower id) when ``max_tokens`` caps the total."""
    special = np.unique(np.asarray(specials, dtype=np.int64))
    frequent = np.flatnonzero(counts >= min_count)
    frequent = frequent[~np.isin(frequent, special)]
    if max_tokens is not None:
        order = np.lexsort((frequent, -counts[frequent]))
        frequent = frequent[order][:max(0, max_tokens - len(special))]
    return np.sort(np.concatenate([special, frequent]))


def unk_share(split: Split, kept: np.ndarray, vocab: int) -> float:
    """Share of the real token occurrences in ``split`` whose id is dropped (becomes [UNK])."""
    counts = token_counts([split], vocab)
    total = int(counts.sum())
    dropped = np.ones(vocab, dtype=bool)
    dropped[kept] = False
    return float(counts[dropped].sum() / total) if total else 0.0


class VocabTrim(Stage[VocabTrimConfig]):
    name = "vocab_trim"
    description = "keep only the word embeddings of tokens the task's data uses"
    Config = VocabTrimConfig

    def run(self, model: Any, config: VocabTrimConfig, ctx: TrainContext) -> StageResult:
        from dataclasses import replace

        from edgekit.models.bert import names
        from edgekit.models.bert.introspect import config_of
        from edgekit.models.bert.vocab import full_word_embeddings, id_map

        require_bert(model, self.name, fix="drop vocab_trim: only BERT models have a vocabulary")
        data = ctx.data
        if "input_ids" not in data.train.x:
            raise EdgekitError("vocab_trim needs token ids (input_ids) in the data",
                               where="data.dataset", fix="use a tokenised text data set")
        full = full_word_embeddings(model)  # an already trimmed model is trimmed from its full view
        vocab = len(full)
        specials, source = special_tokens(data)
        outside = sorted(n for n, i in specials.items() if not 0 <= i < vocab)
        if outside:
            raise EdgekitError(f"special tokens {outside} lie outside the model's {vocab} ids",
                               where="data.params.tokenizer",
                               fix="encode the data with the model's own tokenizer")
        if config.max_tokens is not None and config.max_tokens < len(set(specials.values())):
            raise EdgekitError(f"max_tokens={config.max_tokens} is below the "
                               f"{len(set(specials.values()))} special tokens, which are always kept",
                               where="compression.vocab_trim.max_tokens",
                               fix=f"set it to at least {len(set(specials.values()))}, or remove it")
        counts = token_counts([data.train, data.val], vocab)
        corpus_facts: dict[str, Any] | None = None
        if config.corpus is not None:
            extra, corpus_facts = corpus_counts(Path(config.corpus).expanduser(),
                                                config.corpus_column, data.extra.get("tokenizer_dir"),
                                                vocab, list(data.extra.get("test_texts", [])))
            counts += extra
        kept = kept_ids(counts, list(specials.values()), config.min_count, config.max_tokens)
        table = id_map(kept, vocab, unk_id_of(specials))
        cfg = config_of(model, **text_fields(ctx))
        with ctx.strategy.scope():
            trimmed = rebuild_bert(model, replace(cfg, vocab_size=len(kept)),
                                   name=f"{model.name}_vocab{len(kept)}", vocab_map=table)
            copy_weights(model, trimmed, skip={names.EMB_WORD, names.EMB_VOCAB_MAP})
            trimmed.get_layer(names.EMB_WORD).set_weights([full[kept]])
        return StageResult(trimmed, {
            "vocab": {"before": int(cfg.vocab_size), "after": int(len(kept)),
                      "source_vocab": vocab},
            "parameters": {"before": float_params(model), "after": float_params(trimmed)},
            "id_table": f"int32[{vocab}] original id -> kept row (not quantized)",
            "special_tokens": {"ids": specials, "from": source},
            "counted": "training + validation token ids" + (" + the corpus" if corpus_facts else ""),
            **({"corpus": corpus_facts} if corpus_facts else {}),
            "unk_fallback": {
                "validation": unk_share(data.val, kept, vocab),
                "heldout": unk_share(data.test, kept, vocab),
                "note": "share of real token occurrences whose id was dropped and now reads as "
                        "[UNK]; validation ids took part in the choice (0 at min_count 1), the "
                        "held-out ones did not (see corpus.heldout_texts_in_corpus), and the "
                        "artifacts' proofs measure the cost"}})


STAGES.register(VocabTrim.name, VocabTrim())
