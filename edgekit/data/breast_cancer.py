"""scikit-learn's breast cancer table (569 real cases, 30 features, 2 classes; bundled)."""

from __future__ import annotations

from edgekit.data import DATASETS, Dataset, DatasetLoader, LoaderConfig, SplitPlan
from edgekit.data._tabular import sklearn_table


class TableConfig(LoaderConfig):
    input_name: str = "features"


class BreastCancer(DatasetLoader):
    name = "breast_cancer"
    description = "scikit-learn breast cancer (Wisconsin diagnostic), 569 x 30, 2 classes"
    Config = TableConfig

    def load(self, config: TableConfig, plan: SplitPlan) -> Dataset:  # type: ignore[override]
        from sklearn.datasets import load_breast_cancer

        return sklearn_table(self.name, load_breast_cancer, config.input_name, plan,
                             "sklearn.datasets.load_breast_cancer (UCI WDBC)")


DATASETS.register(BreastCancer.name, BreastCancer())
