"""Features as of the issue date: for an issue day t only observations of days <= t are used.

Every feature is a backward-looking function of the daily series (rolling windows ending on t, lags, a causal
snow-store recursion), so the feature row of day t is unchanged when data after t changes (tests check this).
Per-station constants (discharge scale, day-of-year climatology, snow parameters) are fitted on training years
only (`fit_context`) and stored with the model.

Units: discharge m3/s (features on log scale relative to the station's median), precipitation mm/day,
temperature degC, SWE mm. The target of lead k is the change of log discharge from day t to day t+k.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.snowmodel import SnowParams, fit_snow_params, simulate

Q_FFILL_DAYS = 3  # a discharge missing on t is carried from the last observation at most this many days back
INPUT_GROUPS: dict[str, tuple[str, ...]] = {
    "discharge_m3s": ("discharge_m3s",),
    "precip_mm": ("precip_mm",),
    "tmean_c": ("tmean_c", "tmin_c", "tmax_c"),
    "swe_mm": ("swe_mm",),
}
SWE_COVER_MM = 5.0  # basin SWE above this counts as snow-covered, mm
DEPTH_COVER_CM = 2.0  # snow depth above this counts as snow-covered where SWE is missing, cm
STORE_COVER_MM = 5.0  # estimated (degree-day) store above this counts as snow-covered, mm
# Snow features (measured SWE / snow depth and the degree-day snow store): dropped with snow=False (ablation).
SNOW_FEATURES: tuple[str, ...] = (
    "swe0",
    "dswe3",
    "dswe7",
    "swe_melt3",
    "swe_melt7",
    "snow_cover",
    "snow_store",
    "snow_dstore7",
    "melt3",
    "melt7",
    "winput3",
    "winput7",
    "winput30",
    "store_cover",
    "melt_potential",
)
TANOM_DECAY = 0.8  # a temperature anomaly is assumed to decay by this factor per day over the lead window
# Weather forecasts (NWP) as inputs. A station frame may carry, for each issue day t, the forecast of the newest
# usable NWP run for the days t+j (j = 0..NWP_MAX_DAY; j = 0 is the issue day itself) in the columns
# `nwp_column(variable, j)` (forecasting.forcing builds them from the forcing store, an archive, or the observed
# future for the upper bound). A model trained with NWP inputs (`LGBMParams.nwp`) uses the days t+1..t+k of lead k.
NWP_MAX_DAY = 10
NWP_VARIABLES: tuple[str, ...] = ("precip_mm", "tmean_c")  # daily sum (mm) and daily mean air temperature (degC)
NWP_FEATURES: dict[str, tuple[str, ...]] = {  # features of lead k per NWP variable
    "precip_mm": ("nwp_p_sum", "nwp_p_max", "nwp_p_last", "nwp_p_last2", "nwp_winput"),
    "tmean_c": ("nwp_t_mean", "nwp_t_anom", "nwp_dd", "nwp_melt"),
}


def nwp_column(variable: str, day: int, draw: int = 0) -> str:
    """Frame column of the NWP forecast of `variable` for day t+`day` (issued by the issue day t). `draw` > 0: the
    column of another draw of degraded training forcing (forecasting.forcing.training_forcing), for training only."""
    return f"nwp_{variable}_d{int(day)}" + (f"_r{int(draw)}" if draw else "")


def nwp_draws(df: pd.DataFrame) -> int:
    """How many draws of training forcing a station frame carries (1: only the `nwp_column` columns)."""
    n = 1
    while any(nwp_column(v, 1, n) in df for v in NWP_VARIABLES):
        n += 1
    return n


def with_nwp_draw(df: pd.DataFrame, draw: int) -> pd.DataFrame:
    """The frame with draw `draw`'s training forcing in the `nwp_column` columns (draw 0: the frame itself)."""
    if draw == 0:
        return df
    names = {nwp_column(v, j, draw): nwp_column(v, j) for v in NWP_VARIABLES for j in range(NWP_MAX_DAY + 1)}
    names = {c: base for c, base in names.items() if c in df}
    return df.drop(columns=[base for base in names.values() if base in df]).rename(columns=names)


