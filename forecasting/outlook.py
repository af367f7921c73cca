"""The spring flood outlook: expected flood-season runoff volume and peak discharge from the snow on the issue date.

Kazhydromet issues it on 1 February (preliminary) and 1 March (main), then weekly. For each basin and issue date t:

Predictands (per year, from the basin's outlet gauge)
- volume: runoff from max(t, season start) to the season end (default 1 March .. 31 July, per basin
  configurable), million m3 (and mm over the basin when its area is known: mm = 1000 * Mm3 / km2);
- peak: the largest daily mean discharge in the same window, m3/s (the spring flood peak).
  A year's value needs >= 90% of the window's days observed (volume scaled from the mean of the observed days).

Predictors (all known on the issue day: data up to and including day t-1)
- snow: basin SWE on t-1, mm. `measured` = the latest measured SWE within 10 days before t;
  `degree-day` = a degree-day snow store from daily P and mean T (snow below T_s, melt m*(T - T_m), reset on
  1 September), with (T_s, T_m, m) chosen from a small grid on the training years only (by the cross-validated fit of
  the volume regression); `hybrid` = measured where present, else the degree-day store mapped onto the measured scale
  by a linear fit over the training years that have both. `auto` = hybrid when >= 10 years have measured SWE,
  else degree-day.
- autumn-winter precipitation: sum of P from 1 October of the previous year to t-1, mm;
- flow at the issue date: mean discharge over the 10 days before t, m3/s (basin storage / base flow).

Model: ridge regression on standardised predictors (alpha = 5, intercept free), fitted by least squares on the
record's years (~40-50 samples); the peak is modelled in log space. The 80% range is the prediction plus the
10% and 90% quantiles of the leave-one-out residuals of the fit (hat-matrix shortcut). The norm is the mean of the
predictand over the record's years; values are also given as a percentage of the norm.

Evaluation: leave-one-year-out cross-validation (the held-out year is excluded from the regression, the degree-day
parameter choice, the hybrid mapping and the norm), scored with the Central Asian criterion: accuracy P = share of
years with |error| <= 0.674 sigma, sigma = standard deviation of the predictand over the years (ddof=1); S/sigma =
RMSE/sigma; and skill versus the norm = 1 - MSE/MSE(norm), the norm being the mean of the other years.

Everything here is pure (pandas/numpy in, dicts out). Days are local days.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from forecasting import flags, snowmodel

TARGETS: tuple[str, ...] = ("volume", "peak")
ALLOWABLE = 0.674  # allowable error in units of sigma (Central Asian criterion)
# Degree-day parameter grid: snow threshold T_s (degC), melt threshold T_m (degC), melt factor m (mm/degC/day).
DD_GRID: tuple[tuple[float, float, float], ...] = tuple(
    itertools.product((0.0, 1.0, 2.0), (-1.0, 0.0, 1.0), (1.5, 2.5, 3.5, 5.0))
)


@dataclass(frozen=True)
class OutlookConfig:
    """Settings of the outlook for one basin (dates as MM-DD)."""

    season_start: str = "03-01"
    season_end: str = "07-31"
    precip_start: str = "10-01"  # autumn-winter precipitation from this day of the previous year
    snow_reset: str = "09-01"  # the degree-day snow store starts empty on this day
    flow_days: int = 10  # days before the issue date averaged for the flow predictor
    swe_max_age_days: int = 10  # a measured SWE older than this on the issue date does not count
    snow_source: str = "auto"  # auto | measured | degree-day | hybrid | none
    min_hybrid_years: int = 10
    min_years: int = 8  # fewer complete years: no outlook
    min_complete: float = 0.9  # share of observed days a year's window needs
    homogenise: bool = True  # remove a step change in the precipitation record (homogenise_precip)
    ridge_alpha: float = 5.0
    log_targets: tuple[str, ...] = ("peak",)
    range_level: float = 0.8
    dd_grid: tuple[tuple[float, float, float], ...] = field(default=DD_GRID)


# ---------------------------------------------------------------- basin series


def basin_frame(ds: xr.Dataset, stations: list[str], outlet: str) -> pd.DataFrame:
    """Daily basin series from the store: `q` (outlet discharge, m3/s), `p` (mm), `t` (mean degC), `swe` (mm).

    P, T and SWE are means over the basin's stations that have them; T is tmean_c, else (tmin_c + tmax_c) / 2.
    Values with a BAD QC flag are masked.
    """
    time = pd.DatetimeIndex(ds["time"].values)

    def clean(var: str, sids: list[str]) -> np.ndarray:
        if var not in ds:
            return np.full((len(sids), len(time)), np.nan)
        v = ds[var].sel(station=sids).values.astype("float64")
        qcn = f"{var}_qc"
        if qcn in ds:
            v = np.where((ds[qcn].sel(station=sids).values & flags.BAD) != 0, np.nan, v)
        return v

    def mean(a: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"), _quiet():
            return np.nanmean(a, axis=0)

    q = clean("discharge_m3s", [outlet])[0]
    p = mean(clean("precip_mm", stations))
    tmean = clean("tmean_c", stations)
    tmm = (clean("tmin_c", stations) + clean("tmax_c", stations)) / 2.0
    t = mean(np.where(np.isnan(tmean), tmm, tmean))
    swe = mean(clean("swe_mm", stations))
    return pd.DataFrame({"q": q, "p": p, "t": t, "swe": swe}, index=time)


class _quiet:
    def __enter__(self) -> None:
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *a: object) -> None:
        self._w.__exit__(*a)


def basins_of(ds: xr.Dataset) -> dict[str, tuple[str, list[str]]]:
    """Basins of the store: {basin_id: (outlet station, member stations)}.

    The basin of a station is its `basin` coordinate (default: itself). The outlet is the station whose id is the
    basin id, else the member with the largest area_km2, else the first member with discharge.
    """
    sids = [str(s) for s in ds["station"].values]
    basin = [str(b) if b else s for s, b in zip(sids, ds["basin"].values, strict=True)] if "basin" in ds else sids
    area = ds["area_km2"].values if "area_km2" in ds.coords else np.full(len(sids), np.nan)
    has_q = ds["discharge_m3s"].notnull().any("time").values if "discharge_m3s" in ds else np.zeros(len(sids), bool)
    out: dict[str, tuple[str, list[str]]] = {}
    for b in sorted(set(basin)):
        members = [s for s, bb in zip(sids, basin, strict=True) if bb == b]
        with_q = [s for s in members if has_q[sids.index(s)]]
        if not with_q:
            continue
        if b in with_q:
            outlet = b
        else:
            areas = [area[sids.index(s)] for s in with_q]
            outlet = with_q[int(np.nanargmax(areas))] if not np.all(np.isnan(areas)) else with_q[0]
        out[b] = (outlet, members)
    return out


# ---------------------------------------------------------------- precipitation homogeneity


def pettitt(x: np.ndarray) -> tuple[int, float]:
    """Pettitt's change-point test: (index of the first value after the change, approximate p-value)."""
    x = np.asarray(x, dtype="float64")
    n = len(x)
    sgn = np.sign(x[:, None] - x[None, :])
    u = np.array([sgn[: t + 1, t + 1 :].sum() for t in range(n - 1)])
    k = int(np.argmax(np.abs(u)))
    stat = float(np.abs(u[k]))
    p = min(1.0, 2.0 * math.exp(-6.0 * stat**2 / (n**3 + n**2)))
    return k + 1, p


