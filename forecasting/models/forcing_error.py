"""How wrong weather forecasts are, by lead day: an error model to train forecasters on imperfect forcing.

A model trained on the observed future rain and fed real forecasts trusts them too much (published: median NSE
0.58 -> 0.33 on Alpine basins). Where no archive of real forecasts covers the training years, the NWP models are
trained on the observed future made as imperfect as real forecasts are:

- precipitation, in square-root space (z = sqrt(P), mm^0.5), per forecast day j (valid day - issue day):
  z_forecast = a_j + b_j z_observed + e, with a_j, b_j by least squares on archived forecast/observation pairs;
- the residuals e are resampled as whole runs (block bootstrap: one archived run's residuals of every day j at
  once), so the errors of consecutive days keep their correlation, as in a real run that misplaces a rain spell;
- temperature: T_forecast = T_observed + e (degC), from the archive where it has temperature, else Gaussian
  errors with a standard deviation of DEFAULT_T_SD[0] + DEFAULT_T_SD[1] * j, correlated across days through the
  same run draw.
Days beyond the archive's last day use the last one's parameters. Without archive pairs, `default()` uses the
fit of GraphCast's basin forecasts (README of ../shared/data/nwp: correlation 0.93 at lead day 1, 0.26 at 10).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.features import NWP_MAX_DAY, nwp_column

MIN_PAIRS = 120  # archived runs needed to fit the precipitation error of one day j
DEFAULT_T_SD = (1.0, 0.2)  # degC: sd of the forecast daily mean temperature error = 1.0 + 0.2 j
# Fitted on the GraphCast forecasts of lamah_1145 (Rottum) against ERA5-Land, 2016-2017 (sqrt space, days 1..9):
# intercept a_j, slope b_j and residual sd s_j; used only where no archive is at hand (Gaussian residuals).
DEFAULT_PRECIP = {
    "a": [0.19, 0.22, 0.26, 0.29, 0.35, 0.45, 0.55, 0.62, 0.66, 0.72],
    "b": [0.92, 0.89, 0.86, 0.82, 0.79, 0.70, 0.63, 0.55, 0.50, 0.40],
    "s": [0.45, 0.52, 0.60, 0.66, 0.70, 0.78, 0.85, 0.92, 0.95, 1.00],
}


@dataclass
class ForcingErrorModel:
    """Error model of one forecast source (see module docstring). `days` are the forecast days j fitted."""

    source: str
    days: list[int]
    a: list[float]
    b: list[float]
    resid: list[list[float]] = field(default_factory=list)  # runs x days residuals (sqrt mm), NaN as None in JSON
    resid_sd: list[float] = field(default_factory=list)  # for the Gaussian default
    t_resid: list[list[float]] = field(default_factory=list)  # runs x days temperature errors (degC), if fitted
    n_runs: int = 0
    period: str = ""

    @classmethod
    def fit(cls, pairs: pd.DataFrame, source: str = "") -> ForcingErrorModel:
        """Fit on archived pairs (columns run, day, variable, forecast, observed; forcing.archive_pairs)."""
        p = pairs[pairs["variable"] == "precip_mm"]
        days = sorted(int(d) for d, g in p.groupby("day") if len(g) >= MIN_PAIRS)
        if not days:
            return cls.default(source)
        runs = pd.DatetimeIndex(sorted(p["run"].unique()))
        a, b = [], []
        resid = np.full((len(runs), len(days)), np.nan)
        for jj, j in enumerate(days):
            g = p[p["day"] == j]
            zf = np.sqrt(np.clip(g["forecast"].to_numpy(float), 0, None))
            zo = np.sqrt(np.clip(g["observed"].to_numpy(float), 0, None))
            bj, aj = np.polyfit(zo, zf, 1)
            a.append(float(aj))
            b.append(float(bj))
            resid[runs.get_indexer(pd.DatetimeIndex(g["run"])), jj] = zf - (aj + bj * zo)
        t = pairs[pairs["variable"] == "tmean_c"]
        t_resid = np.full((len(runs), len(days)), np.nan)
        if len(t):
            for jj, j in enumerate(days):
                g = t[t["day"] == j]
                idx = runs.get_indexer(pd.DatetimeIndex(g["run"]))
                keep = idx >= 0
                t_resid[idx[keep], jj] = (g["forecast"] - g["observed"]).to_numpy(float)[keep]
        keep_runs = ~np.isnan(resid).all(axis=1)
        return cls(
            source=source,
            days=days,
            a=a,
            b=b,
            resid=resid[keep_runs].tolist(),
            resid_sd=[float(np.nanstd(resid[:, j])) for j in range(len(days))],
            t_resid=t_resid[keep_runs].tolist() if len(t) else [],
            n_runs=int(keep_runs.sum()),
            period=f"{runs.min().date()}..{runs.max().date()}" if len(runs) else "",
        )

    @classmethod
    def default(cls, source: str = "default") -> ForcingErrorModel:
        d = DEFAULT_PRECIP
        return cls(source=source, days=list(range(1, len(d["a"]) + 1)), a=d["a"], b=d["b"], resid_sd=d["s"])

    def _param(self, j: int) -> int:
        return (
            int(np.clip(np.searchsorted(self.days, j), 0, len(self.days) - 1))
            if j not in self.days
            else (self.days.index(j))
        )

    def degrade(self, future: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """Imperfect forecasts from the observed future (`forcing.observed_future` columns): one archived run's
        errors per row (block bootstrap), or Gaussian errors for the default model."""
        out = future.copy()
        n = len(future)
        resid = np.asarray(self.resid, dtype=float) if self.resid else None
        pick = rng.integers(0, len(resid), n) if resid is not None and len(resid) else None
        gauss = rng.standard_normal(n)  # one draw per row: the errors of a run's days are correlated
        t_resid = np.asarray(self.t_resid, dtype=float) if self.t_resid else None
        for j in range(NWP_MAX_DAY + 1):
            k = self._param(max(j, 1))
            col = nwp_column("precip_mm", j)
            if col in future:
                zo = np.sqrt(np.clip(future[col].to_numpy(float), 0, None))
                if pick is not None:
                    e = np.nan_to_num(resid[pick, k])
                else:
                    e = self.resid_sd[k] * (0.7 * gauss + np.sqrt(1 - 0.49) * rng.standard_normal(n))
                out[col] = np.clip(self.a[k] + self.b[k] * zo + e, 0.0, None) ** 2
            tcol = nwp_column("tmean_c", j)
            if tcol in future:
                if t_resid is not None and pick is not None:
                    et = np.nan_to_num(t_resid[pick, k])
                else:
                    sd = DEFAULT_T_SD[0] + DEFAULT_T_SD[1] * j
                    et = sd * (0.7 * gauss + np.sqrt(1 - 0.49) * rng.standard_normal(n))
                out[tcol] = future[tcol].to_numpy(float) + et
        return out

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "days": self.days,
            "a": self.a,
            "b": self.b,
            "resid_sd": self.resid_sd,
            "n_runs": self.n_runs,
            "period": self.period,
        }
