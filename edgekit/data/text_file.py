"""Text classification from local files: CSV, TSV or JSON Lines, and GLUE-style folders.

``path`` is one file (split into train/val/test by the recipe's fractions) or a folder holding
``train.*`` and ``dev.*``/``test.*`` (GLUE's SST-2 layout: the labelled dev split becomes the
held-out test split, validation is carved from train). Labels may be integers or strings;
strings are mapped in sorted order and the mapping is reported.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from pydantic import Field

from edgekit.data import DATASETS, Dataset, DatasetLoader, SplitPlan
from edgekit.data.text import TextConfig, build_text_dataset
from edgekit.errors import EdgekitError

SUFFIXES = (".tsv", ".csv", ".jsonl")
#: Unlabelled text may also be plain lines.
TEXT_SUFFIXES = (".txt", *SUFFIXES)


class TextFileConfig(TextConfig):
    path: str = Field(description="a .csv/.tsv/.jsonl file, or a folder with train.* and dev.*")
    text_column: str = "sentence"
    label_column: str = "label"


def read_records(path: Path, *, what: str = "data.params.path") -> list[dict]:
    """The rows of a .csv/.tsv/.jsonl file as dicts (``.txt``: one ``{"text": line}`` per line).

    ``what`` names the recipe field that points at the file, for the error's fix."""
    if not path.is_file():
        noun = "data file" if what.startswith("data.") else "file"
        raise EdgekitError(f"{noun} not found", where=path, fix=f"set {what}")
    try:
        if path.suffix == ".txt":
            rows = [{"text": line} for line in path.read_text(encoding="utf-8").splitlines()
                    if line.strip()]
        elif path.suffix == ".jsonl":
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                    if line.strip()]
        else:
            # GLUE TSVs are unquoted: a quote character is part of the sentence.
            quoting = csv.QUOTE_NONE if path.suffix == ".tsv" else csv.QUOTE_MINIMAL
            with open(path, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh, delimiter="\t" if path.suffix == ".tsv" else ",",
                                           quoting=quoting))
    except UnicodeDecodeError:
        raise EdgekitError("not UTF-8 text", where=path, fix="re-save the file as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise EdgekitError(f"invalid JSON on a line ({exc.msg})", where=path,
                           fix="one JSON object per line") from None
    if not rows:
        raise EdgekitError("no rows", where=path, fix="the file is empty; provide data")
    return rows


def _require_columns(rows: list[dict], path: Path, columns: tuple[str, ...], fix: str) -> None:
    for col in columns:
        if col not in rows[0]:
            raise EdgekitError(f"no column '{col}' (columns: {', '.join(map(str, rows[0]))})",
                               where=path, fix=fix)


def read_rows(path: Path, text_col: str, label_col: str) -> tuple[list[str], list[str]]:
    if path.suffix not in SUFFIXES:
        raise EdgekitError(f"unsupported file type '{path.suffix}'", where=path,
                           fix=f"use one of {', '.join(SUFFIXES)}")
    rows = read_records(path)
    _require_columns(rows, path, (text_col, label_col),
                     fix="set data.params.text_column / label_column")
    return [str(r[text_col]).strip() for r in rows], [str(r[label_col]).strip() for r in rows]


def read_texts(path: Path, column: str, *, what: str) -> list[str]:
    """Unlabelled text: a .txt file (one text per line) or ``column`` of a .csv/.tsv/.jsonl."""
    if path.suffix not in TEXT_SUFFIXES:
        raise EdgekitError(f"unsupported file type '{path.suffix}'", where=path,
                           fix=f"use .txt (one text per line) or one of {', '.join(SUFFIXES)}")
    rows = read_records(path, what=what)
    column = "text" if path.suffix == ".txt" else column
    _require_columns(rows, path, (column,), fix=f"set {what.rsplit('.', 1)[0]}.corpus_column")
    return [str(r[column]).strip() for r in rows if str(r[column]).strip()]


def encode_labels(raw: list[str], names: list[str] | None, where: Path) -> tuple[np.ndarray, list[str]]:
    if names is None:
        names = sorted(set(raw), key=lambda v: (not v.lstrip("-").isdigit(), int(v) if v.lstrip("-").isdigit() else 0, v))
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise EdgekitError(f"labels {unknown[:5]} do not occur in the training split", where=where,
                           fix="make every evaluation label appear in training")
    return np.array([names.index(v) for v in raw], dtype=np.int64), names


def _find(folder: Path, stems: tuple[str, ...]) -> Path | None:
    for stem in stems:
        for suffix in SUFFIXES:
            if (folder / f"{stem}{suffix}").is_file():
                return folder / f"{stem}{suffix}"
    return None


class TextFile(DatasetLoader):
    name = "text_file"
    description = "local CSV/TSV/JSONL text classification (file or GLUE-style folder)"
    Config = TextFileConfig

    def load(self, config: TextFileConfig, plan: SplitPlan) -> Dataset:  # type: ignore[override]
        path = Path(config.path).expanduser()
        if path.is_dir():
            train_file, test_file = _find(path, ("train",)), _find(path, ("dev", "validation", "test"))
            if train_file is None or test_file is None:
                raise EdgekitError("folder needs train.{tsv,csv,jsonl} and dev.* (or test.*)",
                                   where=path, fix="point data.params.path at such a folder")
            texts, raw = read_rows(train_file, config.text_column, config.label_column)
            labels, names = encode_labels(raw, None, train_file)
            t_texts, t_raw = read_rows(test_file, config.text_column, config.label_column)
            t_labels, _ = encode_labels(t_raw, names, test_file)
            return build_text_dataset(name=f"text:{path.name}", source=str(path.resolve()),
                                      config=config, plan=plan, texts=texts, labels=labels,
                                      label_names=names, test_texts=t_texts, test_labels=t_labels)
        if path.suffix not in SUFFIXES:
            raise EdgekitError(f"unsupported file type '{path.suffix}'", where=path,
                               fix=f"use one of {', '.join(SUFFIXES)}")
        texts, raw = read_rows(path, config.text_column, config.label_column)
        labels, names = encode_labels(raw, None, path)
        return build_text_dataset(name=f"text:{path.name}", source=str(path.resolve()),
                                  config=config, plan=plan, texts=texts, labels=labels,
                                  label_names=names)


DATASETS.register(TextFile.name, TextFile())
