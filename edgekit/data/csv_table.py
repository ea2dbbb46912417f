"""A local CSV table for classification: numeric feature columns and an integer label column.

Features are standardised with the training split's mean and std (stored nowhere else, so the
held-out split never leaks into them).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from pydantic import Field

from edgekit.data import DATASETS, Dataset, DatasetLoader, LoaderConfig, Split, SplitPlan, stratified_split
from edgekit.errors import EdgekitError


class CSVConfig(LoaderConfig):
    path: str = Field(description="CSV file with a header row")
    label_column: str = "label"
    feature_columns: list[str] | None = Field(None, description="default: every other column")
    delimiter: str = ","
    input_name: str = "features"


def _read(path: Path, delimiter: str) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        raise EdgekitError("data file not found", where=path, fix="set data.params.path to an existing CSV")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh, delimiter=delimiter))
    except UnicodeDecodeError:
        raise EdgekitError("not UTF-8 text", where=path, fix="save the CSV as UTF-8") from None
    if len(rows) < 2:
        raise EdgekitError("no data rows", where=path, fix="provide a header row and data rows")
    return rows[0], rows[1:]


class CSVTable(DatasetLoader):
    name = "csv"
    description = "a local CSV file: numeric features, integer class label"
    Config = CSVConfig

    def load(self, config: CSVConfig, plan: SplitPlan) -> Dataset:  # type: ignore[override]
        path = Path(config.path)
        header, rows = _read(path, config.delimiter)
        if config.label_column not in header:
            raise EdgekitError(f"no column '{config.label_column}' (columns: {', '.join(header)})",
                               where=path, fix="set data.params.label_column")
        features = config.feature_columns or [c for c in header if c != config.label_column]
        missing = [c for c in features if c not in header]
        if missing:
            raise EdgekitError(f"no column(s) {', '.join(missing)}", where=path,
                               fix="fix data.params.feature_columns")
        idx = [header.index(c) for c in features]
        li = header.index(config.label_column)
        try:
            x = np.array([[float(r[i]) for i in idx] for r in rows], dtype=np.float32)
            labels = [r[li] for r in rows]
            y = np.array([int(v) for v in labels], dtype=np.int64)
        except (ValueError, IndexError) as exc:
            raise EdgekitError(f"non-numeric or missing value ({exc})", where=path,
                               fix="features must be numbers and labels integers 0..K-1") from None
        if y.min() < 0:
            raise EdgekitError("negative class label", where=path, fix="use labels 0..K-1")
        parts = stratified_split({config.input_name: x}, y, plan)
        train, val, test = parts
        mean, std = train.x[config.input_name].mean(0), train.x[config.input_name].std(0) + 1e-6

        def norm(s: Split) -> Split:
            return Split({config.input_name: (s.x[config.input_name] - mean) / std}, s.y)

        return Dataset(name=f"csv:{path.name}", task="classification", train=norm(train),
                       val=norm(val), test=norm(test), num_classes=int(y.max()) + 1,
                       source=str(path.resolve()), extra={"split": parts.report.to_json()})


DATASETS.register(CSVTable.name, CSVTable())
