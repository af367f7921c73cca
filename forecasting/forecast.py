"""The daily forecast: quantiles of discharge for every station and lead, as of an issue date.

`make_forecast(usable_ds, models, issue_date, leads, config=...)` returns the "Forecast dataset" of FORMATS.md (without
the risk variables, which forecasting.risk adds). A forecast issued on day t for lead k is valid for day t+k;
only observations of days <= t are used. Every station of the input appears in the output: forecast by its
basin's LightGBM model (status ok, or stale when the newest discharge is older than `stale_after_days`), by a baseline
(status fallback, with the reason), or failed (NaN quantiles and the error). Where the registry has a global
model (all stations pooled, `GLOBAL_MODEL`) that knows the station, its quantiles are averaged with the basin
model's, with the weight and spread fitted for that pair of versions (forecasting.models.ensemble; without a fit,
`config.global_weight` and 1), as in the backtest, and the version names both ("<basin version>+_global/<v>").
Each model forecast also says why it moves (`driver_contribution`, forecasting.explain): the models' SHAP
contributions per driver, averaged like the quantiles and closed on the published median.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import xarray as xr

from forecasting import explain, level_target, rating
from forecasting.config import DEFAULTS, ForecastConfig
from forecasting.features import INPUT_GROUPS, Q_FFILL_DAYS, log_q, missing_inputs, nwp_column
from forecasting.forcing import StationForcing, station_forcing
from forecasting.model_registry import GLOBAL_MODEL, BasinModel
from forecasting.models import OUTPUT_LEVELS, ensemble
from forecasting.models.baselines import Climatology, Persistence
from forecasting.models.lgbm import LGBMForecaster
from forecasting.store import station_frame, station_table


def _history(df: pd.DataFrame, issue: pd.Timestamp, history_days: int = DEFAULTS.history_days) -> pd.DataFrame:
    """The rows of `df` used for the features of `issue`: `history_days` back, from the 1 August before."""
    start = issue - pd.Timedelta(days=history_days)
    start = pd.Timestamp(year=start.year, month=8, day=1) if start.month >= 8 else pd.Timestamp(start.year - 1, 8, 1)
    return df.loc[start:issue]


@dataclass
class StationForecast:
    """What `forecast_station` gives for one station and n issue days (leads as asked, K quantile levels)."""

    q: np.ndarray  # n x leads x K discharge quantiles, m3/s (NaN for a level-only post)
    wl: np.ndarray  # n x leads x K water-level quantiles, cm (rating curve, or the level-only post's own model)
    model_name: list[str]
    model_version: list[str]
    status: list[str]  # ok | stale | fallback | failed
    message: list[str]
    missing: list[str]
    last_obs_date: np.ndarray  # datetime64[ns], newest discharge (or level) known on the issue day
    last_obs_value: np.ndarray  # m3/s (NaN for a level-only post)
    drivers: np.ndarray  # n x leads x DRIVERS (NaN unless explained)
    nwp_used: np.ndarray  # bool per issue day: the NWP model set made the forecast
    nwp_message: list[str]  # why not (or which run)
    nwp_precip_mm: np.ndarray  # n x leads: forecast precipitation of the valid day used (NaN where not used)
    nwp_tmean_c: np.ndarray  # n x leads: forecast mean air temperature of the valid day used
    rating_note: str = ""
    # n x leads, bool: the band comes from a model's table of heavy-rain days (wider: larger errors on such days)
    heavy_rain: np.ndarray | None = None


def _nwp_frame(df: pd.DataFrame, forcing: StationForcing | None) -> pd.DataFrame:
    """The station frame with the NWP columns of the issue days joined (NaN on other days)."""
    if forcing is None:
        return df
    cols = forcing.columns.reindex(df.index)
    return pd.concat([df.drop(columns=[c for c in cols.columns if c in df]), cols], axis=1)


def _usable_model(bm: BasinModel | None, model: LGBMForecaster | None, sid: str, leads: list[int]) -> bool:
    return (
        bm is not None
        and model is not None
        and sid in model.stations
        and sid not in bm.fallback
        and all(k in model.leads for k in leads)
    )


def _predict(
    model: LGBMForecaster, sid: str, df: pd.DataFrame, days: pd.DatetimeIndex, leads: list[int], levels
) -> tuple[np.ndarray, np.ndarray]:
    """The model's quantiles (days x leads x levels) and heavy-rain flags (days x leads) for `leads`."""
    q, heavy = model.predict_station(sid, df, days, levels)
    cols = [model.leads.index(k) for k in leads]
    return q[:, cols, :], heavy[:, cols]


