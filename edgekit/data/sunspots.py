"""Yearly sunspot numbers 1700–2008 (309 values), the CSV bundled in statsmodels' wheel."""

from edgekit.data import DATASETS
from edgekit.data._series import StatsmodelsSeries

DATASETS.register("sunspots", StatsmodelsSeries(
    "sunspots", "statsmodels sunspots, yearly 1700-2008, one-step forecasting",
    "datasets/sunspots/sunspots.csv", "SUNACTIVITY",
    "statsmodels.datasets.sunspots (SIDC yearly sunspot numbers)"))
