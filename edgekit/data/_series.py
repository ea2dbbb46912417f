"""Shared by the time-series loaders: sliding windows → next value, split by time.

The held-out split is the *last* stretch of the series (never a random sample: neighbouring
windows overlap, so a random split would leak the answers). Values are standardized with the
training stretch's mean and standard deviation, so MAE is in training standard deviations.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
from pydantic import Field

from edgekit.data import Dataset, DatasetLoader, LoaderConfig, Split, SplitPlan
from edgekit.errors import EdgekitError


class SeriesConfig(LoaderConfig):
    window: int = Field(12, ge=2, description="past values the model sees")
    input_name: str = "series"
    relative: bool = Field(False, description="inputs and target relative to the window's last "
                           "value: for trending series (CO2), whose held-out stretch lies above "
                           "every training value and would saturate tanh units and int8 ranges")


def package_file(package: str, relative: str) -> Path:
    """A data file shipped inside an installed wheel, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EdgekitError(f"package '{package}' is not installed", where="data.dataset",
                           fix=f"pip install {package}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise EdgekitError(f"{relative} is missing from the installed '{package}'",
                           where="data.dataset", fix=f"reinstall {package}")
    return path


def read_column(path: Path, column: str) -> np.ndarray:
    """One numeric CSV column; blanks are filled by linear interpolation."""
    with path.open(newline="") as fh:
        raw = [row[column].strip() for row in csv.DictReader(fh)]
    values = np.array([float(v) if v else np.nan for v in raw], dtype=np.float64)
    missing = np.isnan(values)
    if missing.any():
        idx = np.arange(len(values))
        values[missing] = np.interp(idx[missing], idx[~missing], values[~missing])
    return values


def forecasting_dataset(name: str, series: np.ndarray, config: SeriesConfig, plan: SplitPlan,
                        source: str) -> Dataset:
    w = config.window
    n = len(series) - w
    n_test = max(1, int(round(n * plan.test_fraction)))
    n_val = int(round(n * plan.val_fraction))
    n_train = n - n_test - n_val
    train_end = n_train + w  # values the training windows and targets touch
    mean, std = series[:train_end].mean(), series[:train_end].std() + 1e-9
    z = ((series - mean) / std).astype(np.float32)
    windows = np.stack([z[i:i + w] for i in range(n)])[..., None]
    targets = z[w:w + n][:, None]
    if config.relative:
        last = windows[:, -1:, 0]
        windows, targets = windows - last[..., None], targets - last

    def part(lo: int, hi: int) -> Split:
        return Split({config.input_name: windows[lo:hi]}, targets[lo:hi])

    return Dataset(name=name, task="regression", train=part(0, n_train),
                   val=part(n_train, n_train + n_val), test=part(n_train + n_val, n),
                   num_classes=None, source=f"{source}; next value from {w} past values, last "
                   f"{plan.test_fraction:.0%} of the series held out; standardized"
                   + ("; relative to the last value" if config.relative else ""),
                   extra={"mean": float(mean), "std": float(std)})


class StatsmodelsSeries(DatasetLoader[SeriesConfig]):
    """One column of a CSV bundled in statsmodels' wheel as a forecasting data set; each
    series module registers one instance."""

    Config = SeriesConfig

    def __init__(self, name: str, description: str, relative: str, column: str,
                 source: str) -> None:
        self.name, self.description = name, description
        self.relative, self.column, self.source = relative, column, source

    def load(self, config: SeriesConfig, plan: SplitPlan) -> Dataset:
        path = package_file("statsmodels", self.relative)
        return forecasting_dataset(self.name, read_column(path, self.column), config, plan,
                                   self.source)