def _heavy_rain(basin: np.ndarray, glob: np.ndarray | None, weights: np.ndarray, combined: np.ndarray) -> np.ndarray:
    """days x leads, bool: the band of a lead comes (in part) from a heavy-rain table: the basin model's flags
    (`basin`), or on the `combined` days the global model's (`glob`), each where its model has weight (`weights`:
    the global model's per lead)."""
    out = basin.copy()
    if glob is not None and combined.any():
        w = np.asarray(weights, dtype=float)[None, :]
        out[combined] = (basin[combined] & (w < 1)) | (glob[combined] & (w > 0))
    return out


def forecast_station(
    sid: str,
    observed: pd.DataFrame,
    models: Mapping[str, BasinModel],
    basin: str,
    issue_dates: pd.DatetimeIndex,
    config: ForecastConfig = DEFAULTS,
    forcing: StationForcing | None = None,
    levels: tuple[float, ...] = OUTPUT_LEVELS,
    explain_drivers: bool = False,
    unavailable: str = "",
) -> StationForecast:
    """The forecast of one station for each of `issue_dates` (what the daily run publishes and the backtest
    scores): the basin model (averaged with the global model where that knows the station, with the pair's fitted
    weight and spread per lead, else `config.global_weight`), its NWP model set where `forcing` gives a fresh run
    for the day (else the plain models, and `nwp_message` says why), a climatology or persistence fallback with the
    reason where no model can forecast, water levels through the rating curve (fitted on the paired days up to the
    first issue date) or directly for a level-only post.

    `observed`: the station's usable observations (QC'd) up to at least the last issue date; features of day t use
    rows <= t only. With one issue date the features read `config.history_days` of history (the daily run);
    with several, the whole frame (the backtest). A forecast issued on day t for lead k is valid for day t+k.
    `unavailable`: why the basin has no model in `models` when its model exists but cannot be loaded."""
    days = pd.DatetimeIndex(issue_dates).normalize()
    leads = list(config.leads)
    n, n_l, n_q = len(days), len(leads), len(levels)
    q = np.full((n, n_l, n_q), np.nan)
    drivers = np.full((n, n_l, len(explain.DRIVERS)), np.nan)
    names, versions = [""] * n, [""] * n
    status, messages, nwp_msg = ["failed"] * n, [""] * n, [""] * n
    nwp_used = np.zeros(n, dtype=bool)
    nwp_p = np.full((n, n_l), np.nan)
    nwp_t = np.full((n, n_l), np.nan)
    heavy = np.zeros((n, n_l), dtype=bool)
    bm = models.get(str(basin))
    gm = models.get(GLOBAL_MODEL)
    ref = bm.level_refs.get(sid) if bm is not None else None
    full = level_target.as_modelled(observed, ref) if ref is not None else observed
    full = full.loc[: days.max()] if n else full
    df = _history(full, days[0], config.history_days) if n == 1 else full
    q_all = full["discharge_m3s"].dropna() if "discharge_m3s" in full else pd.Series(dtype=float)
    pos = q_all.index.searchsorted(days, side="right") - 1
    has_last = pos >= 0
    last_date = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    last_val = np.full(n, np.nan)
    last_date[has_last] = q_all.index.values[pos[has_last]]
    last_val[has_last] = q_all.to_numpy()[pos[has_last]]
    age = (days.values - last_date).astype("timedelta64[D]").astype("float64")
    age[np.isnat(last_date)] = np.nan
    missing = _missing_inputs(df, days)
    reason = [""] * n
    if bm is None:
        reason = [unavailable or f"no trained model for basin {basin}"] * n
    elif bm.model is None or sid not in bm.model.stations:
        reason = [bm.fallback.get(sid, f"station not in model {bm.version} of basin {bm.basin}")] * n
    elif sid in bm.fallback:
        reason = [bm.fallback[sid]] * n
    elif any(k not in bm.model.leads for k in leads):
        reason = [f"model {bm.version} has leads {bm.model.leads}, asked for {leads}"] * n
    else:
        for i in np.flatnonzero(~(age <= Q_FFILL_DAYS)):
            when = "never" if np.isnat(last_date[i]) else f"last on {pd.Timestamp(last_date[i]).date()}"
            reason[i] = f"no discharge within {Q_FFILL_DAYS} days of the issue date ({when})"
    go = np.array([not r for r in reason])
    if go.any():
        d_go = days[go]
        res, hv_basin = _predict(bm.model, sid, df, d_go, leads, levels)
        hv_glob = None
        version = np.array([bm.version] * len(d_go), dtype=object)
        g_ok = (
            gm is not None
            and gm is not bm
            and gm.level_refs.get(sid) == bm.level_refs.get(sid)  # a level-only post: both model the same stand-in
            and _usable_model(gm, gm.model, sid, leads)
        )
        pairing = bm.ensembles.get(gm.version, {}) if g_ok else {}
        w_g, s_g = ensemble.pair_weights(pairing.get("plain"), leads, config.global_weight)
        wn_g, sn_g = ensemble.pair_weights(pairing.get("nwp"), leads, config.global_weight)
        parts = np.zeros(len(d_go), dtype=bool)
        if g_ok:
            gres, hv_glob = _predict(gm.model, sid, df, d_go, leads, levels)
            parts = ~np.isnan(gres).any(axis=(1, 2)) & ~np.isnan(res).any(axis=(1, 2))
            res[parts] = ensemble.combine(res[parts], gres[parts], w_g, s_g, bm.model.contexts[sid], levels)
            version[parts] = f"{bm.version}+{GLOBAL_MODEL}/{gm.version}"
        hv = _heavy_rain(hv_basin, hv_glob, w_g, parts)
        used = np.zeros(len(d_go), dtype=bool)
        why_not = np.array([""] * len(d_go), dtype=object)
        nwp_df = None
        g_nwp = False
        if forcing is None:
            why_not[:] = "no NWP run given"
        elif not _usable_model(bm, bm.nwp_model, sid, leads):
            why_not[:] = "no NWP model for this station (trained without weather forecasts)"
        else:
            runs = forcing.runs.reindex(d_go)
            why_not[:] = runs["reason"].fillna("no NWP run for the issue date").to_numpy()
            need = [nwp_column(v, j) for v in bm.nwp_model.params.nwp for j in range(1, max(leads) + 1)]
            cols = forcing.columns.reindex(d_go)
            complete = cols.reindex(columns=need).notna().all(axis=1).to_numpy()
            lacking = (why_not == "") & ~complete
            for i in np.flatnonzero(lacking):
                gap = [c for c in need if pd.isna(cols.iloc[i].get(c))]
                why_not[i] = f"the NWP run lacks {', '.join(gap[:4])}{' ...' if len(gap) > 4 else ''}"
            used = why_not == ""
            if used.any():
                nwp_df = _nwp_frame(df, forcing)
                d_use = d_go[used]
                nres, hn_basin = _predict(bm.nwp_model, sid, nwp_df, d_use, leads, levels)
                hn_glob = None
                g_nwp = (
                    g_ok
                    and _usable_model(gm, gm.nwp_model, sid, leads)
                    and set(gm.nwp_model.params.nwp) <= set(bm.nwp_model.params.nwp)
                )
                nver = np.array([f"{bm.version}/nwp"] * len(d_use), dtype=object)
                both = np.zeros(len(d_use), dtype=bool)
                if g_nwp:
                    gn, hn_glob = _predict(gm.nwp_model, sid, nwp_df, d_use, leads, levels)
                    both = ~np.isnan(gn).any(axis=(1, 2)) & ~np.isnan(nres).any(axis=(1, 2))
                    ctx_n = bm.nwp_model.contexts[sid]
                    nres[both] = ensemble.combine(nres[both], gn[both], wn_g, sn_g, ctx_n, levels)
                    nver[both] = f"{bm.version}/nwp+{GLOBAL_MODEL}/{gm.version}/nwp"
                hn = _heavy_rain(hn_basin, hn_glob, wn_g, both)
                ok_n = ~np.isnan(nres).any(axis=(1, 2))
                idx_use = np.flatnonzero(used)
                why_not[idx_use[~ok_n]] = "the NWP model gave no value"
                used[idx_use[~ok_n]] = False
                res[idx_use[ok_n]] = nres[ok_n]
                version[idx_use[ok_n]] = nver[ok_n]
                hv[idx_use[ok_n]] = hn[ok_n]
        gi = np.flatnonzero(go)
        bad = np.isnan(res).any(axis=(1, 2))
        for jj, i in enumerate(gi):
            if bad[jj]:
                reason[i] = "the model gave no value (inputs missing on the issue date)"
                continue
            q[i] = res[jj]
            heavy[i] = hv[jj]
            names[i] = bm.nwp_model.name if used[jj] else bm.model.name
            versions[i] = str(version[jj])
            status[i] = "stale" if age[i] > config.stale_after_days else "ok"
            nwp_used[i] = bool(used[jj])
            nwp_msg[i] = str(why_not[jj])
            if used[jj]:
                for j, k in enumerate(leads):
                    nwp_p[i, j] = forcing.columns[nwp_column("precip_mm", k)].get(days[i], np.nan)
                    if nwp_column("tmean_c", k) in forcing.columns:
                        nwp_t[i, j] = forcing.columns[nwp_column("tmean_c", k)].get(days[i], np.nan)
                run = forcing.runs.loc[days[i]]
                nwp_msg[i] = f"NWP run {run['source']} {pd.Timestamp(run['run_time']):%Y-%m-%dT%H:%MZ}"
            if missing[i]:
                messages[i] = f"inputs missing: {missing[i]}"
            if not used[jj] and forcing is not None and _usable_model(bm, bm.nwp_model, sid, leads):
                note = f"without weather forecast: {why_not[jj]}"  # the NWP model set exists but was not fed
                messages[i] = f"{messages[i]}; {note}" if messages[i] else note
        if explain_drivers:
            for jj, i in enumerate(gi):
                if reason[i]:
                    continue
                use_nwp = bool(used[jj])
                mdl = (lambda m: m.nwp_model) if use_nwp else (lambda m: m.model)
                frame_i = nwp_df if use_nwp else df
                parts_i = [(mdl(bm), np.ones(n_l))]
                if (use_nwp and g_nwp) or (not use_nwp and g_ok and parts[jj]):
                    w_i = wn_g if use_nwp else w_g
                    parts_i = [(mdl(bm), 1.0 - w_i), (mdl(gm), w_i)]
                drivers[i], why = _drivers(parts_i, sid, {sid: frame_i}, days[i], leads)
                if why:
                    messages[i] = "; ".join(m for m in (why, messages[i]) if m)
                ctx = bm.model.contexts[sid]
                lq0 = bm.model.issue_log_q(sid, df, days[i])  # the issue day's discharge as used
                if np.isfinite(drivers[i]).any() and np.isfinite(lq0):
                    q50 = q[i][:, list(levels).index(0.5)] if 0.5 in levels else np.median(q[i], axis=1)
                    drivers[i] = explain.close_to_median(drivers[i], log_q(q50, ctx) - lq0)
    fb = np.array([bool(r) for r in reason])
    if fb.any():
        base, name = _baseline(bm, sid, df, full, days[fb], leads, levels)
        for jj, i in enumerate(np.flatnonzero(fb)):
            nwp_msg[i] = "fallback forecast: no NWP model used"
            if base is None or np.isnan(base[jj]).all():
                status[i] = "failed"
                messages[i] = f"{reason[i]}; no discharge to fall back on"
                continue
            q[i] = np.sort(base[jj], axis=1)
            names[i] = name[jj]
            versions[i] = bm.version if bm is not None else ""
            status[i] = "fallback"
            messages[i] = f"{reason[i]}; {name[jj]} forecast"
    for i in np.flatnonzero(age > config.stale_after_days):
        note = f"newest discharge {int(age[i])} days before the issue date"
        messages[i] = f"{note}; {messages[i]}".rstrip("; ")
    wl = np.full_like(q, np.nan)
    note = ""
    if ref is not None:  # a level-only post: the model's quantiles are levels above its reference
        wl = level_target.to_level(q, ref)
        q = np.full_like(q, np.nan)
        last_val = np.full(n, np.nan)
        note = f"level-only post: the water level is forecast directly (reference {ref:g} cm)"
    elif n:
        try:
            levels_i, note = _water_levels(observed.loc[: days[0]], q)
            if levels_i is not None:
                wl = levels_i
        except Exception as exc:  # a level forecast is extra: the discharge forecast stands
            note = f"no water-level forecast: {type(exc).__name__}: {exc}"
    return StationForecast(
        q,
        wl,
        names,
        versions,
        status,
        messages,
        missing,
        last_date,
        last_val,
        drivers,
        nwp_used,
        nwp_msg,
        nwp_p,
        nwp_t,
        note,
        heavy,
    )