def homogenise_precip(
    frame: pd.DataFrame, p_max: float = 0.001, min_ratio: float = 1.3
) -> tuple[pd.DataFrame, str | None]:
    """Remove a step change in the precipitation record (e.g. a reanalysis changing its input data).

    Annual sums of complete years are tested with Pettitt's test; if the change is significant (p < p_max) and the
    means of the two segments differ by more than `min_ratio`, the earlier segment is scaled by the ratio of the
    means (later / earlier), so the record is homogeneous with its recent part. Returns (frame, message or None).
    """
    p = frame["p"]
    counts = p.groupby(p.index.year).count()
    full = counts.index[counts >= 360]
    if len(full) < 20:
        return frame, None
    annual = p.groupby(p.index.year).sum().loc[full]
    k, pval = pettitt(annual.to_numpy())
    before, after = annual.iloc[:k].mean(), annual.iloc[k:].mean()
    if pval >= p_max or before <= 0 or min(k, len(annual) - k) < 5:
        return frame, None
    ratio = after / before
    if 1 / min_ratio < ratio < min_ratio:
        return frame, None
    year = int(annual.index[k])
    out = frame.copy()
    early = out.index.year < year
    out.loc[early, "p"] = out.loc[early, "p"] * ratio
    return out, (
        f"precipitation record has a step change in {year} (Pettitt p = {pval:.1g}; annual mean "
        f"{before:.0f} mm before, {after:.0f} mm after): values before {year} scaled by {ratio:.2f}"
    )