@dataclass
class StationContext:
    """Per-station constants fitted on the training years (JSON-serialisable via to_dict)."""

    station_id: str
    qscale: float  # median discharge of the flowing (Q > 0) days of the training years, m3/s
    offset: float  # added before taking logs, m3/s (1% of qscale)
    clim: list[float] = field(default_factory=list)  # mean log(Q/qscale) by day of year (366 values, smoothed)
    tclim: list[float] = field(default_factory=list)  # mean air temperature by day of year, degC (366, smoothed)
    snow: SnowParams | None = None
    log_area: float = float("nan")
    train_start: str = ""
    train_end: str = ""

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["snow"] = self.snow.to_dict() if self.snow else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> StationContext:
        d = dict(d)
        d["snow"] = SnowParams(**d["snow"]) if d.get("snow") else None
        return cls(**d)


def inputs_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Standard inputs from a station frame (by date): q (m3/s, carried forward <= Q_FFILL_DAYS), q_obs (as
    observed), p (mm/day), t (mean air temperature degC, from tmean_c or (tmin_c + tmax_c)/2), swe (mm),
    tmax/tmin (degC, where given), snow_depth (cm, where given)."""
    idx = pd.DatetimeIndex(df.index)
    complete = len(idx) > 0 and bool(np.all(np.diff(idx.values) == np.timedelta64(1, "D")))  # already daily
    if not complete:  # gaps in the dates: every day of the period, NaN where not given
        full = pd.date_range(idx.min(), idx.max(), freq="D") if len(idx) else idx
        df = df.reindex(full)
        idx = pd.DatetimeIndex(df.index)
    n = len(idx)

    def col(name: str) -> np.ndarray:
        return df[name].to_numpy(dtype="float64") if name in df else np.full(n, np.nan)

    q_obs = col("discharge_m3s")
    tmin, tmax = col("tmin_c"), col("tmax_c")
    t = col("tmean_c")
    t = np.where(np.isnan(t), (tmin + tmax) / 2.0, t)
    return pd.DataFrame(
        {
            "q": _ffill(q_obs, Q_FFILL_DAYS),
            "q_obs": q_obs,
            "p": col("precip_mm"),
            "t": t,
            "swe": col("swe_mm"),
            "tmax": tmax,
            "tmin": tmin,
            "snow_depth": col("snow_depth_cm"),
        },
        index=idx,
    )


def _ffill(a: np.ndarray, limit: int) -> np.ndarray:
    """Each NaN replaced by the last known value at most `limit` positions back (pandas' ffill(limit=...))."""
    pos = np.arange(len(a))
    last = np.maximum.accumulate(np.where(np.isnan(a), -1, pos)) if len(a) else pos
    take = (last >= 0) & (pos - last <= limit)
    return np.where(take, a[np.clip(last, 0, None)], np.nan) if len(a) else a.copy()


def _doy(index: pd.DatetimeIndex) -> np.ndarray:
    return np.minimum(index.day_of_year.to_numpy(), 366) - 1


def _doy_climatology(values: pd.Series, window: int) -> list[float] | None:
    """Mean of a daily series by day of year (366 values), gaps interpolated around the year, smoothed with a
    centred `window`-day running mean; None when the series is empty."""
    by_doy = values.groupby(_doy(pd.DatetimeIndex(values.index))).mean().reindex(range(366)).to_numpy()
    if np.isnan(by_doy).all():
        return None
    vals = pd.Series(np.concatenate([by_doy, by_doy, by_doy])).interpolate(limit_direction="both").to_numpy()
    smooth = pd.Series(vals).rolling(window, center=True, min_periods=1).mean().to_numpy()[366:732]
    return [float(v) for v in smooth]


def fit_context(
    station_id: str, df: pd.DataFrame, train_end: pd.Timestamp | None = None, area_km2: float = float("nan")
) -> StationContext:
    """Fit the per-station constants on data up to and including `train_end` (all of `df` if None)."""
    inp = inputs_frame(df)
    if train_end is not None:
        inp = inp.loc[: pd.Timestamp(train_end)]
    q = inp["q_obs"].dropna()
    if q.empty:
        raise ValueError(f"station {station_id}: no discharge observations to train on")
    positive = q[q > 0]  # zero-flow days (frozen or dry rivers) do not set the scale
    qscale = float(max(positive.median() if len(positive) else 0.0, 1e-3))
    offset = 0.01 * qscale
    lqn = np.log((inp["q_obs"] + offset) / qscale)
    clim = _doy_climatology(lqn, 31) or [0.0] * 366
    snow = fit_snow_params(inp["p"], inp["t"], inp["q_obs"])
    return StationContext(
        station_id=str(station_id),
        qscale=qscale,
        offset=offset,
        clim=clim,
        tclim=_doy_climatology(inp["t"], 15) or [],
        snow=snow,
        log_area=float(np.log(area_km2)) if area_km2 and area_km2 > 0 else float("nan"),
        train_start=str(q.index.min().date()),
        train_end=str(q.index.max().date()),
    )


def log_q(q: pd.Series | np.ndarray, ctx: StationContext) -> np.ndarray:
    """log((Q + offset) / qscale), Q in m3/s."""
    return np.log((np.asarray(q, dtype=float) + ctx.offset) / ctx.qscale)


def inv_log_q(lq: np.ndarray, ctx: StationContext) -> np.ndarray:
    """Inverse of log_q, clipped at 0 m3/s."""
    return np.clip(np.exp(lq) * ctx.qscale - ctx.offset, 0.0, None)


def build_features(df: pd.DataFrame, ctx: StationContext, snow: bool = True, nwp: tuple[str, ...] = ()) -> pd.DataFrame:
    """Feature rows for every day of `df` (a station frame by date); row t uses data of days <= t only, and with
    `nwp` (NWP variables, see NWP_VARIABLES) the weather forecast issued by day t (`nwp_column` columns, kept as
    raw `nwpd_*` columns that `lead_features` turns into the features of each lead and drops).

    Snow features (`SNOW_FEATURES`): basin SWE (mm), its 3/7-day change, melt (the positive SWE decrease summed
    over 3/7 days, mm), a snow-covered indicator (SWE > SWE_COVER_MM, or snow depth > DEPTH_COVER_CM where SWE is
    missing; NaN when neither is measured), and the degree-day snow store estimated from precipitation and
    temperature (store, change, melt, rain + melt input, covered indicator). With `snow=False` they are left out
    (the snow ablation of the backtest); temperature and degree-day sums stay."""
    inp = inputs_frame(df)
    idx = pd.DatetimeIndex(inp.index)
    lq = log_q(inp["q"], ctx)
    f: dict[str, np.ndarray | float] = {"lq0": lq}
    for k in (1, 2, 3, 5, 7, 14, 30):
        f[f"dlq_{k}"] = lq - _shift(lq, k)
    d1 = lq - _shift(lq, 1)
    f["dlq_std7"] = _rolling(d1, 7, 4, "std")
    f["lq_rel_mean7"] = _rolling(lq, 7, 4, "mean") - lq
    f["lq_rel_mean30"] = _rolling(lq, 30, 15, "mean") - lq
    f["lq_rel_max7"] = _rolling(lq, 7, 4, "max") - lq
    f["lq_rel_min30"] = lq - _rolling(lq, 30, 15, "min")
    clim = np.asarray(ctx.clim, dtype=float)
    doy = _doy(idx)
    f["lq_anom"] = lq - clim[doy]
    p = inp["p"].to_numpy(dtype=float)
    f["p0"] = p
    f["p1"] = _shift(p, 1)
    f["p2"] = _shift(p, 2)
    for w in (3, 7, 14, 30):
        f[f"psum{w}"] = _rolling(p, w, max(1, w // 2), "sum")
    t = inp["t"].to_numpy(dtype=float)
    f["t0"] = t
    f["tmean3"] = _rolling(t, 3, 2, "mean")
    f["tmean7"] = _rolling(t, 7, 4, "mean")
    tpos = np.where(np.isnan(t), np.nan, np.maximum(t, 0.0))
    f["dd7"] = _rolling(tpos, 7, 4, "sum")
    f["dd30"] = _rolling(tpos, 30, 15, "sum")
    tmax, tmin = inp["tmax"].to_numpy(dtype=float), inp["tmin"].to_numpy(dtype=float)
    f["tmax0"] = tmax  # NaN where only the daily mean is known (the model handles missing values)
    f["dtr0"] = tmax - tmin  # diurnal range: clear-sky melt days
    swe = inp["swe"].to_numpy(dtype=float)
    has_swe = ~np.isnan(swe)
    f["swe0"] = swe
    f["dswe3"] = swe - _shift(swe, 3)
    f["dswe7"] = swe - _shift(swe, 7)
    swe_loss = -(swe - _shift(swe, 1))
    swe_loss = np.where(np.isnan(swe_loss), np.nan, np.maximum(swe_loss, 0.0))  # NaN unless measured both days
    f["swe_melt3"] = np.where(has_swe, _rolling(swe_loss, 3, 1, "sum"), np.nan)
    f["swe_melt7"] = np.where(has_swe, _rolling(swe_loss, 7, 1, "sum"), np.nan)
    depth = inp["snow_depth"].to_numpy(dtype=float)
    cover = np.where(has_swe, (swe > SWE_COVER_MM).astype(float), np.nan)
    depth_cover = np.where(np.isnan(depth), np.nan, (depth > DEPTH_COVER_CM).astype(float))
    f["snow_cover"] = np.where(np.isnan(cover), depth_cover, cover)
    if ctx.snow is not None and not np.isnan(p).all() and not np.isnan(t).all():
        store, melt, winput = (a[:, 0] for a in simulate(p, t, ctx.snow.t_snow, ctx.snow.t_melt, ctx.snow.melt_factor))
        f["snow_store"] = store
        f["snow_dstore7"] = store - _shift(store, 7)
        f["melt3"] = _rolling(melt, 3, 1, "sum")
        f["melt7"] = _rolling(melt, 7, 1, "sum")
        for w in (3, 7, 30):
            f[f"winput{w}"] = _rolling(winput, w, 1, "sum")
        f["store_cover"] = (store > STORE_COVER_MM).astype(float)
    else:
        for name in ("snow_store", "snow_dstore7", "melt3", "melt7", "winput3", "winput7", "winput30", "store_cover"):
            f[name] = np.nan
    ang = 2 * np.pi * doy / 365.25
    f["doy_sin"] = np.sin(ang)
    f["doy_cos"] = np.cos(ang)
    f["log_area"] = ctx.log_area
    f["log_qscale"] = float(np.log(ctx.qscale))
    if not snow:
        f = {k: v for k, v in f.items() if k not in SNOW_FEATURES}
    for var in nwp:
        if var not in NWP_VARIABLES:
            raise ValueError(f"unknown NWP variable '{var}' (known: {', '.join(NWP_VARIABLES)})")
        tag = "p" if var == "precip_mm" else "t"
        for j in range(NWP_MAX_DAY + 1):
            col = nwp_column(var, j)
            f[f"nwpd_{tag}{j}"] = df[col].reindex(idx).to_numpy(dtype=float) if col in df else np.nan
    n = len(idx)
    matrix = np.column_stack([np.broadcast_to(np.asarray(v, dtype=float), (n,)) for v in f.values()]) if f else None
    out = pd.DataFrame(matrix, index=idx, columns=list(f))
    out.index.name = "date"
    return out


def _shift(a: np.ndarray, k: int) -> np.ndarray:
    """The series `k` days back (NaN for the first k days), as pandas' shift(k)."""
    out = np.full(len(a), np.nan)
    if 0 < k < len(a):
        out[k:] = a[:-k]
    return out


def _rolling(a: np.ndarray, window: int, min_periods: int, how: str) -> np.ndarray:
    """A trailing `window`-day statistic ending on each day, NaN-skipping, NaN where fewer than `min_periods`
    values are known (pandas' rolling(window, min_periods) sum / mean / std (ddof 1) / max / min)."""
    n = len(a)
    if n == 0:
        return np.zeros(0)
    win = np.lib.stride_tricks.sliding_window_view(np.concatenate([np.full(window - 1, np.nan), a]), window)
    known = ~np.isnan(win)
    count = known.sum(axis=1)
    ok = count >= max(min_periods, 1)
    out = np.full(n, np.nan)
    if not ok.any():
        return out
    w, c = win[ok], count[ok]
    if how == "sum":
        out[ok] = np.where(known[ok], w, 0.0).sum(axis=1)
    elif how in ("mean", "std"):
        total = np.where(known[ok], w, 0.0).sum(axis=1)
        mean = total / c
        if how == "mean":
            out[ok] = mean
        else:
            dev = np.where(known[ok], w - mean[:, None], 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[ok] = np.where(c > 1, np.sqrt((dev**2).sum(axis=1) / (c - 1)), np.nan)
    elif how == "max":
        out[ok] = np.where(known[ok], w, -np.inf).max(axis=1)
    elif how == "min":
        out[ok] = np.where(known[ok], w, np.inf).min(axis=1)
    else:
        raise ValueError(f"unknown rolling statistic {how}")
    return out


def lead_features(base: pd.DataFrame, ctx: StationContext, lead: int) -> pd.DataFrame:
    """Add the lead-specific features: the climatological change of log discharge from t to t+lead, and (with the
    snow features) `melt_potential`, the melt (mm) the degree-day snow store on day t could give over days t+1..t+lead
    at the climatological temperature of those days plus today's 3-day anomaly decaying by TANOM_DECAY per day,
    capped by the store. Both use constants of the training years and data of days <= t only."""
    clim = np.asarray(ctx.clim, dtype=float)
    doy = _doy(pd.DatetimeIndex(base.index))
    kept = [c for c in base.columns if not str(c).startswith("nwpd_")]  # raw NWP columns become features below
    extra: dict[str, np.ndarray] = {"clim_dlq": clim[(doy + lead) % 366] - clim[doy]}
    if "snow_store" in base:
        extra["melt_potential"] = melt_potential(base, ctx, lead)
    if len(kept) < len(base.columns):
        extra.update(nwp_lead_features(base, ctx, lead))
    values = np.column_stack([base[kept].to_numpy(dtype=float), *extra.values()]) if len(base) else None
    return pd.DataFrame(values, index=base.index, columns=[*kept, *extra], dtype=float)


def _window_temperature(base: pd.DataFrame, ctx: StationContext, lead: int) -> np.ndarray | None:
    """Air temperature of days t+1..t+lead (rows x lead, degC): the NWP forecast where the model has it, else the
    climatology of those days plus today's 3-day anomaly decaying by TANOM_DECAY per day; None without either."""
    if "nwpd_t1" in base:
        return np.column_stack([base[f"nwpd_t{j}"].to_numpy(dtype=float) for j in range(1, lead + 1)])
    if len(ctx.tclim) != 366 or "tmean3" not in base:
        return None
    tclim = np.asarray(ctx.tclim, dtype=float)
    doy = _doy(pd.DatetimeIndex(base.index))
    anom = np.nan_to_num(base["tmean3"].to_numpy(dtype=float) - tclim[doy], nan=0.0)
    return np.column_stack([tclim[(doy + j) % 366] + anom * TANOM_DECAY**j for j in range(1, lead + 1)])


def nwp_lead_features(base: pd.DataFrame, ctx: StationContext, lead: int) -> dict[str, np.ndarray]:
    """The NWP features of lead k (days t+1..t+k of the forecast issued by t; NaN where the run lacks a day):

    precipitation (mm): `nwp_p_sum` (sum), `nwp_p_max` (largest day), `nwp_p_last` (day t+k), `nwp_p_last2`
    (days t+k-1..t+k), `nwp_winput` (rain plus snowmelt over the window: the degree-day snow store of day t run
    forward with the forecast precipitation and the forecast temperature, else the climatological one);
    temperature (degC): `nwp_t_mean` (mean), `nwp_t_anom` (mean minus the climatology of those days), `nwp_dd`
    (degree-days above 0 degC), `nwp_melt` (snowmelt of the forward-run store, mm)."""
    out: dict[str, np.ndarray] = {}
    n = len(base)
    k = int(lead)
    has_p = "nwpd_p1" in base
    has_t = "nwpd_t1" in base
    p = np.column_stack([base[f"nwpd_p{j}"].to_numpy(dtype=float) for j in range(1, k + 1)]) if has_p else None
    t = _window_temperature(base, ctx, k)
    if has_p:
        out["nwp_p_sum"] = p.sum(axis=1)
        out["nwp_p_max"] = p.max(axis=1)
        out["nwp_p_last"] = p[:, -1]
        out["nwp_p_last2"] = p[:, -2:].sum(axis=1)
    melt = np.full(n, np.nan)
    winput = p.sum(axis=1) if has_p else np.full(n, np.nan)
    if ctx.snow is not None and "snow_store" in base and t is not None:
        store = np.nan_to_num(base["snow_store"].to_numpy(dtype=float), nan=0.0)
        pw = p if has_p else np.zeros((n, k))
        melt = np.zeros(n)
        winput = np.zeros(n)
        for j in range(k):
            tj, pj = t[:, j], pw[:, j]
            snowfall = np.where(tj < ctx.snow.t_snow, pj, 0.0)
            store = store + snowfall
            m = np.minimum(store, np.clip(ctx.snow.melt_factor * (tj - ctx.snow.t_melt), 0.0, None))
            store = store - m
            melt = melt + m
            winput = winput + m + (pj - snowfall)
        bad_t = np.isnan(t).any(axis=1)
        melt[bad_t] = np.nan
        winput[bad_t | (np.isnan(p).any(axis=1) if has_p else False)] = np.nan
    if has_p:
        out["nwp_winput"] = winput
    if has_t:
        out["nwp_t_mean"] = t.mean(axis=1)
        if len(ctx.tclim) == 366:
            tclim = np.asarray(ctx.tclim, dtype=float)
            doy = _doy(pd.DatetimeIndex(base.index))
            clim_w = np.column_stack([tclim[(doy + j) % 366] for j in range(1, k + 1)])
            out["nwp_t_anom"] = (t - clim_w).mean(axis=1)
        else:
            out["nwp_t_anom"] = np.full(n, np.nan)
        out["nwp_dd"] = np.clip(t, 0.0, None).sum(axis=1)
        out["nwp_melt"] = melt
    return out


def melt_potential(base: pd.DataFrame, ctx: StationContext, lead: int) -> np.ndarray:
    """Potential snowmelt over days t+1..t+lead, mm (see `lead_features`); NaN without a snow store or a
    temperature climatology."""
    store = base["snow_store"].to_numpy(dtype=float)
    if ctx.snow is None or len(ctx.tclim) != 366:
        return np.full(len(base), np.nan)
    tclim = np.asarray(ctx.tclim, dtype=float)
    doy = _doy(pd.DatetimeIndex(base.index))
    anom = np.nan_to_num(base["tmean3"].to_numpy(dtype=float) - tclim[doy], nan=0.0)
    melt = np.zeros(len(base))
    for j in range(1, lead + 1):
        t_j = tclim[(doy + j) % 366] + anom * TANOM_DECAY**j
        melt += ctx.snow.melt_factor * np.maximum(t_j - ctx.snow.t_melt, 0.0)
    return np.minimum(store, melt)


def targets(df: pd.DataFrame, ctx: StationContext, leads: list[int]) -> pd.DataFrame:
    """Target of lead k at issue day t: log(Q(t+k)+c) - log(Q(t)+c) with Q(t) as used by the features."""
    inp = inputs_frame(df)
    lq0 = log_q(inp["q"], ctx)
    lq_obs = pd.Series(log_q(inp["q_obs"], ctx), index=inp.index)
    return pd.DataFrame({k: lq_obs.shift(-k).to_numpy() - lq0 for k in leads}, index=inp.index)


def missing_inputs(df: pd.DataFrame, day: pd.Timestamp, lookback_days: int = 3) -> list[str]:
    """Input groups with no value in the `lookback_days` days ending on `day` (discharge, precip, temperature,
    SWE)."""
    day = pd.Timestamp(day)
    win = df.loc[day - pd.Timedelta(days=lookback_days - 1) : day] if len(df) else df
    missing = []
    for group, cols in INPUT_GROUPS.items():
        present = [c for c in cols if c in win]
        if not present or all(win[c].isna().all() for c in present):
            missing.append(group)
    return missing
