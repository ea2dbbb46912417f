"""Weekly Mauna Loa CO2, 1958–2001 (2,284 values, 59 gaps interpolated), the CSV bundled in
statsmodels' wheel."""

from edgekit.data import DATASETS
from edgekit.data._series import StatsmodelsSeries

DATASETS.register("co2", StatsmodelsSeries(
    "co2", "statsmodels Mauna Loa CO2, weekly 1958-2001, one-step forecasting",
    "datasets/co2/co2.csv", "co2", "statsmodels.datasets.co2 (Mauna Loa weekly CO2, ppm)"))
