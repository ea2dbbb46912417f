"""Yearly sunspot numbers 1700–2008 (309 values), the CSV bundled in statsmodels' wheel."""

from __future__ import annotations

from edgekit.data import DATASETS, Dataset, DatasetLoader, SplitPlan
from edgekit.data._series import SeriesConfig, forecasting_dataset, package_file, read_column


class Sunspots(DatasetLoader):
    name = "sunspots"
    description = "statsmodels sunspots, yearly 1700-2008, one-step forecasting"
    Config = SeriesConfig

    def load(self, config: SeriesConfig, plan: SplitPlan) -> Dataset:  # type: ignore[override]
        path = package_file("statsmodels", "datasets/sunspots/sunspots.csv")
        return forecasting_dataset(self.name, read_column(path, "SUNACTIVITY"), config, plan,
                                   "statsmodels.datasets.sunspots (SIDC yearly sunspot numbers)")


DATASETS.register(Sunspots.name, Sunspots())
