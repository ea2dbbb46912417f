"""Shared by the tabular loaders: split first, then standardize with the *training* statistics
only, so nothing about the held-out rows leaks into the model."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.data import Dataset, DatasetLoader, LoaderConfig, Split, SplitPlan, stratified_split
from edgekit.errors import EdgekitError

#: Delimiters tried when the suffix does not say (no suffix, .txt, .data, ...).
SNIFFED_DELIMITERS = "\t|;,"
BY_SUFFIX = {".tsv": "\t", ".csv": ","}


def delimiter_of(path: Path, sample: str, params: str = "data.params") -> str:
    """The delimiter of a table file: from its suffix (.tsv tab, .csv comma), else sniffed
    from ``sample`` (its first lines) among tab, comma, semicolon and pipe."""
    if path.suffix in BY_SUFFIX:
        return BY_SUFFIX[path.suffix]
    lines = [ln for ln in sample.splitlines() if ln.strip()][:50]
    # First the delimiter every line has the same number of, rarest in prose first (a
    # LABEL<TAB>text file's texts have commas, but not on every line the same count).
    for sep in SNIFFED_DELIMITERS:
        counts = {ln.count(sep) for ln in lines}
        if len(counts) == 1 and counts.pop() > 0:
            return sep
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=SNIFFED_DELIMITERS).delimiter
    except csv.Error:
        raise EdgekitError("cannot tell the delimiter (tried tab, comma, semicolon, pipe)",
                           where=path, fix=f"set {params}.delimiter, or name the file "
                           ".tsv/.csv") from None


def standardize(train: Split, *others: Split) -> list[Split]:
    """Each input scaled to zero mean / unit variance of the training split."""
    stats = {k: (v.mean(axis=0), v.std(axis=0) + 1e-6) for k, v in train.x.items()}

    def scale(s: Split) -> Split:
        return Split({k: ((v - stats[k][0]) / stats[k][1]).astype(np.float32)
                      for k, v in s.x.items()}, s.y)

    return [scale(s) for s in (train, *others)]


def sklearn_table(name: str, fetch: Callable[[], Any], input_name: str, plan: SplitPlan,
                  source: str) -> Dataset:
    """A scikit-learn bundled classification table as a standardized Dataset."""
    bunch = fetch()
    x = {input_name: np.asarray(bunch.data, dtype=np.float32)}
    y = np.asarray(bunch.target, dtype=np.int64)
    parts = stratified_split(x, y, plan)
    train, val, test = standardize(*parts)
    return Dataset(name=name, task="classification", train=train, val=val, test=test,
                   num_classes=int(y.max()) + 1, source=source,
                   extra={"feature_names": [str(f) for f in bunch.feature_names],
                          "split": parts.report.to_json()})


class TableConfig(LoaderConfig):
    input_name: str = "features"


class SklearnTable(DatasetLoader[TableConfig]):
    """A table bundled in scikit-learn (``sklearn.datasets.<fetch>``); each table module
    registers one instance."""

    Config = TableConfig

    def __init__(self, name: str, description: str, fetch: str, source: str) -> None:
        self.name, self.description = name, description
        self.fetch, self.source = fetch, source

    def load(self, config: TableConfig, plan: SplitPlan) -> Dataset:
        import sklearn.datasets

        return sklearn_table(self.name, getattr(sklearn.datasets, self.fetch),
                             config.input_name, plan, self.source)
