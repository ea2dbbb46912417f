"""scikit-learn's wine table (178 real wines, 13 chemical features, 3 cultivars; bundled)."""

from edgekit.data import DATASETS
from edgekit.data._tabular import SklearnTable

DATASETS.register("wine", SklearnTable(
    "wine", "scikit-learn wine recognition, 178 x 13, 3 classes", "load_wine",
    "sklearn.datasets.load_wine (UCI wine)"))
