"""Datasets: real, offline data split into train / validation / held-out test.

One module per data source registers a :class:`DatasetLoader`. Held-out test examples are
never trained on; every reported metric is computed on them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar

import numpy as np

from edgekit.plugin_config import PluginConfig
from edgekit.registry import Registry

if TYPE_CHECKING:
    from edgekit.data.duplicates import DuplicateReport

Inputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class Split:
    x: Inputs
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def take(self, n: int | None) -> "Split":
        if n is None or n >= len(self):
            return self
        return Split({k: v[:n] for k, v in self.x.items()}, self.y[:n])

    def example(self, i: int) -> Inputs:
        """The i-th example as a batch of one."""
        return {k: v[i:i + 1] for k, v in self.x.items()}


class DatasetExtra(TypedDict, total=False):
    """What a loader knows about its data beyond the splits, key by key: each loader fills the
    keys of its kind, every key is optional. A ``TypedDict`` so that type checkers check each
    key and its type, while the facts stay the plain mapping the report and the bundle copy.
    """

    # every loader that splits: what the split found about duplicates (DuplicateReport.to_json)
    split: dict[str, Any]
    # classification: the name of each class id
    label_names: list[str]  # text loaders (the data's own label names)
    class_names: list[str]  # image, graph and word-id loaders
    # text for a BERT tokenizer (:mod:`edgekit.data.text`)
    seq_len: int  # tokens per example, padded or truncated to it (also word-id loaders)
    seq_len_rule: str  # how seq_len was chosen
    tokenizer_dir: str  # the tokenizer's files, copied into the bundle
    truncated_train_share: float  # share of training texts longer than seq_len
    test_texts: list[str]  # the held-out texts, raw, for a device runner's own tokenisation
    # word ids (:mod:`edgekit.data.rotten_tomatoes_words`); also the language-model loader
    vocab_size: int
    # next-token language modelling (:mod:`edgekit.data.rotten_tomatoes_lm`)
    lm_vocab: list[str]  # the WordPiece pieces by id, for the generation proof's decoder
    sep_id: int  # the token that separates snippets (and ends a generation)
    grapheme_vocab: list[str]  # grapheme-to-phoneme: the letters by id (0 = pad)
    phoneme_vocab: list[str]  # ... and the phonemes by id (0 pad, 1 start, 2 end)
    tokenizer_json: str  # the tokenizer, serialised, copied into the bundle
    # images (:mod:`edgekit.data._images`)
    image_shape: list[int]  # of a generated image (task generation)
    anomaly_class: int  # the class held out as the anomaly (task anomaly)
    # tables
    feature_names: list[str]
    # graphs
    normalization: str  # how the adjacency input was normalised
    # series: the standardisation the targets were given
    mean: float
    std: float


@dataclass(frozen=True)
class Dataset:
    name: str
    task: str
    train: Split
    val: Split
    test: Split
    num_classes: int | None
    source: str  # provenance: where the data came from
    extra: DatasetExtra = field(default_factory=DatasetExtra)  # facts by kind: see DatasetExtra

    @property
    def input_names(self) -> list[str]:
        return list(self.test.x)

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape[1:]) for k, v in self.test.x.items()}

    def input_dtypes(self) -> dict[str, np.dtype]:
        return {k: v.dtype for k, v in self.test.x.items()}


class LoaderConfig(PluginConfig):
    """A loader's ``data.params``: each loader subclasses it with its own fields."""


C = TypeVar("C", bound=LoaderConfig)


@dataclass(frozen=True)
class SplitPlan:
    test_fraction: float
    val_fraction: float
    seed: int
    #: keep exact duplicates in one split (``data.dedup``); see :mod:`edgekit.data.duplicates`
    dedup: bool = True


class Splits(tuple):  # type: ignore[type-arg]
    """``(train, val, test)``, unpacked as a tuple, with what the split found about duplicates
    (``report``, a :class:`~edgekit.data.duplicates.DuplicateReport`) for the loader to put in
    ``Dataset.extra["split"]``."""

    report: "DuplicateReport"

    def __new__(cls, train: Split, val: Split, test: Split, report: "DuplicateReport") -> "Splits":
        obj = super().__new__(cls, (train, val, test))
        obj.report = report
        return obj


class DatasetLoader(ABC, Generic[C]):
    """Loads one data source; generic over its config class, as model builders are
    (``class CSVTable(DatasetLoader[CSVConfig])`` with ``Config = CSVConfig``)."""

    name: str  # plain attributes, so one class may serve several sources (_tabular, _series)
    description: str
    Config: type[C]  # the class ``data.params`` is validated into (ClassVar cannot be generic)

    @abstractmethod
    def load(self, config: C, plan: SplitPlan) -> Dataset: ...


