"""Text classification from the Hugging Face ``datasets`` library: a hub id (``glue`` +
``sst2``, ``stanfordnlp/sst2``, ``imdb``) when a network is there, or one of its file builders
(``csv``, ``json``, ``parquet``) over local ``data_files`` when it is not.

``datasets`` is optional (``pip install 'edgekit[hub]'``); nothing imports it until a recipe
names this loader. Label names come from the split's ``ClassLabel`` feature when it has one.
"""

from __future__ import annotations

import csv
from typing import Any

import numpy as np
from pydantic import Field

from edgekit.data import DATASETS, Dataset, DatasetLoader, SplitPlan
from edgekit.data.text import TextConfig, build_text_dataset
from edgekit.errors import EdgekitError


class HfDatasetConfig(TextConfig):
    path: str = Field(description="hub id (glue, stanfordnlp/sst2) or a builder (csv, json)")
    subset: str | None = Field(None, description="configuration name, e.g. sst2 for glue")
    data_files: dict[str, str] | None = Field(None, description="split -> local file, for the "
                                              "csv/json/parquet builders")
    delimiter: str | None = Field(None, description="csv builder: e.g. a tab for TSV")
    train_split: str = "train"
    test_split: str = Field("validation", description="held-out split (GLUE test labels are "
                            "private, so its validation split)")
    text_column: str = "sentence"
    label_column: str = "label"


def _load(config: HfDatasetConfig) -> Any:
    try:
        import datasets
    except ImportError:
        raise EdgekitError("the 'datasets' package is not installed", where="data.dataset",
                           fix="pip install 'edgekit[hub]', or use text_file with a local copy") from None
    kwargs: dict[str, Any] = {}
    if config.data_files:
        kwargs["data_files"] = config.data_files
    if config.delimiter:
        kwargs["delimiter"] = config.delimiter
        if config.delimiter == "\t":
            kwargs["quoting"] = csv.QUOTE_NONE  # TSVs (GLUE's) are unquoted: " is text
    try:
        return datasets.load_dataset(config.path, config.subset, **kwargs)
    except Exception as exc:  # hub unreachable, unknown id, bad files: all user-fixable
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EdgekitError(f"cannot load '{config.path}': {first[:200]}", where="data.params.path",
                           fix="check the id / files, or download once and use text_file") from None


def _column(split: Any, name: str, where: str) -> list[Any]:
    if name not in split.column_names:
        raise EdgekitError(f"no column '{name}' (columns: {', '.join(split.column_names)})",
                           where=where, fix="set data.params.text_column / label_column")
    return list(split[name])


class HfDataset(DatasetLoader[HfDatasetConfig]):
    name = "hf_dataset"
    description = "Hugging Face datasets: hub id (online) or csv/json builders over local files"
    Config = HfDatasetConfig

    def load(self, config: HfDatasetConfig, plan: SplitPlan) -> Dataset:
        loaded = _load(config)
        for split in (config.train_split, config.test_split):
            if split not in loaded:
                raise EdgekitError(f"no split '{split}' (splits: {', '.join(loaded)})",
                                   where="data.params", fix="set train_split / test_split")
        train, test = loaded[config.train_split], loaded[config.test_split]
        feature = train.features.get(config.label_column)
        names = list(getattr(feature, "names", []) or [])
        labels = np.asarray(_column(train, config.label_column, config.train_split))
        test_labels = np.asarray(_column(test, config.label_column, config.test_split))
        if not names:  # plain ints or strings: map them in sorted order
            names = sorted({str(v) for v in labels})
            labels = np.array([names.index(str(v)) for v in labels])
            test_labels = np.array([names.index(str(v)) if str(v) in names else -1
                                    for v in test_labels])
        if (test_labels < 0).any():
            raise EdgekitError(f"the {config.test_split} split has unlabelled rows or labels "
                               "unseen in training (GLUE test labels are private)",
                               where="data.params.test_split", fix="use the validation split")
        return build_text_dataset(
            name=f"hf:{config.path}{'/' + config.subset if config.subset else ''}",
            source=f"datasets.load_dataset({config.path!r}, {config.subset!r})", config=config,
            plan=plan, texts=[str(t) for t in _column(train, config.text_column, config.train_split)],
            labels=labels.astype(np.int64), label_names=[str(n) for n in names],
            test_texts=[str(t) for t in _column(test, config.text_column, config.test_split)],
            test_labels=test_labels.astype(np.int64))


DATASETS.register(HfDataset.name, HfDataset())