# ---------------------------------------------------------------- degree-day snow store


def degree_day_swe(p: np.ndarray, t: np.ndarray, params: np.ndarray, reset: np.ndarray | None = None) -> np.ndarray:
    """Degree-day snow water equivalent at the end of each day, mm, for several parameter sets at once.

    p: daily precipitation, mm; t: daily mean temperature, degC (NaN treated as no precipitation / the previous
    day's temperature); params: (k, 3) rows (T_s, T_m, m); reset: boolean per day, store emptied at its start.
    Precipitation on days with T < T_s is snow; the store melts by m * max(T - T_m, 0) and never goes below zero.
    Returns (len(p), k). The store is the forecaster's (`snowmodel.simulate`); only the gaps in T are filled here,
    with the previous day's temperature (0 degC before the first), where the forecaster keeps the store unchanged.
    """
    params = np.atleast_2d(np.asarray(params, dtype="float64"))
    t = pd.Series(np.asarray(t, dtype="float64")).ffill().fillna(0.0).to_numpy()
    store, _, _ = snowmodel.simulate(p, t, params[:, 0], params[:, 1], params[:, 2], reset=reset)
    return store


# ---------------------------------------------------------------- yearly table


def _md(year: int, md: str) -> pd.Timestamp:
    m, d = (int(x) for x in md.split("-"))
    if m == 2 and d == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        d = 28
    return pd.Timestamp(year=year, month=m, day=d)


