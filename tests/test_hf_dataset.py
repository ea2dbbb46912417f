"""The `hf_dataset` loader through the real `datasets` library, offline: its csv builder over
local TSV files of real review snippets (the hub path is the same call with a hub id)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.data import DATASETS, SplitPlan
from edgekit.errors import EdgekitError

pytest.importorskip("datasets", reason="'datasets' not installed (pip install 'edgekit[hub]')")


@pytest.fixture(scope="module")
def tsv_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgekit.data.rotten_tomatoes import corpus_path, read_reviews

    try:
        texts, labels = read_reviews(corpus_path())
    except Exception as exc:
        pytest.skip(f"Rotten Tomatoes corpus missing: {exc}")
    folder = tmp_path_factory.mktemp("tsv")
    for name, rows in (("train", range(0, 300)), ("dev", range(300, 380))):
        lines = ["sentence\tlabel"] + [" ".join(texts[i].split()) + f"\t{labels[i]}" for i in rows]
        (folder / f"{name}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _load(folder: Path, **params: object) -> object:
    loader = DATASETS.get("hf_dataset")
    config = loader.Config(path="csv", delimiter="\t", seq_len=32,
                           data_files={"train": str(folder / "train.tsv"),
                                       "validation": str(folder / "dev.tsv")}, **params)
    return loader.load(config, SplitPlan(test_fraction=0.2, val_fraction=0.1, seed=0))


def test_local_files_through_datasets_become_a_tokenised_dataset(tsv_folder: Path) -> None:
    data = _load(tsv_folder)
    assert len(data.test) == 80 and len(data.train) + len(data.val) == 300
    assert data.test.x["input_ids"].shape == (80, 32)
    assert data.extra["label_names"] == ["0", "1"]
    assert set(np.unique(data.train.y)) == {0, 1}


def test_a_wrong_column_is_one_clear_error(tsv_folder: Path) -> None:
    with pytest.raises(EdgekitError, match="no column 'text'"):
        _load(tsv_folder, text_column="text")


def test_an_unreachable_dataset_is_one_clear_error(tmp_path: Path) -> None:
    loader = DATASETS.get("hf_dataset")
    config = loader.Config(path="csv", data_files={"train": str(tmp_path / "missing.csv")})
    with pytest.raises(EdgekitError, match="cannot load 'csv'"):
        loader.load(config, SplitPlan(test_fraction=0.2, val_fraction=0.1, seed=0))
