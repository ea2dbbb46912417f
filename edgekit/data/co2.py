"""Weekly Mauna Loa CO2, 1958–2001 (2,284 values, 59 gaps interpolated), the CSV bundled in
statsmodels' wheel."""

from __future__ import annotations

from edgekit.data import DATASETS, Dataset, DatasetLoader, SplitPlan
from edgekit.data._series import SeriesConfig, forecasting_dataset, package_file, read_column


class CO2(DatasetLoader):
    name = "co2"
    description = "statsmodels Mauna Loa CO2, weekly 1958-2001, one-step forecasting"
    Config = SeriesConfig

    def load(self, config: SeriesConfig, plan: SplitPlan) -> Dataset:  # type: ignore[override]
        path = package_file("statsmodels", "datasets/co2/co2.csv")
        return forecasting_dataset(self.name, read_column(path, "co2"), config, plan,
                                   "statsmodels.datasets.co2 (Mauna Loa weekly CO2, ppm)")


DATASETS.register(CO2.name, CO2())