def window(year: int, issue_md: str, config: OutlookConfig) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Flood-season window of `year` for an issue date (MM-DD): from max(issue, season start) to season end."""
    start = max(_md(year, issue_md), _md(year, config.season_start))
    return start, _md(year, config.season_end)


def yearly_table(frame: pd.DataFrame, issue_md: str, config: OutlookConfig) -> pd.DataFrame:
    """One row per year: predictands (`volume` Mm3, `peak` m3/s) and predictors known on the issue day.

    Columns: volume, peak, swe_meas (mm, NaN if none), p_aw (mm), q0 (m3/s), and dd_<k> (degree-day SWE, mm) for
    every parameter set k of config.dd_grid. Years lacking an input have NaN there.
    """
    if config.homogenise:
        frame, _ = homogenise_precip(frame)
    idx = frame.index
    reset = (idx.month == int(config.snow_reset[:2])) & (idx.day == int(config.snow_reset[3:]))
    dd = degree_day_swe(frame["p"].to_numpy(), frame["t"].to_numpy(), np.array(config.dd_grid), reset)
    pt_missing = (frame["p"].isna() | frame["t"].isna()).to_numpy()
    rows = []
    first, last = idx.min(), idx.max()
    for year in range(first.year, last.year + 1):
        issue = _md(year, issue_md)
        w0, w1 = window(year, issue_md, config)
        rec: dict[str, float] = {"year": year}
        if w0 >= first and w1 <= last:
            q = frame.loc[w0:w1, "q"]
            ndays = (w1 - w0).days + 1
            if q.notna().sum() >= config.min_complete * ndays:
                rec["volume"] = float(q.mean() * ndays * 86400 / 1e6)
                rec["peak"] = float(q.max())
        day_before = issue - pd.Timedelta(days=1)
        p_start = _md(year - 1, config.precip_start)
        if p_start >= first and day_before <= last:
            p = frame.loc[p_start:day_before, "p"]
            if p.notna().mean() >= 0.95:
                rec["p_aw"] = float(p.mean() * len(p))
            q0 = frame.loc[issue - pd.Timedelta(days=config.flow_days) : day_before, "q"]
            if q0.notna().sum() >= config.flow_days // 2:
                rec["q0"] = float(q0.mean())
            swe = frame.loc[issue - pd.Timedelta(days=config.swe_max_age_days) : day_before, "swe"].dropna()
            if len(swe):
                rec["swe_meas"] = float(swe.iloc[-1])
            reset_day = _md(year - 1 if issue.month < int(config.snow_reset[:2]) else year, config.snow_reset)
            k = idx.get_loc(day_before)
            k0 = idx.searchsorted(reset_day)
            if reset_day >= first and pt_missing[k0 : k + 1].sum() <= 10:
                for j in range(dd.shape[1]):
                    rec[f"dd_{j}"] = float(dd[k, j])
        rows.append(rec)
    cols = ["volume", "peak", "swe_meas", "p_aw", "q0", *[f"dd_{j}" for j in range(len(config.dd_grid))]]
    return pd.DataFrame(rows).set_index("year").reindex(columns=cols)


# ---------------------------------------------------------------- regression


@dataclass
class Fit:
    """A fitted ridge regression y = b0 + x.b on standardised x, with leave-one-out residuals."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    loo_residuals: np.ndarray
    xmin: np.ndarray | None = None  # training range: new predictors are clipped to it (+-10%), no extrapolation
    xmax: np.ndarray | None = None

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype="float64"))
        if self.xmin is not None and self.xmax is not None:
            pad = 0.1 * (self.xmax - self.xmin)
            x = np.clip(x, self.xmin - pad, self.xmax + pad)
        z = (x - self.mean) / self.scale
        return self.intercept + z @ self.coef


def ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> Fit:
    """Ridge regression on standardised predictors (intercept not penalised); LOO residuals by the hat matrix.

    Predictions clip new predictors to the training range widened by 10% on each side (a wet January's flow
    must not extrapolate the peak tenfold)."""
    x = np.atleast_2d(np.asarray(x, dtype="float64"))
    if x.shape[0] != len(y):
        x = x.T
    n, k = x.shape
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    z = (x - mu) / sd
    ym = y.mean()
    a = z.T @ z + alpha * np.eye(k)
    coef = np.linalg.solve(a, z.T @ (y - ym))
    fitted = ym + z @ coef
    h = np.einsum("ij,ji->i", z, np.linalg.solve(a, z.T)) + 1.0 / n
    loo = (y - fitted) / np.clip(1.0 - h, 1e-6, None)
    return Fit(mu, sd, coef, float(ym), loo, x.min(axis=0), x.max(axis=0))


def _press_r2(fit: Fit, y: np.ndarray) -> float:
    return 1.0 - float(np.mean(fit.loo_residuals**2)) / float(np.var(y) * len(y) / max(len(y) - 1, 1))


# ---------------------------------------------------------------- one fitted outlook model


@dataclass
class Model:
    """The regressions of one basin and issue date, fitted on a set of years."""

    snow: str  # measured | degree-day | hybrid | none
    dd_index: int | None
    predictors: list[str]
    fits: dict[str, Fit]
    norms: dict[str, float]
    years: list[int]
    hybrid_map: tuple[float, float] | None = None  # measured ~ a + b * dd
    dd_values: tuple[float, float, float] | None = None  # (T_s, T_m, m) of dd_index

    @property
    def dd_params(self) -> dict[str, float] | None:
        if self.dd_values is None:
            return None
        ts, tm, m = self.dd_values
        return {"t_snow_c": ts, "t_melt_c": tm, "melt_mm_per_degc_day": m}


