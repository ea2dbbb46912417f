"""A local CSV table for classification: numeric feature columns and an integer label column.

Features are standardised with the training split's mean and std (stored nowhere else, so the
held-out split never leaks into them).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from pydantic import Field

from edgekit.data import DATASETS, Dataset, DatasetLoader, LoaderConfig, Split, SplitPlan, stratified_split
from edgekit.data._tabular import delimiter_of
from edgekit.errors import EdgekitError


class CSVConfig(LoaderConfig):
    path: str = Field(description="a table file (.csv, .tsv, or any delimited text)")
    header: bool = Field(True, description="false: the first line is data; columns by "
                         "position (0 = first)")
    label_column: str | int | None = Field(None, description="name or 0-based position; "
                                           "default 'label' (with a header) or the last column")
    feature_columns: list[str | int] | None = Field(None, description="default: every other column")
    delimiter: str | None = Field(None, description="default: from the suffix (.csv comma, .tsv "
                                  "tab), else sniffed among tab, comma, semicolon, pipe")
    input_name: str = "features"


def _read(path: Path, config: CSVConfig) -> tuple[list[str], list[list[str]]]:
    """(column names, data rows); without a header the names are the positions."""
    if not path.is_file():
        raise EdgekitError("data file not found", where=path, fix="set data.params.path to an existing CSV")
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise EdgekitError("not UTF-8 text", where=path, fix="save the CSV as UTF-8") from None
    sep = config.delimiter or delimiter_of(path, content[:65536])
    rows = [r for r in csv.reader(io.StringIO(content, newline=""), delimiter=sep) if r]
    if not config.header:
        return [str(i) for i in range(max((len(r) for r in rows), default=0))], rows
    if len(rows) < 2:
        raise EdgekitError("no data rows", where=path, fix="provide a header row and data rows")
    return rows[0], rows[1:]


def _index(header: list[str], col: str | int, path: Path, config: CSVConfig) -> int:
    if isinstance(col, int) and 0 <= col < len(header):
        return col
    if isinstance(col, str) and col in header:
        return header.index(col)
    fix = ("set data.params.label_column / feature_columns to one of these names; if the first "
           "line is data, set data.params.header=false and the columns by position"
           if config.header else f"use positions 0..{len(header) - 1}")
    shown = ", ".join(header[:12]) + (" ..." if len(header) > 12 else "")
    raise EdgekitError(f"no column {col!r} (columns: {shown})", where=path, fix=fix)


class CSVTable(DatasetLoader[CSVConfig]):
    name = "csv"
    description = "a local CSV file: numeric features, integer class label"
    Config = CSVConfig

    def load(self, config: CSVConfig, plan: SplitPlan) -> Dataset:
        path = Path(config.path)
        header, rows = _read(path, config)
        label = config.label_column
        if label is None:
            label = "label" if config.header else len(header) - 1
        li = _index(header, label, path, config)
        idx = ([_index(header, c, path, config) for c in config.feature_columns]
               if config.feature_columns else [i for i in range(len(header)) if i != li])
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
