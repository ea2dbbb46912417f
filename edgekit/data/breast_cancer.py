"""scikit-learn's breast cancer table (569 real cases, 30 features, 2 classes; bundled)."""

from edgekit.data import DATASETS
from edgekit.data._tabular import SklearnTable

DATASETS.register("breast_cancer", SklearnTable(
    "breast_cancer", "scikit-learn breast cancer (Wisconsin diagnostic), 569 x 30, 2 classes",
    "load_breast_cancer", "sklearn.datasets.load_breast_cancer (UCI WDBC)"))