def _snow_column(table: pd.DataFrame, snow: str, dd_index: int | None, hybrid_map: tuple[float, float] | None):
    if snow == "measured":
        return table["swe_meas"]
    if snow == "degree-day":
        return table[f"dd_{dd_index}"]
    if snow == "hybrid":
        a, b = hybrid_map if hybrid_map else (0.0, 1.0)
        return table["swe_meas"].fillna(a + b * table[f"dd_{dd_index}"])
    return None


def _design(table: pd.DataFrame, snow_col: pd.Series | None) -> pd.DataFrame:
    cols = {"p_aw": table["p_aw"], "q0": table["q0"]}
    if snow_col is not None:
        cols = {"snow": snow_col, **cols}
    return pd.DataFrame(cols, index=table.index)


def _target(table: pd.DataFrame, name: str, config: OutlookConfig) -> pd.Series:
    y = table[name]
    return np.log(y.where(y > 0)) if name in config.log_targets else y


def resolve_snow(table: pd.DataFrame, config: OutlookConfig) -> str:
    """The snow source `auto` resolves to for this table (hybrid with enough measured years, else degree-day)."""
    if config.snow_source != "auto":
        return config.snow_source
    n_meas = int((table["swe_meas"].notna() & table["volume"].notna()).sum())
    return "hybrid" if n_meas >= config.min_hybrid_years else "degree-day"


def fit_model(table: pd.DataFrame, config: OutlookConfig, snow: str | None = None) -> Model | None:
    """Fit the volume and peak regressions on the years of `table` (None if fewer than config.min_years)."""
    snow = snow or resolve_snow(table, config)
    dd_cols = [c for c in table.columns if c.startswith("dd_")]
    candidates: list[int | None] = [None]
    if snow in ("degree-day", "hybrid") and dd_cols:
        candidates = list(range(len(dd_cols)))
    # The candidate search runs on plain arrays (it is the inner loop of the cross-validation).
    base = table[["p_aw", "q0"]].to_numpy(dtype="float64")
    meas = table["swe_meas"].to_numpy(dtype="float64")
    yv = _target(table, "volume", config).to_numpy(dtype="float64")
    base_ok = ~np.isnan(base).any(axis=1) & ~np.isnan(yv)
    best: tuple[float, int | None, tuple[float, float] | None] | None = None
    for j in candidates:
        hm = None
        if j is None:
            snow_x = meas if snow == "measured" else None
        else:
            dd = table[f"dd_{j}"].to_numpy(dtype="float64")
            snow_x = dd
            if snow == "hybrid":
                both = ~np.isnan(meas) & ~np.isnan(dd)
                if both.sum() < 3 or np.std(dd[both]) == 0:
                    continue
                b, a = np.polyfit(dd[both], meas[both], 1)
                hm = (float(a), float(b))
                snow_x = np.where(np.isnan(meas), a + b * dd, meas)
        x = base if snow_x is None else np.column_stack([snow_x, base])
        ok = base_ok & ~np.isnan(x).any(axis=1)
        if ok.sum() < config.min_years:
            continue
        if j is None:
            best = (0.0, None, hm)
            break
        fit = ridge_fit(x[ok], yv[ok], config.ridge_alpha)
        score = _press_r2(fit, yv[ok])
        if best is None or score > best[0]:
            best = (score, j, hm)
    if best is None:
        return None
    _, j, hm = best
    x = _design(table, _snow_column(table, snow, j, hm))
    fits: dict[str, Fit] = {}
    norms: dict[str, float] = {}
    years: list[int] = []
    for name in TARGETS:
        y = _target(table, name, config)
        ok = x.notna().all(axis=1) & y.notna()
        if ok.sum() < config.min_years:
            continue
        fits[name] = ridge_fit(x[ok].to_numpy(), y[ok].to_numpy(), config.ridge_alpha)
        norms[name] = float(table.loc[ok, name].mean())
        years = sorted(set(years) | {int(v) for v in table.index[ok]})
    if not fits:
        return None
    dd_values = tuple(config.dd_grid[j]) if j is not None else None
    return Model(snow, j, list(x.columns), fits, norms, years, hm, dd_values)


