"""Flood risk from forecast quantiles: exceedance probabilities, levels 0-3 per lead, station and basin levels.

Probability of exceeding a threshold T (REFERENCES.md "Probabilities from quantiles"):
- the predictive CDF is interpolated linearly between the quantile levels, in log discharge for discharge
  (m3/s, where the lowest quantile and T are > 0) and linearly in water level (cm);
- beyond the outermost quantiles an exponential tail (in the same log/linear variable z) is fitted to the two
  outermost quantiles on each side: above the top level tau_K, P(X > x) = (1 - tau_K) exp(-(z - z_K) / b) with
  b = (z_K - z_{K-1}) / ln((1 - tau_{K-1}) / (1 - tau_K)); below tau_1, F(x) = tau_1 exp(-(z_1 - z) / b') with
  b' = (z_2 - z_1) / ln(tau_2 / tau_1). The scales never fall below a floor (0.5 % in log discharge, 1 cm in
  water level), so a threshold outside the forecast quantiles gets a small but non-zero probability, never 0 or 1
  merely because it lies outside them. In log discharge this is a Pareto (power-law) tail, which suits floods.

Levels: the level of a lead is the highest threshold whose probability reaches the alert probability (default
0.3): 0 normal, 1 warning, 2 danger, 3 extreme. A station's level is the maximum over leads; `first_date` is the
valid date (issue date + lead) of the first lead at that level and `level_probability` the largest probability
of exceeding that level's threshold over the leads (for level 0: of the lowest usable threshold, or NaN when
the station has no usable threshold). A basin's level is the maximum over its stations.

Trend (discharge): reference r = the last observation (`last_obs_m3s`), else the lead-1 median. `rising` when the
largest forecast median over the leads exceeds r by more than `trend_tolerance` (default 10 %), else `falling`
when the median at the last lead is below r by more than that, else `steady`; '' when nothing is known. A
level-only post (no discharge forecast) gets the trend of its level median from lead 1 on, with 10 cm tolerance.

Thresholds in cm need a water-level forecast (`water_level_cm(station, lead, quantile)`, made by the forecast
through the station's rating curve, forecasting.rating): without it their probabilities are NaN and a station
whose thresholds are all unusable is level 0 with the reason in `level_message` ("no thresholds usable: ...",
with the rating curve's reason), as is a station without thresholds ("no thresholds").
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from forecasting.config import DEFAULTS
from forecasting.thresholds import KINDS

LEVEL_LABELS: dict[int, str] = {0: "normal", 1: "warning", 2: "danger", 3: "extreme"}
LEVEL_TREND_CM = 10.0  # a level forecast rises or falls when its median moves more than this over the leads, cm
TAIL_SCALE_FLOOR = 0.005  # minimum tail scale in log discharge (0.5 %)
# minimum tail scale of a linear variable (water level, cm): absolute, since a level may be read from a gauge zero
# (300 cm) or as an elevation (56,000 cm) and its spread does not grow with it
LINEAR_TAIL_FLOOR = 1.0


def exceedance_probability(
    quantiles: np.ndarray, levels: np.ndarray, threshold: np.ndarray | float, log: bool | np.ndarray = True
) -> np.ndarray:
    """P(X > threshold) from predictive quantiles (last axis of `quantiles`, at probability `levels`).

    `threshold` broadcasts against `quantiles[..., 0]`. With `log` true the CDF is interpolated in log(x) where
    the lowest quantile and the threshold are > 0 (else linearly). Tails: see the module docstring. NaN in any
    quantile or in the threshold gives NaN. Quantiles are sorted first (non-crossing).
    """
    q = np.sort(np.asarray(quantiles, dtype="float64"), axis=-1)
    tau = np.asarray(levels, dtype="float64")
    if q.shape[-1] != tau.size or tau.size < 2:
        raise ValueError(f"need >= 2 quantile levels matching the last axis ({q.shape[-1]} values, {tau.size} levels)")
    if np.any(np.diff(tau) <= 0) or tau[0] <= 0 or tau[-1] >= 1:
        raise ValueError(f"quantile levels must increase strictly within (0, 1): {tau}")
    t = np.broadcast_to(np.asarray(threshold, dtype="float64"), q.shape[:-1])
    use_log = np.asarray(log, dtype=bool) & (q[..., 0] > 0) & (t > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(use_log[..., None], np.log(np.where(q > 0, q, 1.0)), q)
        zt = np.where(use_log, np.log(np.where(t > 0, t, 1.0)), t)
        floor = np.where(use_log, TAIL_SCALE_FLOOR, LINEAR_TAIL_FLOOR)

        k = tau.size
        idx = np.sum(z <= zt[..., None], axis=-1)  # number of quantiles at or below the threshold
        # interior: z_i <= zt < z_{i+1}
        i = np.clip(idx - 1, 0, k - 2)
        zi = np.take_along_axis(z, i[..., None], axis=-1)[..., 0]
        zj = np.take_along_axis(z, (i + 1)[..., None], axis=-1)[..., 0]
        frac = np.where(zj > zi, (zt - zi) / np.where(zj > zi, zj - zi, 1.0), 1.0)
        cdf_mid = tau[i] + (tau[i + 1] - tau[i]) * np.clip(frac, 0.0, 1.0)
        # upper tail: zt >= z_K
        b_up = np.maximum((z[..., -1] - z[..., -2]) / np.log((1 - tau[-2]) / (1 - tau[-1])), floor)
        p_up = (1 - tau[-1]) * np.exp(-np.maximum(zt - z[..., -1], 0.0) / b_up)  # used where zt >= z_K only
        # lower tail: zt < z_1
        b_lo = np.maximum((z[..., 1] - z[..., 0]) / np.log(tau[1] / tau[0]), floor)
        p_lo = 1 - tau[0] * np.exp(-np.maximum(z[..., 0] - zt, 0.0) / b_lo)  # used where zt < z_1 only

        p = np.where(idx >= k, p_up, np.where(idx == 0, p_lo, 1 - cdf_mid))
    bad = np.isnan(t) | np.isnan(q).any(axis=-1)
    return np.where(bad, np.nan, p)


def levels_from_probabilities(
    p_exceed: np.ndarray, alert_probability: float = DEFAULTS.alert_probability
) -> np.ndarray:
    """Level 0-3 from P(exceed) with the thresholds on the last axis (warning, danger, extreme); NaN never alerts."""
    reached = np.nan_to_num(p_exceed, nan=-1.0) >= alert_probability
    n = p_exceed.shape[-1]
    level = np.zeros(p_exceed.shape[:-1], dtype=np.int8)
    for k in range(n):
        level = np.where(reached[..., k], np.int8(k + 1), level)
    return level.astype(np.int8)


def _threshold_arrays(stations: list[str], thresholds: pd.DataFrame) -> tuple[np.ndarray, ...]:
    n = len(stations)
    value = np.full((n, len(KINDS)), np.nan)
    units = np.full((n, len(KINDS)), "", dtype=object)
    source = np.full((n, len(KINDS)), "", dtype=object)
    years = np.full((n, len(KINDS)), "", dtype=object)
    pos = {s: i for i, s in enumerate(stations)}
    kpos = {k: j for j, k in enumerate(KINDS)}
    for r in thresholds.itertuples(index=False):
        i, j = pos.get(str(r.station_id)), kpos.get(str(r.kind))
        if i is None or j is None or not np.isfinite(float(r.value)):
            continue
        value[i, j] = float(r.value)
        units[i, j] = str(r.units)
        source[i, j] = str(r.source) if isinstance(r.source, str) else ""
        y = getattr(r, "years", None)
        years[i, j] = y if isinstance(y, str) else ""
    return value, units, source, years


def _trend(median: np.ndarray, last_obs: np.ndarray, tolerance: float, abs_tolerance: float = 1e-3) -> np.ndarray:
    """rising | steady | falling per station from medians (station, lead) and last observations (station); a change
    counts beyond `tolerance` x the reference + `abs_tolerance`."""
    out = np.full(median.shape[0], "", dtype=object)
    for s in range(median.shape[0]):
        m = median[s]
        if np.all(np.isnan(m)):
            continue
        ref = last_obs[s] if np.isfinite(last_obs[s]) else m[np.isfinite(m)][0]
        tol = tolerance * abs(ref) + abs_tolerance
        finite = m[np.isfinite(m)]
        if np.max(finite) > ref + tol:
            out[s] = "rising"
        elif finite[-1] < ref - tol:
            out[s] = "falling"
        else:
            out[s] = "steady"
    return out


def add_risk(
    forecast: xr.Dataset,
    thresholds: pd.DataFrame,
    alert_probability: float = DEFAULTS.alert_probability,
    threshold_version: int | None = None,
    trend_tolerance: float = 0.10,
) -> xr.Dataset:
    """The forecast dataset with the risk variables of data/FORMATS.md added (a new dataset).

    `thresholds`: a threshold table (forecasting.thresholds: station_id, kind, value, units m3/s|cm, source
    [, years]). Adds `threshold`, `threshold_units`, `threshold_source`, `threshold_years` (station, threshold);
    `p_exceed` (station, lead, threshold); `level` (station, lead) int8; `station_level`, `first_date`,
    `level_probability`, `trend`, `level_message` (station); attrs `alert_probability`, `threshold_version`.
    """
    if not 0 < alert_probability < 1:
        raise ValueError(f"alert_probability must lie in (0, 1), got {alert_probability}")
    if "discharge_m3s" not in forecast:
        raise ValueError("forecast dataset has no discharge_m3s(station, lead, quantile)")
    ds = forecast.copy()
    stations = [str(s) for s in ds["station"].values]
    levels_q = ds["quantile"].values.astype("float64")
    value, units, source, years = _threshold_arrays(stations, thresholds)

    dq = ds["discharge_m3s"].transpose("station", "lead", "quantile").values.astype("float64")
    wq = (
        ds["water_level_cm"].transpose("station", "lead", "quantile").values.astype("float64")
        if "water_level_cm" in ds
        else None
    )
    n_s, n_l = dq.shape[0], dq.shape[1]
    p = np.full((n_s, n_l, len(KINDS)), np.nan)
    for j in range(len(KINDS)):
        t = np.repeat(value[:, j][:, None], n_l, axis=1)
        is_q = (units[:, j] == "m3/s")[:, None]
        p_q = exceedance_probability(dq, levels_q, t, log=True)
        p[:, :, j] = np.where(is_q, p_q, np.nan)
        if wq is not None:
            is_cm = (units[:, j] == "cm")[:, None]
            p_cm = exceedance_probability(wq, levels_q, t, log=False)
            p[:, :, j] = np.where(is_cm, p_cm, p[:, :, j])
    level = levels_from_probabilities(p, alert_probability)

    valid = pd.DatetimeIndex(ds["valid_date"].values) if "valid_date" in ds else None
    st_level = level.max(axis=1).astype(np.int8)
    first = np.full(n_s, np.datetime64("NaT"), dtype="datetime64[ns]")
    prob = np.full(n_s, np.nan)
    message = np.full(n_s, "", dtype=object)
    status = ds["status"].values.astype(str) if "status" in ds else np.full(n_s, "ok")
    fmsg = ds["message"].values.astype(str) if "message" in ds else np.full(n_s, "")
    rnote = ds["rating_note"].values.astype(str) if "rating_note" in ds else np.full(n_s, "")
    for s in range(n_s):
        lv = int(st_level[s])
        usable = np.isfinite(p[s]).any(axis=0)  # per threshold
        if lv > 0:
            k = int(np.argmax(level[s] == lv))
            if valid is not None:
                first[s] = valid[k].to_datetime64()
            prob[s] = np.nanmax(p[s, :, lv - 1])
        elif usable.any():
            prob[s] = np.nanmax(p[s, :, int(np.argmax(usable))])
        if status[s] == "failed":
            message[s] = f"forecast failed: {fmsg[s]}".rstrip(": ")
        elif np.all(np.isnan(value[s])):
            message[s] = "no thresholds"
        elif not usable.any():
            if np.isnan(dq[s]).all():
                message[s] = "no thresholds usable: no forecast values"
            elif any(units[s, j] == "cm" for j in range(len(KINDS))) and (wq is None or np.isnan(wq[s]).all()):
                why = str(rnote[s]) if rnote[s] else "no water level observed with the discharge"
                message[s] = f"no thresholds usable: thresholds in cm need a water-level forecast ({why})"
            else:
                message[s] = "no thresholds usable"
    last_obs = (
        ds["last_obs_m3s"].values.astype("float64") if "last_obs_m3s" in ds else np.full(n_s, np.nan, dtype=float)
    )
    med_idx = int(np.argmin(np.abs(levels_q - 0.5)))
    trend = _trend(dq[:, :, med_idx], last_obs, trend_tolerance)
    if wq is not None:  # level-only posts: the trend of the level forecast, over LEVEL_TREND_CM
        by_level = _trend(wq[:, :, med_idx], np.full(n_s, np.nan), 0.0, LEVEL_TREND_CM)
        trend = np.where((trend == "") & (by_level != ""), by_level, trend)

    ds = ds.assign_coords(threshold=("threshold", np.array(KINDS, dtype=object)))
    sv, sl, st = ("station", "threshold"), ("station", "lead", "threshold"), ("station",)
    ds["threshold_value"] = (sv, value, {"long_name": "flood threshold", "comment": "units in threshold_units"})
    ds["threshold_units"] = (sv, units, {"long_name": "units of the threshold (m3/s or cm)"})
    ds["threshold_source"] = (sv, source, {"long_name": "source of the threshold"})
    ds["threshold_years"] = (sv, years, {"long_name": "years a derived threshold was fitted to"})
    ds["p_exceed"] = (
        sl,
        p,
        {"long_name": "probability of exceeding the threshold", "units": "1", "comment": "see forecasting.risk"},
    )
    ds["level"] = (
        ("station", "lead"),
        level,
        {"long_name": "flood risk level", "flag_values": np.arange(4, dtype=np.int8), "flag_meanings": _meanings()},
    )
    ds["station_level"] = (st, st_level, {"long_name": "flood risk level of the station (max over leads)"})
    ds["first_date"] = (st, first, {"long_name": "first valid date at the station level"})
    ds["level_probability"] = (st, prob, {"long_name": "probability of the station level", "units": "1"})
    ds["trend"] = (st, trend, {"long_name": "trend of the forecast median (rising|steady|falling)"})
    ds["level_message"] = (st, message, {"long_name": "why a station has no usable thresholds, if so"})
    ds.attrs["alert_probability"] = float(alert_probability)
    if threshold_version is not None:
        ds.attrs["threshold_version"] = int(threshold_version)
    return ds


def _meanings() -> str:
    return " ".join(LEVEL_LABELS.values())


STATES: dict[str, str] = {
    "ok": "a current forecast: the level is the forecast's",
    "stale": "no current data: the newest observation is older than the stale limit at the issue date",
    "climatology": "climatology only: no model forecast for the station, only the day-of-year climatology",
    "fallback": "a fallback forecast (persistence of the last observation), not a model forecast",
    "no_thresholds": "no usable thresholds: the forecast cannot be turned into a level",
    "failed": "the forecast failed",
}


def station_state(
    status: str,
    model_name: str,
    data_age_days: float | None,
    stale_after_days: int,
    has_usable_threshold: bool,
    message: str = "",
) -> tuple[str, str]:
    """The state of a station's forecast and its reason ("" when ok): the one rule of when a level may be shown.

    Only `ok` carries a level. A station is `stale` when its newest usable observation is more than
    `stale_after_days` days before the issue date (or it has none), `climatology` / `fallback` when a baseline
    made the forecast, `no_thresholds` when no threshold can be compared with it, `failed` when nothing was
    forecast. Never shown as normal: these states have no level (grey, with the reason).
    """
    message = (message or "").strip("; ")
    if status == "failed":
        return "failed", f"forecast failed: {message}" if message else "forecast failed"
    if data_age_days is None or not np.isfinite(data_age_days):
        return "stale", "no observations before the issue date"
    if data_age_days > stale_after_days:
        return "stale", f"no current data: newest observation {int(data_age_days)} days before the issue date"
    if model_name == "climatology":
        return "climatology", f"climatology only: {message}" if message else "climatology only"
    if status == "fallback":
        return "fallback", f"{model_name or 'baseline'} forecast: {message}" if message else "fallback forecast"
    if not has_usable_threshold:
        return "no_thresholds", message or "no thresholds"
    return "ok", ""


def station_summary(ds: xr.Dataset) -> pd.DataFrame:
    """One row per station of a dataset with risk added: level (nullable Int64: only for state `ok`),
    model_level (the risk computation's level, whatever the state), level_label, first_date, probability, trend,
    status, state and state_reason (`station_state`), stale, data_age_days, model_name, message, basin_id
    (coordinate `basin` where present and non-empty, else the station). The stale limit is the forecast's
    `stale_after_days` attribute (forecasting.config.DEFAULTS where absent)."""
    stations = [str(s) for s in ds["station"].values]
    n = len(stations)
    basin = (
        [str(b) if str(b) else s for s, b in zip(stations, ds["basin"].values, strict=True)]
        if "basin" in ds.coords or "basin" in ds
        else stations
    )
    status = ds["status"].values.astype(str) if "status" in ds else np.full(n, "ok")
    msg = ds["message"].values.astype(str) if "message" in ds else np.full(n, "")
    lmsg = ds["level_message"].values.astype(str)
    names = ds["model_name"].values.astype(str) if "model_name" in ds else np.full(n, "")
    age = ds["data_age_days"].values.astype(float) if "data_age_days" in ds else np.full(n, 0.0)
    stale_after = int(ds.attrs.get("stale_after_days", DEFAULTS.stale_after_days))
    usable = np.isfinite(ds["p_exceed"].values).any(axis=(1, 2)) if "p_exceed" in ds else np.zeros(n, bool)
    message = ["; ".join(x for x in (a, b) if x and x != "nan") for a, b in zip(msg, lmsg, strict=True)]
    states = [station_state(status[i], names[i], age[i], stale_after, bool(usable[i]), message[i]) for i in range(n)]
    model_level = ds["station_level"].values.astype(int)
    state = np.array([st for st, _ in states], dtype=object)
    df = pd.DataFrame(
        {
            "station_id": stations,
            "basin_id": basin,
            "level": pd.array(np.where(state == "ok", model_level, 0), dtype="Int64"),
            "model_level": model_level,
            "first_date": pd.DatetimeIndex(ds["first_date"].values),
            "probability": ds["level_probability"].values.astype(float),
            "trend": ds["trend"].values.astype(str),
            "status": status,
            "state": state,
            "state_reason": [r for _, r in states],
            "stale": state == "stale",
            "data_age_days": pd.array([None if not np.isfinite(a) else int(a) for a in age], dtype="Int64"),
            "model_name": names,
            "message": message,
        }
    )
    df.loc[df["state"] != "ok", "level"] = pd.NA
    df["level_label"] = [LEVEL_LABELS[int(v)] if not pd.isna(v) else s for v, s in zip(df["level"], state, strict=True)]
    return df


def basin_levels(summary: pd.DataFrame, basin_of: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Basin roll-up of `station_summary`: level = max over its stations that have a level (state ok; NA when none
    has), first_date the earliest first date and probability the largest probability among the stations at that
    level; n_stations; n_no_level, the stations without a current level (stale, climatology, fallback, failed, no
    thresholds), which the basin must name."""
    df = summary.copy()
    if basin_of is not None:
        df["basin_id"] = [basin_of.get(s, b) for s, b in zip(df["station_id"], df["basin_id"], strict=True)]
    rows = []
    for bid, grp in df.groupby("basin_id", sort=True):
        have = grp[grp["level"].notna()]
        lv = int(have["level"].max()) if len(have) else None
        top = have[have["level"] == lv] if lv is not None else have
        rows.append(
            {
                "basin_id": str(bid),
                "level": lv,
                "level_label": LEVEL_LABELS[lv] if lv is not None else "no_data",
                "first_date": top["first_date"].min() if lv else pd.NaT,
                "probability": float(top["probability"].max()) if top["probability"].notna().any() else np.nan,
                "n_stations": len(grp),
                "n_no_level": int(grp["level"].isna().sum()),
                "station_ids": sorted(grp["station_id"]),
            }
        )
    out = pd.DataFrame(
        rows,
        columns=[
            "basin_id",
            "level",
            "level_label",
            "first_date",
            "probability",
            "n_stations",
            "n_no_level",
            "station_ids",
        ],
    )
    out["level"] = pd.array(out["level"], dtype="Int64")
    return out
