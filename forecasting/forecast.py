"""The daily forecast: quantiles of discharge for every station and lead, as of an issue date.

`make_forecast(usable_ds, models, issue_date, leads, config=...)` returns the "Forecast dataset" of FORMATS.md (without
the risk variables, which forecasting.risk adds). A forecast issued on day t for lead k is valid for day t+k;
only observations of days <= t are used. Every station of the input appears in the output: forecast by its
basin's LightGBM model (status ok, or stale when the newest discharge is older than `stale_after_days`), by a baseline
(status fallback, with the reason), or failed (NaN quantiles and the error). Where the registry has a global
model (all stations pooled, `GLOBAL_MODEL`) that knows the station, its quantiles are averaged with the basin
model's (weight `config.global_weight`, as in the backtest) and the version names both ("<basin version>+_global/<v>").
Each model forecast also says why it moves (`driver_contribution`, forecasting.explain): the models' SHAP
contributions per driver, averaged like the quantiles and closed on the published median.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import xarray as xr

from forecasting import explain, level_target, rating
from forecasting.config import DEFAULTS, ForecastConfig
from forecasting.features import Q_FFILL_DAYS, inputs_frame, log_q, missing_inputs
from forecasting.model_registry import GLOBAL_MODEL, BasinModel
from forecasting.models import OUTPUT_LEVELS
from forecasting.models.baselines import Climatology, Persistence
from forecasting.models.lgbm import ensemble_quantiles
from forecasting.store import station_frame, station_table


def _history(df: pd.DataFrame, issue: pd.Timestamp, history_days: int = DEFAULTS.history_days) -> pd.DataFrame:
    """The rows of `df` used for the features of `issue`: `history_days` back, from the 1 August before."""
    start = issue - pd.Timedelta(days=history_days)
    start = pd.Timestamp(year=start.year, month=8, day=1) if start.month >= 8 else pd.Timestamp(start.year - 1, 8, 1)
    return df.loc[start:issue]


def _baseline(
    bm: BasinModel | None, sid: str, frames: dict[str, pd.DataFrame], issue: pd.DatetimeIndex, leads: list[int]
) -> tuple[np.ndarray | None, str]:
    """Climatology if possible, else persistence; (quantiles leads x K, model name) or (None, '')."""
    df = frames[sid]
    if bm is not None and sid in bm.climatology.tables:
        clim = bm.climatology
    elif Climatology.available(df):
        clim = Climatology(leads).fit(frames)
    else:
        clim = None
    if clim is not None:
        clim.leads = list(leads)
        q = clim.predict({sid: df}, issue, OUTPUT_LEVELS)[sid][0]
        if not np.isnan(q).all():
            return q, "climatology"
    pers = bm.persistence if bm is not None and sid in bm.persistence.tables else Persistence(leads).fit(frames)
    pers.leads = list(leads)
    last = df["discharge_m3s"].dropna() if "discharge_m3s" in df else pd.Series(dtype=float)
    if last.empty:
        return None, ""
    frame = pd.DataFrame({"discharge_m3s": [float(last.iloc[-1])]}, index=issue)  # carried to the issue day
    tables = pers.tables.get(sid)
    if tables is not None and len(tables) != len(leads):
        pers.tables[sid] = (
            tables[: len(leads)] if len(tables) > len(leads) else tables + [tables[-1]] * (len(leads) - len(tables))
        )
    q = pers.predict({sid: frame}, issue, OUTPUT_LEVELS)[sid][0]
    return q, "persistence"


def _global_quantiles(
    gm: BasinModel | None, bm: BasinModel, sid: str, frames: dict, idx: pd.DatetimeIndex, leads: list[int]
) -> np.ndarray | None:
    """Quantiles (leads x K, m3/s) of the global model for the station, or None where it cannot forecast it."""
    if gm is None or gm is bm or gm.model is None or sid not in gm.model.stations or sid in gm.fallback:
        return None
    if gm.level_refs.get(sid) != bm.level_refs.get(sid):  # level-only post: both must model the same stand-in
        return None
    if any(k not in gm.model.leads for k in leads):
        return None
    g = gm.model.predict(frames, idx, OUTPUT_LEVELS)[sid][0][[gm.model.leads.index(k) for k in leads]]
    return None if np.isnan(g).any() else g


def _drivers(
    parts: list[tuple[BasinModel, float]], sid: str, frames: dict, issue: pd.Timestamp, leads: list[int]
) -> tuple[np.ndarray, str]:
    """Driver contributions (leads x DRIVERS, change of log discharge) of the models that made the forecast,
    averaged with their ensemble weights, and "" — or NaN and the reason where they cannot be computed (the
    forecast stands anyway)."""
    try:
        tables = []
        for bm, _w in parts:
            c = bm.model.contributions(frames, issue)[sid]
            tables.append(explain.group_contributions(c.loc[leads]))
        return explain.combine(tables, [w for _bm, w in parts]).to_numpy(dtype=float), ""
    except Exception as exc:  # an explanation is a help, never a reason to lose the forecast
        return np.full((len(leads), len(explain.DRIVERS)), np.nan), f"no explanation ({type(exc).__name__}: {exc})"


def _water_levels(frame: pd.DataFrame, q: np.ndarray) -> tuple[np.ndarray | None, str]:
    """Water-level quantiles (cm, leads x K) from the discharge quantiles through the station's rating curve
    fitted on its paired observations (`frame`: the station's observations up to the issue day), and the curve's
    note (or why there is none)."""
    if not np.isfinite(q).any() or "water_level_cm" not in frame or "discharge_m3s" not in frame:
        return None, ""
    if frame["water_level_cm"].isna().all():
        return None, ""
    curve, why = rating.fit_rating(frame["discharge_m3s"], frame["water_level_cm"])
    if curve is None:
        return None, f"no water-level forecast: {why}"
    return rating.level_quantiles(curve, q), curve.note()


def make_forecast(
    usable_ds: xr.Dataset,
    models: Mapping[str, BasinModel],
    issue_date: str | pd.Timestamp,
    leads: list[int] | None = None,
    created_at: datetime | None = None,
    config: ForecastConfig = DEFAULTS,
) -> xr.Dataset:
    """Forecast every station of `usable_ds` (QC'd: bad values masked) as of `issue_date` for `leads` days
    (default `config.leads`).

    `models`: basin id -> BasinModel (forecasting.model_registry). Quantiles in m3/s at OUTPUT_LEVELS.
    A station whose newest discharge is more than `config.stale_after_days` days before the issue date is `stale`
    (if its model still forecasts it) and its message says how old its data is; `data_age_days` gives the age.
    The configuration is written into the file (attribute `run_config`)."""
    issue = pd.Timestamp(issue_date).normalize()
    if leads is not None:
        config = config.with_(leads=tuple(leads))
    leads = list(config.leads)
    stale_after_days = config.stale_after_days
    gw = config.global_weight
    meta = station_table(usable_ds)
    sids = list(meta.index)
    n_s, n_l, n_q = len(sids), len(leads), len(OUTPUT_LEVELS)
    qarr = np.full((n_s, n_l, n_q), np.nan)
    drivers = np.full((n_s, n_l, len(explain.DRIVERS)), np.nan)
    names = [""] * n_s
    versions = [""] * n_s
    status = ["failed"] * n_s
    messages = [""] * n_s
    missing = [""] * n_s
    last_date = np.full(n_s, np.datetime64("NaT"), dtype="datetime64[ns]")
    last_val = np.full(n_s, np.nan)
    level_refs: dict[int, float] = {}  # station index -> reference level (cm) of a level-only post
    observed: dict[int, pd.DataFrame] = {}  # station index -> its observations up to the issue day
    idx = pd.DatetimeIndex([issue])
    for i, sid in enumerate(sids):
        try:
            full = station_frame(usable_ds, sid).loc[:issue]
            observed[i] = full
            bm = models.get(str(meta.loc[sid, "basin"]))
            if bm is not None and sid in bm.level_refs:  # a level-only post: its model forecasts the level
                level_refs[i] = bm.level_refs[sid]
                full = level_target.as_modelled(full, level_refs[i])
            df = _history(full, issue, config.history_days)
            frames = {sid: df}
            missing[i] = ",".join(missing_inputs(df, issue))
            q = df["discharge_m3s"].dropna() if "discharge_m3s" in df else pd.Series(dtype=float)
            q_all = full["discharge_m3s"].dropna() if "discharge_m3s" in full else q
            if not q_all.empty:  # the newest discharge known on the issue day, however old
                last_date[i] = np.datetime64(q_all.index[-1], "ns")
                last_val[i] = float(q_all.iloc[-1])
            reason = ""
            if bm is None:
                reason = f"no trained model for basin {meta.loc[sid, 'basin']}"
            elif bm.model is None or sid not in bm.model.stations:
                reason = bm.fallback.get(sid, f"station not in model {bm.version} of basin {bm.basin}")
            elif sid in bm.fallback:
                reason = bm.fallback[sid]
            elif q.empty or (issue - q.index[-1]).days > Q_FFILL_DAYS:
                age = "never" if q_all.empty else f"last on {q_all.index[-1].date()}"
                reason = f"no discharge within {Q_FFILL_DAYS} days of the issue date ({age})"
            elif any(k not in bm.model.leads for k in leads):
                reason = f"model {bm.version} has leads {bm.model.leads}, asked for {leads}"
            if not reason:
                full = bm.model.predict(frames, idx, OUTPUT_LEVELS)[sid][0]
                res = full[[bm.model.leads.index(k) for k in leads]]
                if np.isnan(res).any():
                    reason = "the model gave no value (inputs missing on the issue date)"
                else:
                    version = bm.version
                    parts = [(bm, 1.0)]
                    gres = _global_quantiles(models.get(GLOBAL_MODEL), bm, sid, frames, idx, leads)
                    if gres is not None:
                        res = ensemble_quantiles([res, gres], [1.0 - gw, gw])
                        version = f"{bm.version}+{GLOBAL_MODEL}/{models[GLOBAL_MODEL].version}"
                        parts = [(bm, 1.0 - gw), (models[GLOBAL_MODEL], gw)]
                    qarr[i] = res
                    drivers[i], why_not = _drivers(parts, sid, frames, issue, leads)
                    if why_not:
                        messages[i] = why_not
                    ctx = bm.model.contexts[sid]
                    q0 = inputs_frame(df)["q"].reindex([issue]).iloc[0]  # the issue day's discharge as used
                    if np.isfinite(drivers[i]).any() and np.isfinite(q0):
                        q50 = res[:, list(OUTPUT_LEVELS).index(0.5)]
                        drivers[i] = explain.close_to_median(drivers[i], log_q(q50, ctx) - log_q(q0, ctx))
                    names[i], versions[i] = bm.model.name, version
                    status[i] = "stale" if (issue - q.index[-1]).days > stale_after_days else "ok"
                    if missing[i]:
                        messages[i] = (messages[i] + "; " if messages[i] else "") + f"inputs missing: {missing[i]}"
                    continue
            base, name = _baseline(bm, sid, frames, idx, leads)
            if base is None:
                status[i] = "failed"
                messages[i] = f"{reason}; no discharge to fall back on"
                continue
            qarr[i] = np.sort(base, axis=1)
            names[i] = name
            versions[i] = bm.version if bm is not None else ""
            status[i] = "fallback"
            messages[i] = f"{reason}; {name} forecast"
        except Exception as exc:  # one station's failure never stops the others
            status[i] = "failed"
            messages[i] = f"{type(exc).__name__}: {exc}"
            qarr[i] = np.nan
    wl = np.full((n_s, n_l, n_q), np.nan)
    rating_notes = [""] * n_s
    for i in range(n_s):  # water levels for thresholds in cm, through each station's rating curve
        if i in level_refs:  # a level-only post: the model's quantiles are levels above its reference
            wl[i] = level_target.to_level(qarr[i], level_refs[i])
            qarr[i] = np.nan
            last_val[i] = np.nan
            rating_notes[i] = f"level-only post: the water level is forecast directly (reference {level_refs[i]:g} cm)"
            continue
        try:
            if i not in observed:
                continue
            levels_i, rating_notes[i] = _water_levels(observed[i], qarr[i])
            if levels_i is not None:
                wl[i] = levels_i
        except Exception as exc:  # a level forecast is extra: the discharge forecast stands
            rating_notes[i] = f"no water-level forecast: {type(exc).__name__}: {exc}"
    age = (np.datetime64(issue, "ns") - last_date).astype("timedelta64[D]").astype("float64")
    age[np.isnat(last_date)] = np.nan
    for i in np.flatnonzero(age > stale_after_days):
        note = f"newest discharge {int(age[i])} days before the issue date"
        messages[i] = f"{note}; {messages[i]}".rstrip("; ")
    created = (created_at or datetime.now(UTC)).isoformat(timespec="seconds")
    cutoff = usable_ds["time"].values.max() if usable_ds.sizes.get("time") else np.datetime64("NaT")
    cutoff = min(pd.Timestamp(cutoff), issue) if not pd.isna(cutoff) else issue
    ds = xr.Dataset(
        {
            "discharge_m3s": (
                ("station", "lead", "quantile"),
                qarr,
                {
                    "units": "m3 s-1",
                    "long_name": "forecast quantiles of daily mean discharge",
                    "standard_name": "water_volume_transport_in_river_channel",
                },
            ),
            "rating_note": (("station",), np.array(rating_notes, dtype=object)),
            "driver_contribution": (
                ("station", "lead", "driver"),
                drivers,
                {
                    "units": "1",
                    "long_name": "contribution of each driver to the forecast change of log discharge from the issue "
                    "day (LightGBM SHAP values summed per driver; exp(c) is the factor it applies)",
                },
            ),
            "model_name": (("station",), np.array(names, dtype=object)),
            "model_version": (("station",), np.array(versions, dtype=object)),
            "status": (("station",), np.array(status, dtype=object)),
            "message": (("station",), np.array(messages, dtype=object)),
            "missing_inputs": (("station",), np.array(missing, dtype=object)),
            "last_obs_date": (("station",), last_date),
            "last_obs_m3s": (("station",), last_val, {"units": "m3 s-1"}),
            "data_age_days": (
                ("station",),
                age,
                {"long_name": "age of the newest discharge at the issue date", "units": "days"},
            ),
        },
        coords={
            "station": ("station", np.array(sids, dtype=object)),
            "lead": ("lead", np.array(leads, dtype=np.int32), {"units": "days", "long_name": "lead time"}),
            "valid_date": (
                "lead",
                (issue + pd.to_timedelta(leads, unit="D")).values.astype("datetime64[ns]"),
                {"long_name": "day the forecast is valid for (issue date + lead)"},
            ),
            "forecast_reference_time": (
                (),
                np.datetime64(issue, "ns"),
                {"standard_name": "forecast_reference_time", "long_name": "issue date (local day)"},
            ),
            "quantile": ("quantile", np.array(OUTPUT_LEVELS, dtype=float)),
            "driver": ("driver", np.array(explain.DRIVERS, dtype=object)),
        },
        attrs={
            "title": "Tasqyn discharge forecast",
            "issue_date": str(issue.date()),
            "data_cutoff": str(cutoff.date()),
            "created_at": created,
            "comment": "a forecast issued on day t for lead k is valid for day t+k; only data of days <= t used",
            "stale_after_days": int(stale_after_days),
            "run_config": config.to_json(),
            "Conventions": "CF-1.10",
        },
    )
    if "water_level_cm" in usable_ds:
        ds["water_level_cm"] = (
            ("station", "lead", "quantile"),
            wl,
            {
                "units": "cm",
                "long_name": "forecast quantiles of the daily water level (discharge quantiles through the rating "
                "curve of the station, see rating_note)",
            },
        )
    return ds