def predict(model: Model, row: pd.Series, config: OutlookConfig) -> dict[str, dict[str, float]]:
    """Predictions of `model` for one year's predictors: {target: {value, low, high, norm, pct, ...}}."""
    x = _design(row.to_frame().T, _snow_column(row.to_frame().T, model.snow, model.dd_index, model.hybrid_map))
    out: dict[str, dict[str, float]] = {}
    if x.isna().any(axis=None):
        return out
    lo_q, hi_q = (1 - config.range_level) / 2, 1 - (1 - config.range_level) / 2
    for name, fit in model.fits.items():
        z = float(fit.predict(x.to_numpy(dtype="float64"))[0])
        lo = z + float(np.quantile(fit.loo_residuals, lo_q))
        hi = z + float(np.quantile(fit.loo_residuals, hi_q))
        if name in config.log_targets:
            z, lo, hi = math.exp(z), math.exp(lo), math.exp(hi)
        else:
            lo, z, hi = (max(v, 0.0) for v in (lo, z, hi))
        norm = model.norms[name]
        out[name] = {
            "value": z,
            "low": lo,
            "high": hi,
            "norm": norm,
            "pct_of_norm": 100 * z / norm if norm else float("nan"),
            "pct_low": 100 * lo / norm if norm else float("nan"),
            "pct_high": 100 * hi / norm if norm else float("nan"),
        }
    return out


# ---------------------------------------------------------------- cross-validation


def cross_validate(table: pd.DataFrame, config: OutlookConfig, snow: str | None = None) -> dict[str, object]:
    """Leave-one-year-out cross-validation of the outlook over the years of `table`.

    Returns {"snow": .., "n_years": .., "years": [..], "targets": {volume|peak: metrics}} with metrics
    n, norm, sigma, rmse, s_sigma, accuracy_p, skill_vs_norm, coverage_80, r; and per-year predictions.
    """
    snow = snow or resolve_snow(table, config)
    preds: dict[str, list[tuple[int, float, float, float, float, float]]] = {t: [] for t in TARGETS}
    for year in table.index:
        train = table.drop(index=year)
        model = fit_model(train, config, snow)
        if model is None:
            continue
        res = predict(model, table.loc[year], config)
        for name, r in res.items():
            obs = table.loc[year, name]
            if np.isnan(obs):
                continue
            preds[name].append((int(year), float(obs), r["value"], r["low"], r["high"], model.norms[name]))
    out: dict[str, object] = {"snow": snow, "targets": {}}
    for name, rows in preds.items():
        out["targets"][name] = score(rows)
    n = [m["n"] for m in out["targets"].values()]
    out["n_years"] = max(n) if n else 0
    return out


def score(rows: list[tuple[int, float, float, float, float, float]]) -> dict[str, object]:
    """Metrics of (year, observed, predicted, low, high, norm-of-the-other-years) rows."""
    if len(rows) < 3:
        return {"n": len(rows)}
    years, o, f, lo, hi, clim = (np.array(c) for c in zip(*rows, strict=True))
    sigma = float(np.std(o, ddof=1))
    err = f - o
    mse = float(np.mean(err**2))
    mse_clim = float(np.mean((clim - o) ** 2))
    return {
        "n": len(rows),
        "norm": float(np.mean(o)),
        "sigma": sigma,
        "rmse": math.sqrt(mse),
        "s_sigma": math.sqrt(mse) / sigma if sigma else None,
        "accuracy_p": float(np.mean(np.abs(err) <= ALLOWABLE * sigma)),
        "accuracy_p_norm": float(np.mean(np.abs(clim - o) <= ALLOWABLE * sigma)),
        "skill_vs_norm": 1.0 - mse / mse_clim if mse_clim else None,
        "coverage_80": float(np.mean((o >= lo) & (o <= hi))),
        "r": float(np.corrcoef(o, f)[0, 1]),
        "per_year": {
            int(y): {"obs": float(a), "pred": float(b), "low": float(c), "high": float(d)}
            for y, a, b, c, d in zip(years, o, f, lo, hi, strict=True)
        },
    }


