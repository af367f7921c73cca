"""Why a forecast rises or falls: the model's additive contributions grouped into hydrological drivers.

LightGBM gives, for each forecast, the contribution of every feature to the predicted change of log discharge from
the issue day t to day t+k (SHAP values; they sum, with the model's bias, to the point forecast). Hydrologists do not
think in 60 features but in a few drivers, so the contributions are summed per driver (`DRIVERS`):

- `flow`: the recent discharge, its trend and recession, its anomaly against the season;
- `rain`: precipitation of the last days and weeks;
- `snow`: snowpack and snowmelt (measured SWE and its decrease, snow cover, the degree-day store, melt input);
- `temperature`: air temperature and degree-day sums (melt potential) not already in `snow`;
- `nwp_rain`: the forecast rain (and rain plus snowmelt) of days t+1..t+k from a weather-forecast (NWP) run;
- `nwp_temperature`: the forecast air temperature, degree-days and snowmelt of days t+1..t+k;
- `season`: day of year and the climatological change to day t+k, with the model's bias (the average change);
- `basin`: basin attributes (area, typical discharge) of a pooled model;
- `calibration`: what the calibrated median and the average with the global model add to the models' point
  forecasts (set by the forecast, `close_to_median`), so that the drivers add up to the published median.

A contribution c (log units) multiplies the forecast by exp(c): `as_percent` turns it into "+35%".
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
import pandas as pd

DRIVERS: tuple[str, ...] = (
    "flow",
    "rain",
    "snow",
    "temperature",
    "nwp_rain",
    "nwp_temperature",
    "season",
    "basin",
    "calibration",
)

_PREFIXES: tuple[tuple[str, str], ...] = (
    ("nwp_p", "nwp_rain"),
    ("nwp_winput", "nwp_rain"),
    ("nwp_t", "nwp_temperature"),
    ("nwp_dd", "nwp_temperature"),
    ("nwp_melt", "nwp_temperature"),
    ("lq", "flow"),
    ("dlq", "flow"),
    ("p0", "rain"),
    ("p1", "rain"),
    ("p2", "rain"),
    ("psum", "rain"),
    ("swe", "snow"),
    ("dswe", "snow"),
    ("snow", "snow"),
    ("store", "snow"),
    ("melt", "snow"),
    ("winput", "snow"),
    ("t0", "temperature"),
    ("tmean", "temperature"),
    ("tmax", "temperature"),
    ("dtr", "temperature"),
    ("dd", "temperature"),
    ("doy", "season"),
    ("clim", "season"),
    ("bias", "season"),
    ("log_area", "basin"),
    ("log_qscale", "basin"),
)


@functools.cache
def driver_of(feature: str) -> str:
    """The driver a feature belongs to (unknown features count as `flow`, the model's state)."""
    for prefix, driver in _PREFIXES:
        if feature.startswith(prefix):
            return driver
    return "flow"


@functools.cache
def group_matrix(features: tuple[str, ...]) -> np.ndarray:
    """The 0/1 matrix (features x DRIVERS) that sums feature contributions per driver."""
    out = np.zeros((len(features), len(DRIVERS)))
    for i, feature in enumerate(features):
        out[i, DRIVERS.index(driver_of(str(feature)))] = 1.0
    return out


def group_values(contrib: np.ndarray, features: tuple[str, ...]) -> np.ndarray:
    """Feature contributions (rows: leads; columns: `features`, the model's and "bias") summed per driver:
    leads x DRIVERS (NaN counts as 0)."""
    return np.nan_to_num(np.asarray(contrib, dtype=float)) @ group_matrix(tuple(features))


def group_contributions(contrib: pd.DataFrame) -> pd.DataFrame:
    """`group_values` of a frame (rows: leads; columns: features and "bias"): leads x DRIVERS."""
    grouped = group_values(contrib.to_numpy(dtype=float), tuple(str(c) for c in contrib.columns))
    return pd.DataFrame(grouped, index=contrib.index, columns=list(DRIVERS))


def combine(parts: list[np.ndarray], weights: list) -> np.ndarray:
    """Weighted average of driver tables (leads x DRIVERS; as the forecast averages a basin model and the global
    model): a weight per part, one number or one per lead (row)."""
    rows = np.asarray(parts[0]).shape[0]
    w = np.stack([np.broadcast_to(np.asarray(x, dtype=float), (rows,)) for x in weights])  # parts x leads
    w = w / w.sum(axis=0, keepdims=True)
    return sum(wi[:, None] * np.asarray(p, dtype=float) for wi, p in zip(w, parts, strict=True))


def close_to_median(table: np.ndarray, median_change: np.ndarray) -> np.ndarray:
    """Set the `calibration` column of a leads x DRIVERS table so that each row sums to `median_change` (the change
    of log discharge from the issue day to the forecast median)."""
    out = np.array(table, dtype=float)
    j = DRIVERS.index("calibration")
    out[:, j] = 0.0
    out[:, j] = np.asarray(median_change, dtype=float) - np.nansum(out, axis=1)
    return out


def as_percent(log_contribution: float | np.ndarray) -> float | np.ndarray:
    """A contribution to the change of log discharge as a percentage change of the forecast (exp(c) - 1) * 100."""
    return np.expm1(log_contribution) * 100.0


def main_drivers(row: Mapping[str, float], n: int = 2, min_percent: float = 5.0) -> list[tuple[str, float]]:
    """The `n` drivers of one lead (driver -> contribution in log units) with the largest effect (at least
    `min_percent` % either way), as (driver, percent), largest first; `season` (the expected change of any such
    day) and `calibration` are left out."""
    cand = [(d, float(as_percent(v))) for d, v in row.items() if d not in ("season", "calibration") and np.isfinite(v)]
    cand = [c for c in cand if abs(c[1]) >= min_percent]
    return sorted(cand, key=lambda c: -abs(c[1]))[:n]