def _missing_inputs(df: pd.DataFrame, days: pd.DatetimeIndex, lookback_days: int = 3) -> list[str]:
    """`features.missing_inputs` for each issue day (comma-separated input groups), vectorised."""
    if len(days) == 1:
        return [",".join(missing_inputs(df, days[0], lookback_days))]
    out = [[] for _ in range(len(days))]
    for group, cols in INPUT_GROUPS.items():
        present = [c for c in cols if c in df]
        if not present:
            for o in out:
                o.append(group)
            continue
        has = df[present].notna().any(axis=1).astype(float)
        recent = has.rolling(lookback_days, min_periods=1).max().reindex(days).fillna(0.0).to_numpy()
        for i in np.flatnonzero(recent == 0):
            out[i].append(group)
    return [",".join(o) for o in out]


def _baseline(
    bm: BasinModel | None,
    sid: str,
    df: pd.DataFrame,
    full: pd.DataFrame,
    days: pd.DatetimeIndex,
    leads: list[int],
    levels: tuple[float, ...],
) -> tuple[np.ndarray | None, list[str]]:
    """Climatology where possible, else persistence of the newest discharge however old; (quantiles n x leads x K,
    model name per day) or (None, [])."""
    clim = None
    if bm is not None and sid in bm.climatology.tables:
        clim = bm.climatology
    elif Climatology.available(df):
        clim = Climatology(leads).fit({sid: df})
    n = len(days)
    out = np.full((n, len(leads), len(levels)), np.nan)
    names = [""] * n
    if clim is not None:
        clim.leads = list(leads)
        out = clim.predict({sid: df}, days, levels)[sid]
        names = ["climatology"] * n
    todo = np.isnan(out).all(axis=(1, 2))
    if todo.any():
        pers = bm.persistence if bm is not None and sid in bm.persistence.tables else Persistence(leads).fit({sid: df})
        pers.leads = list(leads)
        tables = pers.tables.get(sid)
        if tables is not None and len(tables) != len(leads):
            pers.tables[sid] = (
                tables[: len(leads)] if len(tables) > len(leads) else tables + [tables[-1]] * (len(leads) - len(tables))
            )
        last = full["discharge_m3s"].dropna() if "discharge_m3s" in full else pd.Series(dtype=float)
        pos = last.index.searchsorted(days, side="right") - 1
        q0 = np.where(pos >= 0, last.to_numpy()[np.clip(pos, 0, None)] if len(last) else np.nan, np.nan)
        frame = pd.DataFrame({"discharge_m3s": q0}, index=days)  # carried to each issue day
        pq = pers.predict({sid: frame}, days, levels)[sid]
        for i in np.flatnonzero(todo):
            if np.isfinite(q0[i]):
                out[i] = pq[i]
                names[i] = "persistence"
    if np.isnan(out).all():
        return None, []
    return out, names