# ---------------------------------------------------------------- the product


def basin_outlook(
    frame: pd.DataFrame,
    issue_date: pd.Timestamp | str,
    config: OutlookConfig | None = None,
    area_km2: float | None = None,
    basin_id: str = "",
) -> dict[str, object]:
    """The outlook of one basin for `issue_date` from its daily series (`basin_frame`), as a JSON-ready dict.

    The model is fitted on the record's complete years before the issue year; the issue year's predictors come
    from the data up to the day before the issue date. Contains `volume` (Mm3, also mm if area is known) and
    `peak` (m3/s), each with value, 80% range, norm and percent of norm; the cross-validated skill; `text`;
    and `swe_climatology` (see swe_climatology). `status` is ok, or no_data with a `message`.
    """
    config = config or OutlookConfig()
    issue = pd.Timestamp(issue_date).normalize()
    md = issue.strftime("%m-%d")
    w0, w1 = window(issue.year, md, config)
    out: dict[str, object] = {
        "basin_id": basin_id,
        "issue_date": issue.date().isoformat(),
        "season": {"start": w0.date().isoformat(), "end": w1.date().isoformat()},
        "area_km2": area_km2,
    }
    if w0 > w1:
        return {**out, "status": "no_data", "message": f"the flood season ended on {w1.date()} (issue date after it)"}
    hist = frame.loc[: issue - pd.Timedelta(days=1)]
    if hist.empty:
        return {**out, "status": "no_data", "message": f"no observations before {issue.date()}"}
    table = yearly_table(hist.reindex(pd.date_range(hist.index.min(), w1, freq="D")), md, config)
    train = table.loc[table.index < issue.year]
    model = fit_model(train, config)
    if model is None:
        return {
            **out,
            "status": "no_data",
            "message": f"fewer than {config.min_years} complete years of discharge, precipitation and temperature "
            f"before {issue.year}",
        }
    if issue.year not in table.index:
        return {**out, "status": "no_data", "message": f"no predictors for {issue.year}"}
    row = table.loc[issue.year]
    res = predict(model, row, config)
    if not res:
        missing = [
            c
            for c in model.predictors
            if np.isnan(
                _design(
                    row.to_frame().T, _snow_column(row.to_frame().T, model.snow, model.dd_index, model.hybrid_map)
                ).iloc[0][c]
            )
        ]
        return {**out, "status": "no_data", "message": f"predictors missing on the issue date: {', '.join(missing)}"}
    snow_value = _snow_column(row.to_frame().T, model.snow, model.dd_index, model.hybrid_map)
    cv = cross_validate(train, config, model.snow)
    vol = res.get("volume")
    if vol and area_km2 and area_km2 > 0:
        vol.update({f"{k}_mm": 1000.0 * vol[k] / area_km2 for k in ("value", "low", "high", "norm")})
    out.update(
        {
            "status": "ok",
            "volume": {**vol, "units": "million m3"} if vol else None,
            "peak": {**res["peak"], "units": "m3/s"} if "peak" in res else None,
            "predictors": {
                "snow_source": model.snow,
                "swe_mm": None if snow_value is None else _f(snow_value.iloc[0]),
                "swe_measured_mm": _f(row["swe_meas"]),
                "precip_autumn_winter_mm": _f(row["p_aw"]),
                "flow_at_issue_m3s": _f(row["q0"]),
                "degree_day_params": model.dd_params,
            },
            "training_years": [min(model.years), max(model.years), len(model.years)],
            "skill": {name: {k: v for k, v in m.items() if k != "per_year"} for name, m in cv["targets"].items()},
            "text": outlook_text(res),
            "swe_climatology": swe_climatology(hist, issue, model, config),
        }
    )
    return out


