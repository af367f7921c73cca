"""Baseline forecasters: persistence and day-of-year climatology.

Both produce quantiles of discharge (m3/s) for issue days t and leads k (valid day t+k), like the LightGBM model,
so they can stand in for it (fallback) and serve as references in the backtest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.features import inputs_frame
from forecasting.models.calibration import FINE_LEVELS

CLIM_WINDOW_DAYS = 15  # +- days around the day of year
MIN_CLIM_DAYS = 300  # observed days needed for a climatology


def _doy(index: pd.DatetimeIndex) -> np.ndarray:
    return np.minimum(pd.DatetimeIndex(index).day_of_year.to_numpy(), 366) - 1


def _interp_levels(table: np.ndarray, from_levels: tuple[float, ...], to_levels: tuple[float, ...]) -> np.ndarray:
    if list(from_levels) == list(to_levels):
        return table
    flat = table.reshape(-1, table.shape[-1])
    out = np.stack([np.interp(to_levels, from_levels, r) for r in flat]) if len(flat) else flat
    return out.reshape(*table.shape[:-1], len(to_levels))


class Climatology:
    """Quantiles of discharge for the valid day of year, from a +-15-day window over the training years."""

    name = "climatology"

    def __init__(self, leads: list[int] | None = None) -> None:
        self.leads = list(leads or range(1, 8))
        self.tables: dict[str, list[list[float]]] = {}  # station -> 366 x levels (m3/s)
        self.levels: tuple[float, ...] = FINE_LEVELS

    @property
    def stations(self) -> list[str]:
        return list(self.tables)

    @staticmethod
    def available(df: pd.DataFrame) -> bool:
        """True when the station has enough observed days for a climatology."""
        return "discharge_m3s" in df and int(df["discharge_m3s"].notna().sum()) >= MIN_CLIM_DAYS

    def fit(self, frames: dict[str, pd.DataFrame], train_end: pd.Timestamp | None = None) -> Climatology:
        for sid, df in frames.items():
            q = inputs_frame(df)["q_obs"]
            if train_end is not None:
                q = q.loc[: pd.Timestamp(train_end)]
            q = q.dropna()
            if len(q) < MIN_CLIM_DAYS:
                continue
            doy = _doy(q.index)
            vals = q.to_numpy()
            table = np.empty((366, len(self.levels)))
            for d in range(366):
                dist = np.abs(doy - d)
                dist = np.minimum(dist, 366 - dist)
                sel = vals[dist <= CLIM_WINDOW_DAYS]
                table[d] = np.quantile(sel, self.levels) if len(sel) else np.nan
            self.tables[sid] = table.tolist()
        return self

    def predict(
        self, frames: dict[str, pd.DataFrame], issue_dates: pd.DatetimeIndex, levels: tuple[float, ...]
    ) -> dict[str, np.ndarray]:
        """Quantiles (n_dates x n_leads x n_levels), m3/s, per station with a climatology."""
        out = {}
        for sid in frames:
            if sid not in self.tables:
                continue
            tab = _interp_levels(np.asarray(self.tables[sid]), self.levels, levels)
            res = np.empty((len(issue_dates), len(self.leads), len(levels)))
            for j, k in enumerate(self.leads):
                res[:, j, :] = tab[_doy(issue_dates + pd.Timedelta(days=k))]
            out[sid] = res
        return out

    def to_dict(self) -> dict:
        return {"name": self.name, "leads": self.leads, "levels": list(self.levels), "tables": self.tables}

    @classmethod
    def from_dict(cls, d: dict) -> Climatology:
        m = cls(d["leads"])
        m.levels = tuple(d["levels"])
        m.tables = d["tables"]
        return m


class Persistence:
    """Q(t+k) = Q(t), widened by the empirical distribution of the log change over k days in the history."""

    name = "persistence"
    MIN_PAIRS = 60

    def __init__(self, leads: list[int] | None = None) -> None:
        self.leads = list(leads or range(1, 8))
        self.levels: tuple[float, ...] = FINE_LEVELS
        self.tables: dict[str, list[list[float]]] = {}  # station -> leads x levels of log(Q(t+k)/Q(t))

    @property
    def stations(self) -> list[str]:
        return list(self.tables)

    def fit(self, frames: dict[str, pd.DataFrame], train_end: pd.Timestamp | None = None) -> Persistence:
        for sid, df in frames.items():
            q = inputs_frame(df)["q_obs"]
            if train_end is not None:
                q = q.loc[: pd.Timestamp(train_end)]
            lq = np.log(q + 0.01 * max(float(q.median()) if q.notna().any() else 1.0, 1e-3))
            rows = []
            for k in self.leads:
                d = (lq.shift(-k) - lq).dropna().to_numpy()
                rows.append(list(np.quantile(d, self.levels)) if len(d) >= self.MIN_PAIRS else [0.0] * len(self.levels))
            self.tables[sid] = [[float(v) for v in r] for r in rows]
        return self

    def predict(
        self, frames: dict[str, pd.DataFrame], issue_dates: pd.DatetimeIndex, levels: tuple[float, ...]
    ) -> dict[str, np.ndarray]:
        out = {}
        for sid, df in frames.items():
            q0 = inputs_frame(df)["q"].reindex(issue_dates).to_numpy()
            tab = np.asarray(self.tables.get(sid, [[0.0] * len(self.levels)] * len(self.leads)))
            tab = _interp_levels(tab, self.levels, levels)  # leads x K
            out[sid] = np.sort(q0[:, None, None] * np.exp(tab[None, :, :]), axis=2)
        return out

    def to_dict(self) -> dict:
        return {"name": self.name, "leads": self.leads, "levels": list(self.levels), "tables": self.tables}

    @classmethod
    def from_dict(cls, d: dict) -> Persistence:
        m = cls(d["leads"])
        m.levels = tuple(d["levels"])
        m.tables = d["tables"]
        return m