def _drivers(
    parts: list[tuple[LGBMForecaster, np.ndarray]], sid: str, frames: dict, issue: pd.Timestamp, leads: list[int]
) -> tuple[np.ndarray, str]:
    """Driver contributions (leads x DRIVERS, change of log discharge) of the models that made the forecast,
    averaged with their ensemble weights (one per lead), and "" — or NaN and the reason where they cannot be
    computed (the forecast stands anyway)."""
    try:
        tables = []
        for model, _w in parts:
            c = model.contribution_matrix(sid, frames[sid], issue, leads)
            if c is None:
                raise ValueError(f"no discharge on the issue day {issue.date()}")
            tables.append(explain.group_values(c, (*model.feature_names, "bias")))
        return explain.combine(tables, [w for _m, w in parts]), ""
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
    forcing: Mapping[str, xr.Dataset] | None = None,
    unavailable: Mapping[str, str] | None = None,
) -> xr.Dataset:
    """Forecast every station of `usable_ds` (QC'd: bad values masked) as of `issue_date` for `leads` days
    (default `config.leads`), station by station with `forecast_station` (what the backtest scores).

    `models`: basin id -> BasinModel (forecasting.model_registry). Quantiles in m3/s at OUTPUT_LEVELS.
    `forcing`: the forcing store (source -> dataset, forecasting.forcing): each station uses the newest NWP run
    issued by the issue time (`config.issue_hour`, `config.nwp_sources`) unless older than
    `config.nwp_max_age_hours`, with its basin's NWP model set; else the plain models, and `nwp_message` says why.
    A station whose newest discharge is more than `config.stale_after_days` days before the issue date is `stale`
    (if its model still forecasts it) and its message says how old its data is; `data_age_days` gives the age.
    `unavailable`: basin -> why its model, though in the registry, is not in `models` (it cannot be loaded); its
    stations fall back with that reason. The configuration is written into the file (attribute `run_config`)."""
    issue = pd.Timestamp(issue_date).normalize()
    if leads is not None:
        config = config.with_(leads=tuple(leads))
    leads = list(config.leads)
    stale_after_days = config.stale_after_days
    meta = station_table(usable_ds)
    sids = list(meta.index)
    n_s, n_l, n_q = len(sids), len(leads), len(OUTPUT_LEVELS)
    qarr = np.full((n_s, n_l, n_q), np.nan)
    wl = np.full((n_s, n_l, n_q), np.nan)
    drivers = np.full((n_s, n_l, len(explain.DRIVERS)), np.nan)
    names = [""] * n_s
    versions = [""] * n_s
    status = ["failed"] * n_s
    messages = [""] * n_s
    missing = [""] * n_s
    rating_notes = [""] * n_s
    nwp_used = np.zeros(n_s, dtype=np.int8)
    nwp_msg = [""] * n_s
    nwp_p = np.full((n_s, n_l), np.nan)
    nwp_t = np.full((n_s, n_l), np.nan)
    heavy = np.zeros((n_s, n_l), dtype=np.int8)
    last_date = np.full(n_s, np.datetime64("NaT"), dtype="datetime64[ns]")
    last_val = np.full(n_s, np.nan)
    idx = pd.DatetimeIndex([issue])
    runs_used: set[tuple[str, str]] = set()
    for i, sid in enumerate(sids):
        try:
            full = station_frame(usable_ds, sid).loc[:issue]
            sf = station_forcing(dict(forcing), sid, idx, config) if forcing else None
            basin = str(meta.loc[sid, "basin"])
            why = (unavailable or {}).get(basin, "")
            r = forecast_station(
                sid, full, models, basin, idx, config, sf, OUTPUT_LEVELS, explain_drivers=True, unavailable=why
            )
            qarr[i], wl[i], drivers[i] = r.q[0], r.wl[0], r.drivers[0]
            names[i], versions[i], status[i], messages[i] = (
                r.model_name[0],
                r.model_version[0],
                r.status[0],
                r.message[0],
            )
            missing[i], rating_notes[i] = r.missing[0], r.rating_note
            last_date[i], last_val[i] = r.last_obs_date[0], r.last_obs_value[0]
            nwp_used[i], nwp_msg[i], nwp_p[i], nwp_t[i] = (
                int(r.nwp_used[0]),
                r.nwp_message[0],
                r.nwp_precip_mm[0],
                r.nwp_tmean_c[0],
            )
            if r.heavy_rain is not None:
                heavy[i] = r.heavy_rain[0]
            if r.nwp_used[0] and sf is not None:
                run = sf.runs.iloc[0]
                runs_used.add((str(run["source"]), f"{pd.Timestamp(run['run_time']):%Y-%m-%dT%H:%M:%SZ}"))
        except Exception as exc:  # one station's failure never stops the others
            status[i] = "failed"
            messages[i] = f"{type(exc).__name__}: {exc}"
            qarr[i] = np.nan
            heavy[i] = 0
    age = (np.datetime64(issue, "ns") - last_date).astype("timedelta64[D]").astype("float64")
    age[np.isnat(last_date)] = np.nan
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
            "nwp_used": (
                ("station",),
                nwp_used,
                {"long_name": "1: forecast by the NWP model set with the run of the attributes nwp_*; 0: without NWP"},
            ),
            "nwp_message": (("station",), np.array(nwp_msg, dtype=object)),
            "nwp_precip_mm": (
                ("station", "lead"),
                nwp_p,
                {
                    "units": "mm",
                    "long_name": "forecast precipitation of the valid day used as input (NaN: no NWP used)",
                    "standard_name": "lwe_thickness_of_precipitation_amount",
                },
            ),
            "nwp_tmean_c": (
                ("station", "lead"),
                nwp_t,
                {"units": "degC", "long_name": "forecast daily mean air temperature of the valid day used as input"},
            ),
            "heavy_rain_band": (
                ("station", "lead"),
                heavy,
                {
                    "long_name": "1: the forecast range of this lead comes from the residuals of the days with heavy "
                    "rain (forecast over the lead time, or observed over the last 3 days), wider as their errors were"
                },
            ),
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
            "nwp_source": ",".join(sorted({s for s, _ in runs_used})),
            "nwp_run_time": ",".join(sorted({t for _, t in runs_used})),
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