def _f(v: object) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def outlook_text(res: dict[str, dict[str, float]]) -> str:
    """The one-line outlook: 'spring flood volume expected at 130% of normal, peak 85-120 m3/s'."""
    parts = []
    if "volume" in res:
        v = res["volume"]
        parts.append(
            f"spring flood volume expected at {v['pct_of_norm']:.0f}% of normal "
            f"({v['pct_low']:.0f}-{v['pct_high']:.0f}%)"
        )
    if "peak" in res:
        p = res["peak"]
        parts.append(f"peak {_round(p['low'])}-{_round(p['high'])} m3/s ({p['pct_of_norm']:.0f}% of normal)")
    return ", ".join(parts)


def _round(x: float) -> str:
    if x >= 100:
        return f"{round(x / 5) * 5:.0f}"
    if x >= 10:
        return f"{x:.0f}"
    return f"{x:.1f}"


def swe_climatology(
    frame: pd.DataFrame, issue: pd.Timestamp, model: Model | None, config: OutlookConfig
) -> dict[str, object]:
    """Basin SWE of the current snow season against its climatology, for a chart.

    Per day from 1 October before the issue date to the season end: the median and 10-90% band of the same day
    of year over the earlier years, and this season's SWE up to the day before the issue date. The series is the
    measured SWE where the model uses it (measured/hybrid), else the degree-day store of the model's parameters.
    """
    idx = frame.index
    if model is not None and model.snow in ("measured", "hybrid") and frame["swe"].notna().sum() > 365:
        series = frame["swe"]
        source = "measured"
    elif model is not None and model.dd_index is not None:
        reset = (idx.month == int(config.snow_reset[:2])) & (idx.day == int(config.snow_reset[3:]))
        params = np.array([config.dd_grid[model.dd_index]])
        series = pd.Series(degree_day_swe(frame["p"].to_numpy(), frame["t"].to_numpy(), params, reset)[:, 0], idx)
        source = "degree-day"
    else:
        return {"source": None, "days": []}
    season_year = issue.year if issue.month < 10 else issue.year + 1  # the spring this snow season ends in
    start = _md(season_year - 1, "10-01")
    end = _md(season_year, config.season_end)
    days = pd.date_range(start, end, freq="D")
    key = series.index.strftime("%m-%d")
    past = series[series.index < start]
    by_md = past.groupby(key[series.index < start])
    q = by_md.quantile([0.1, 0.5, 0.9]).unstack()
    cur = series.reindex(days)
    cur[days >= issue] = np.nan
    rows = []
    for d in days:
        k = d.strftime("%m-%d")
        qq = q.loc[k] if k in q.index else None
        rows.append(
            {
                "date": d.date().isoformat(),
                "median": None if qq is None else _f(qq[0.5]),
                "p10": None if qq is None else _f(qq[0.1]),
                "p90": None if qq is None else _f(qq[0.9]),
                "current": _f(cur.loc[d]),
            }
        )
    return {"source": source, "units": "mm", "years": int(past.index.year.nunique()), "days": rows}


def evaluate_basin(
    frame: pd.DataFrame, issue_md: str, config: OutlookConfig | None = None, variants: tuple[str, ...] = ()
) -> dict[str, object]:
    """Cross-validated skill of the outlook for one basin and issue day (MM-DD), per snow variant.

    variants: snow sources to compare (default: auto, plus degree-day / measured / degree-day on the measured
    years / none when measured SWE exists).
    """
    config = config or OutlookConfig()
    table = yearly_table(frame, issue_md, config)
    has_meas = int(table["swe_meas"].notna().sum())
    if not variants:
        variants = (
            ("degree-day", "none")
            if has_meas < config.min_hybrid_years
            else ("hybrid", "degree-day", "measured", "degree-day-measured-years", "none")
        )
    out: dict[str, object] = {"issue": issue_md, "years_with_measured_swe": has_meas, "variants": {}}
    for v in variants:
        if v == "degree-day-measured-years":
            cv = cross_validate(table[table["swe_meas"].notna()], config, "degree-day")
        else:
            cv = cross_validate(table, config, v)
        out["variants"][v] = cv
    return out
