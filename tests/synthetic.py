"""A synthetic forecast for tests and benchmarks: a forecast dataset in the data/FORMATS.md layout built from the
store's last observations. It is NOT a forecast and lives here, outside the production code."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from forecasting.config import DEFAULTS
from forecasting.models import OUTPUT_LEVELS

QUANTILES = OUTPUT_LEVELS


def synthetic_forecast(
    store: xr.Dataset,
    issue_date: dt.date | str | None = None,
    leads: int = 7,
    spread: float = 0.15,
    growth: Mapping[str, float] | None = None,
    run_id: str = "synthetic",
    model_name: str = "persistence",
) -> xr.Dataset:
    """A forecast dataset (data/FORMATS.md layout) from the last observations: NOT a forecast.

    For each station the median at lead k is last_obs * growth**k (growth default 1.0, per station in `growth`)
    and the quantiles spread log-normally with sigma = `spread` * sqrt(k). `issue_date` defaults to the day after
    the newest observation; observations after it are ignored. A station without any discharge is `failed`.
    """
    from scipy.stats import norm

    times = pd.DatetimeIndex(store["time"].values)
    issue = pd.Timestamp(issue_date) if issue_date is not None else times.max() + pd.Timedelta(days=1)
    q = store["discharge_m3s"].sel(time=slice(None, issue)).transpose("station", "time").values
    tt = times[times <= issue]
    stations = [str(s) for s in store["station"].values]
    n_s = len(stations)
    last = np.full(n_s, np.nan)
    last_date = np.full(n_s, np.datetime64("NaT"), dtype="datetime64[ns]")
    for i in range(n_s):
        ok = np.flatnonzero(np.isfinite(q[i]))
        if ok.size:
            last[i] = q[i, ok[-1]]
            last_date[i] = tt[ok[-1]].to_datetime64()
    lead = np.arange(1, leads + 1)
    z = norm.ppf(np.array(QUANTILES))
    g = np.array([(growth or {}).get(s, 1.0) for s in stations])
    med = last[:, None] * g[:, None] ** lead[None, :]
    sig = spread * np.sqrt(lead)
    data = med[:, :, None] * np.exp(sig[None, :, None] * z[None, None, :])
    status = np.where(np.isfinite(last), "ok", "failed").astype(object)
    age = (issue - pd.DatetimeIndex(last_date)).days.to_numpy(dtype=float)
    status = np.where((status == "ok") & (age > DEFAULTS.stale_after_days), "stale", status).astype(object)
    cutoff = pd.Timestamp(np.nanmax(last_date.astype("datetime64[ns]"))) if np.isfinite(last).any() else pd.NaT
    ds = xr.Dataset(
        {
            "discharge_m3s": (("station", "lead", "quantile"), data, {"units": "m3 s-1"}),
            "model_name": ("station", np.array([model_name] * n_s, dtype=object)),
            "model_version": ("station", np.array(["synthetic-1"] * n_s, dtype=object)),
            "status": ("station", status),
            "message": ("station", np.where(status == "failed", "no discharge observations", "").astype(object)),
            "missing_inputs": ("station", np.array([""] * n_s, dtype=object)),
            "last_obs_date": ("station", last_date),
            "last_obs_m3s": ("station", last),
            "data_age_days": ("station", age),
        },
        coords={
            "station": np.array(stations, dtype=object),
            "lead": lead,
            "quantile": np.array(QUANTILES),
            "valid_date": ("lead", (issue + pd.to_timedelta(lead, "D")).values),
            "forecast_reference_time": ((), np.datetime64(issue, "ns")),
        },
        attrs={
            "issue_date": str(issue.date()),
            "data_cutoff": "" if pd.isna(cutoff) else str(cutoff.date()),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "run_id": run_id,
            "stale_after_days": DEFAULTS.stale_after_days,
            "run_config": DEFAULTS.to_json(),
        },
    )
    if "basin" in store.coords:
        ds = ds.assign_coords(basin=("station", store["basin"].values.astype(object)))
    return ds
