"""Datasets: real, offline data split into train / validation / held-out test.

One module per data source registers a :class:`DatasetLoader`. Held-out test examples are
never trained on; every reported metric is computed on them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from edgekit.registry import Registry

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


@dataclass(frozen=True)
class Dataset:
    name: str
    task: str
    train: Split
    val: Split
    test: Split
    num_classes: int | None
    source: str  # provenance: where the data came from
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def input_names(self) -> list[str]:
        return list(self.test.x)

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape[1:]) for k, v in self.test.x.items()}

    def input_dtypes(self) -> dict[str, np.dtype]:
        return {k: v.dtype for k, v in self.test.x.items()}


class LoaderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class SplitPlan:
    test_fraction: float
    val_fraction: float
    seed: int


class DatasetLoader(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[type[LoaderConfig]] = LoaderConfig

    @abstractmethod
    def load(self, config: LoaderConfig, plan: SplitPlan) -> Dataset: ...


DATASETS: Registry[DatasetLoader] = Registry("dataset", "edgekit.data")


def stratified_split(x: Inputs, y: np.ndarray, plan: SplitPlan) -> tuple[Split, Split, Split]:
    """Train / val / test split, stratified on ``y`` and fixed by the seed."""
    from sklearn.model_selection import train_test_split

    from edgekit.errors import EdgekitError

    idx = np.arange(len(y))
    strat = y if y.ndim == 1 and np.issubdtype(y.dtype, np.integer) else None
    try:
        rest, test = train_test_split(idx, test_size=plan.test_fraction, random_state=plan.seed,
                                      stratify=strat)
        val: np.ndarray = np.array([], dtype=int)
        if plan.val_fraction > 0:
            frac = plan.val_fraction / (1 - plan.test_fraction)
            rest, val = train_test_split(rest, test_size=frac, random_state=plan.seed,
                                         stratify=None if strat is None else y[rest])
    except ValueError as exc:  # too few examples (per class) for the fractions asked
        raise EdgekitError(f"cannot split {len(y)} examples into train/val/test: {exc}",
                           where="data", fix="provide more examples per class, or change "
                           "data.test_fraction / data.val_fraction") from None
    if len(rest) == 0 or len(test) == 0:
        raise EdgekitError(f"{len(y)} examples leave an empty {'train' if len(rest) == 0 else 'test'} "
                           "split", where="data", fix="provide more examples")

    def pick(ix: np.ndarray) -> Split:
        return Split({k: v[ix] for k, v in x.items()}, y[ix])

    return pick(rest), pick(val), pick(test)
