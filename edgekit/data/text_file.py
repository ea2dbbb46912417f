"""Text classification from local files: CSV, TSV or JSON Lines, and GLUE-style folders.

A file's format comes from its suffix (.tsv, .csv, .jsonl) or, without a telling suffix, from
its content (JSON Lines if it starts with ``{``, else the delimiter is sniffed among tab,
comma, semicolon and pipe). ``header: false`` reads the first line as data, with the label and
text columns named by position (default: label first, text second).

``path`` is one file (split into train/val/test by the recipe's fractions) or a folder holding
``train.*`` and ``dev.*``/``test.*`` (GLUE's SST-2 layout: the labelled dev split becomes the
held-out test split, validation is carved from train). Labels may be integers or strings;
strings are mapped in sorted order and the mapping is reported.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from pydantic import Field

from edgekit.data import DATASETS, Dataset, DatasetLoader, SplitPlan
from edgekit.data._tabular import BY_SUFFIX, delimiter_of
from edgekit.data.text import TextConfig, build_text_dataset
from edgekit.errors import EdgekitError

SUFFIXES = (".tsv", ".csv", ".jsonl")
#: Unlabelled text may also be plain lines.
TEXT_SUFFIXES = (".txt", *SUFFIXES)

Column = str | int


class TextFileConfig(TextConfig):
    path: str = Field(description="a .csv/.tsv/.jsonl file (or one whose delimiter can be "
                      "sniffed), or a folder with train.* and dev.*")
    header: bool = Field(True, description="false: the first line is data; name columns by "
                         "position (0 = first)")
    text_column: Column | None = Field(None, description="name or 0-based position; default "
                                       "'sentence' (with a header) or 1 (without)")
    label_column: Column | None = Field(None, description="name or 0-based position; default "
                                        "'label' (with a header) or 0 (without)")
    delimiter: str | None = Field(None, description="default: from the suffix (.tsv tab, .csv "
                                  "comma), else sniffed among tab, comma, semicolon, pipe")
    validation_from_heldout: float | None = Field(
        None, gt=0, lt=1, description="a folder's dev.* share (e.g. 0.5) that becomes the "
        "validation split instead of a share of train: when train and dev differ in kind "
        "(GLUE SST-2 trains on phrases, its dev holds whole sentences), choices made on "
        "validation (edgekit optimize, fallback thresholds) only carry over to held-out if "
        "validation looks like it")

    def columns(self) -> tuple[Column, Column]:
        """(text, label) columns with the defaults filled in."""
        if self.header:
            return (self.text_column if self.text_column is not None else "sentence",
                    self.label_column if self.label_column is not None else "label")
        return (self.text_column if self.text_column is not None else 1,
                self.label_column if self.label_column is not None else 0)


def _is_jsonl(path: Path, sample: str) -> bool:
    return path.suffix == ".jsonl" or (path.suffix not in BY_SUFFIX
                                       and sample.lstrip().startswith("{"))


def read_records(path: Path, *, what: str = "data.params.path", header: bool = True,
                 delimiter: str | None = None, plain_lines: bool = False) -> list[dict]:
    """The rows of a delimited or JSON Lines file as dicts: keyed by the header's names, or by
    position (0, 1, ...) when ``header`` is false. The format comes from the suffix (.tsv,
    .csv, .jsonl), else from the content: JSON Lines if it starts with ``{``, else the
    delimiter is sniffed. ``plain_lines`` (unlabelled .txt): one ``{"text": line}`` per line.

    ``what`` names the recipe field that points at the file, for the error's fix."""
    if not path.is_file():
        noun = "data file" if what.startswith("data.") else "file"
        raise EdgekitError(f"{noun} not found", where=path, fix=f"set {what}")
    try:
        content = path.read_text(encoding="utf-8-sig")
        if plain_lines:
            rows = [{"text": line} for line in content.splitlines() if line.strip()]
        elif _is_jsonl(path, content[:65536]):
            rows = [json.loads(line) for line in content.splitlines() if line.strip()]
            if rows and not all(isinstance(r, dict) for r in rows):
                raise EdgekitError("a JSON line is not an object", where=path,
                                   fix='one {"sentence": ..., "label": ...} object per line')
        else:
            sep = delimiter or delimiter_of(path, content[:65536], what.rsplit(".", 1)[0])
            # Tab-separated files (GLUE's) are unquoted: a quote character is part of the text.
            quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
            table = [r for r in csv.reader(io.StringIO(content, newline=""), delimiter=sep,
                                           quoting=quoting) if any(c.strip() for c in r)]
            if header:
                names = table[0] if table else []
                rows = [dict(zip(names, r)) for r in table[1:]]
            else:
                rows = [dict(enumerate(r)) for r in table]
    except UnicodeDecodeError:
        raise EdgekitError("not UTF-8 text", where=path, fix="re-save the file as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise EdgekitError(f"invalid JSON on a line ({exc.msg})", where=path,
                           fix="one JSON object per line") from None
    if not rows:
        raise EdgekitError("no rows", where=path, fix="the file is empty; provide data")
    return rows


def _column_fix(rows: list[dict], params: str) -> str:
    first = list(rows[0])
    if all(isinstance(k, int) for k in first):
        return f"set {params}.text_column / label_column to positions 0..{len(first) - 1}"
    return (f"set {params}.text_column / label_column to one of these names; if the first line "
            f"is data, not names, set {params}.header=false and the columns by position "
            f"(e.g. label_column=0, text_column=1)")


def _require_columns(rows: list[dict], path: Path, columns: tuple[Column, ...],
                     params: str = "data.params") -> list[Column]:
    """The row keys of ``columns`` (a position into a header row becomes its name)."""
    first = list(rows[0])
    keys: list[Column] = []
    for col in columns:
        if isinstance(col, int) and not isinstance(col, bool) and col in rows[0]:
            keys.append(col)
        elif isinstance(col, int) and not isinstance(col, bool) and 0 <= col < len(first) \
                and not all(isinstance(k, int) for k in first):
            keys.append(first[col])  # a position into a file with a header
        elif col in rows[0]:
            keys.append(col)
        else:
            shown = ", ".join(repr(k) if isinstance(k, str) else str(k) for k in first[:8])
            what = f"column {col}" if isinstance(col, int) else f"column '{col}'"
            raise EdgekitError(f"no {what} (columns: {shown}{' ...' if len(first) > 8 else ''})",
                               where=path, fix=_column_fix(rows, params))
    short = [i for i, r in enumerate(rows) if any(k not in r or r[k] is None for k in keys)]
    if short:
        raise EdgekitError(f"line {short[0] + 1} has fewer columns than the others "
                           f"({len(short)} such rows)", where=path,
                           fix=f"give every row all columns, or set {params}.delimiter")
    return keys


def read_rows(path: Path, config: TextFileConfig) -> tuple[list[str], list[str]]:
    """(texts, labels as strings) of a labelled file, read as ``config`` says."""
    rows = read_records(path, header=config.header, delimiter=config.delimiter)
    text_key, label_key = _require_columns(rows, path, config.columns())
    return [str(r[text_key]).strip() for r in rows], [str(r[label_key]).strip() for r in rows]


def read_texts(path: Path, column: str, *, what: str) -> list[str]:
    """Unlabelled text: a .txt file (one text per line) or ``column`` of a .csv/.tsv/.jsonl."""
    if path.suffix not in TEXT_SUFFIXES:
        raise EdgekitError(f"unsupported file type '{path.suffix}'", where=path,
                           fix=f"use .txt (one text per line) or one of {', '.join(SUFFIXES)}")
    rows = read_records(path, what=what, plain_lines=path.suffix == ".txt")
    column = "text" if path.suffix == ".txt" else column
    if column not in rows[0]:
        raise EdgekitError(f"no column '{column}' (columns: {', '.join(map(str, rows[0]))})",
                           where=path, fix=f"set {what.rsplit('.', 1)[0]}.corpus_column")
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


class TextFile(DatasetLoader[TextFileConfig]):
    name = "text_file"
    description = "local CSV/TSV/JSONL text classification (file or GLUE-style folder)"
    Config = TextFileConfig

    def load(self, config: TextFileConfig, plan: SplitPlan) -> Dataset:
        path = Path(config.path).expanduser()
        if path.is_dir():
            train_file, test_file = _find(path, ("train",)), _find(path, ("dev", "validation", "test"))
            if train_file is None or test_file is None:
                raise EdgekitError("folder needs train.{tsv,csv,jsonl} and dev.* (or test.*)",
                                   where=path, fix="point data.params.path at such a folder")
            texts, raw = read_rows(train_file, config)
            labels, names = encode_labels(raw, None, train_file)
            t_texts, t_raw = read_rows(test_file, config)
            t_labels, _ = encode_labels(t_raw, names, test_file)
            return build_text_dataset(name=f"text:{path.name}", source=str(path.resolve()),
                                      config=config, plan=plan, texts=texts, labels=labels,
                                      label_names=names, test_texts=t_texts, test_labels=t_labels,
                                      val_from_test=config.validation_from_heldout)
        if config.validation_from_heldout is not None:
            raise EdgekitError("data.params.validation_from_heldout needs a folder with train.* "
                               "and dev.*", where=path,
                               fix="point data.params.path at such a folder, or drop the field "
                               "(one file is split by data.val_fraction)")
        texts, raw = read_rows(path, config)
        labels, names = encode_labels(raw, None, path)
        return build_text_dataset(name=f"text:{path.name}", source=str(path.resolve()),
                                  config=config, plan=plan, texts=texts, labels=labels,
                                  label_names=names)


DATASETS.register(TextFile.name, TextFile())
