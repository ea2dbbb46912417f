"""scikit-learn's wine table (178 real wines, 13 chemical features, 3 cultivars; bundled)."""

from __future__ import annotations

from edgekit.data import DATASETS, Dataset, DatasetLoader, SplitPlan
from edgekit.data.breast_cancer import TableConfig
from edgekit.data._tabular import sklearn_table


class Wine(DatasetLoader):
    name = "wine"
    description = "scikit-learn wine recognition, 178 x 13, 3 classes"
    Config = TableConfig

    def load(self, config: TableConfig, plan: SplitPlan) -> Dataset:  # type: ignore[override]
        from sklearn.datasets import load_wine

        return sklearn_table(self.name, load_wine, config.input_name, plan,
                             "sklearn.datasets.load_wine (UCI wine)")


DATASETS.register(Wine.name, Wine())