DATASETS: Registry[DatasetLoader[Any]] = Registry("dataset", "edgekit.data")


def _class_counts(y: np.ndarray) -> str:
    labels, counts = np.unique(y, return_counts=True)
    return ", ".join(f"class {int(k)}: {int(c)}" for k, c in zip(labels, counts))


def check_classes(data: Dataset) -> None:
    """Refuse a labelled data set a classifier cannot learn or be judged on: fewer than two
    classes in train (it would score 1.0 by predicting the one label), or a held-out split
    without some class the model predicts (its metric and agreement could not show that class
    is broken). Named with the data's source and the class counts."""
    from edgekit.errors import EdgekitError

    if data.task != "classification":
        return
    y_train, y_test = np.asarray(data.train.y), np.asarray(data.test.y)
    if y_train.ndim != 1 or not np.issubdtype(y_train.dtype, np.integer):
        return
    where = f"{data.source} (data)"
    present = np.unique(y_train)
    if len(present) < 2:
        raise EdgekitError(f"the train split has {len(present)} class ({_class_counts(y_train)}"
                           "); a classifier needs examples of at least two classes", where=where,
                           fix="use a data set with examples of every class")
    predicts = max(int(data.num_classes or 0), int(present.max()) + 1)
    missing = sorted(set(range(predicts)) - set(int(k) for k in np.unique(y_test)))
    if missing:
        raise EdgekitError(f"the held-out split has no example of class "
                           f"{', '.join(map(str, missing))} of the {predicts} the model predicts "
                           f"(held-out: {_class_counts(y_test) or 'empty'}; train: "
                           f"{_class_counts(y_train)})", where=where,
                           fix="add examples of every class, or raise data.test_fraction")


def _members(groups: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Indices of every example in the ``chosen`` groups, ordered as ``chosen``."""
    rank = np.full(int(groups.max()) + 1 if len(groups) else 0, -1)
    rank[chosen] = np.arange(len(chosen))
    ix = np.flatnonzero(rank[groups] >= 0)
    return ix[np.argsort(rank[groups[ix]], kind="stable")]


def stratified_split(x: Inputs, y: np.ndarray, plan: SplitPlan,
                     keys: Sequence[object] | None = None) -> Splits:
    """Train / val / test split, stratified on ``y`` and fixed by the seed.

    With ``plan.dedup`` (the default) exact duplicates go to one split together: examples are
    grouped by ``keys`` (e.g. normalised texts) or, without keys, by the bytes of their inputs,
    and whole groups are split, stratified on each group's first label. The returned
    :class:`Splits` carries what was found (duplicates, conflicting labels, held-out examples
    also in training)."""
    from sklearn.model_selection import train_test_split

    from edgekit.data import duplicates
    from edgekit.errors import EdgekitError

    groups = duplicates.key_groups(keys) if keys is not None else duplicates.row_groups(x)
    if plan.dedup:
        # one representative per group, in order of first appearance: without duplicates the
        # split is the same as row by row
        first = np.sort(np.unique(groups, return_index=True)[1])
        units, unit_y = np.arange(len(first)), y[first]
    else:
        units, unit_y = np.arange(len(y)), y
    strat = unit_y if y.ndim == 1 and np.issubdtype(y.dtype, np.integer) else None
    try:
        rest, test = train_test_split(units, test_size=plan.test_fraction, random_state=plan.seed,
                                      stratify=strat)
        val: np.ndarray = np.array([], dtype=int)
        if plan.val_fraction > 0:
            frac = plan.val_fraction / (1 - plan.test_fraction)
            rest, val = train_test_split(rest, test_size=frac, random_state=plan.seed,
                                         stratify=None if strat is None else unit_y[rest])
    except ValueError as exc:  # too few examples (per class) for the fractions asked
        raise EdgekitError(f"cannot split {len(y)} examples into train/val/test: {exc}",
                           where="data", fix="provide more examples per class, or change "
                           "data.test_fraction / data.val_fraction") from None
    if plan.dedup:  # groups -> all their members, keeping the split's (shuffled) order
        rest, val, test = (_members(groups, groups[first[u]]) for u in (rest, val, test))
    if len(rest) == 0 or len(test) == 0:
        raise EdgekitError(f"{len(y)} examples leave an empty {'train' if len(rest) == 0 else 'test'} "
                           "split", where="data", fix="provide more examples")

    def pick(ix: np.ndarray) -> Split:
        return Split({k: v[ix] for k, v in x.items()}, y[ix])

    return Splits(pick(rest), pick(val), pick(test),
                  duplicates.report(groups, y, test, dedup=plan.dedup))
