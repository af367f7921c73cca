"""Walk-forward backtest (pure computation; files are written by flows/backtest.py).

Per station: the test period is the last `test_years` years of its discharge record; the model of its basin is
trained once on everything before the test period (per-station constants too), then a forecast is issued for
every day t of the test period with features computed from data of days <= t only (all features are causal),
and every lead k is scored on the valid day t+k. Persistence (Q(t+k) = Q(t)) is scored on the same pairs.
The 2-year flood for POD/FAR/CSI is fitted (Gumbel, L-moments) on the training years only; the forecast event
is P(Q > T) >= 0.3 from the predictive quantiles. Training data are QC-masked and short gaps filled
(`qc.usable`); in the test period values are only masked (no interpolation across the issue day).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr

from forecasting import extremes, metrics, qc
from forecasting.config import DEFAULTS, ForecastConfig
from forecasting.forcing import StationForcing, station_forcing
from forecasting.forecast import StationForecast, forecast_station
from forecasting.model_registry import GLOBAL_MODEL, BasinModel, fit_basin_model, fit_pairing
from forecasting.models.calibration import FINE_LEVELS
from forecasting.models.ensemble import pair_weights
from forecasting.models.lgbm import LGBMParams
from forecasting.progress import report as report_progress
from forecasting.risk import exceedance_probability
from forecasting.store import station_frame, station_table

P_ALERT = DEFAULTS.alert_probability  # the service's alert rule: P(Q > T) >= P_ALERT, P as risk computes it
GLOBAL_WEIGHT = DEFAULTS.global_weight  # the daily run's weight of the global model
SIGMA_NOTE = "sigma = standard deviation of the observed change Q(t+k) - Q(t) over the test pairs of each lead"
METRIC_KEYS = (
    "nse",
    "kge",
    "nse_persistence",
    "skill_vs_persistence",
    "crps",
    "crpss_vs_persistence",
    "coverage_90",
    "pod_warning",
    "far_warning",
    "csi_warning",
    "accuracy_p",
    "s_sigma",
)
RELIABILITY_LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)  # quantile levels whose calibration is reported


def mask_bad(ds: xr.Dataset) -> xr.Dataset:
    """Values whose QC flag has a BAD bit set become NaN, no gap filled: `qc.usable` without filling."""
    return qc.usable(ds, qc.QCConfig(max_gap_fill_days=0))


@dataclass
class Split:
    station: str
    train_end: pd.Timestamp | None
    test_start: pd.Timestamp | None
    test_end: pd.Timestamp | None
    reason: str | None = None


def split_station(q: pd.Series, test_years: int, station: str = "") -> Split:
    """Test = the last `test_years` years of the discharge record; needs test_years + 2 years in total."""
    obs = q.dropna()
    if obs.empty:
        return Split(station, None, None, None, "no discharge observations")
    end = pd.Timestamp(obs.index.max())
    start = (end + pd.Timedelta(days=1)) - pd.DateOffset(years=test_years)
    need = start - pd.DateOffset(years=2)
    if obs.index.min() > need:
        span = (end - obs.index.min()).days / 365.25
        return Split(
            station, None, None, None, f"record of {span:.1f} years is shorter than test_years + 2 = {test_years + 2}"
        )
    return Split(station, start - pd.Timedelta(days=1), start, end)


def quantile_at(q: np.ndarray, levels: tuple[float, ...], tau: float) -> np.ndarray:
    """Quantile at level tau interpolated between the given levels (q: ... x K)."""
    lv = np.asarray(levels)
    j = int(np.clip(np.searchsorted(lv, tau) - 1, 0, len(lv) - 2))
    w = (tau - lv[j]) / (lv[j + 1] - lv[j])
    return q[..., j] + w * (q[..., j + 1] - q[..., j])


def score_lead(
    obs: np.ndarray, base: np.ndarray, q: np.ndarray, levels: tuple[float, ...], threshold: float | None
) -> dict[str, float | None]:
    """All report metrics of one lead. obs = Q(t+k), base = Q(t) observed (persistence), q = n x K quantiles."""
    lv = np.asarray(levels)
    med = quantile_at(q, levels, 0.5)
    ok = ~np.isnan(obs) & ~np.isnan(base) & ~np.isnan(q).any(axis=1)
    o, b, qq, m = obs[ok], base[ok], q[ok], med[ok]
    out: dict[str, float | None] = dict.fromkeys(METRIC_KEYS)
    out["n_pairs"] = int(ok.sum())
    if ok.sum() < 10:
        return out
    out["nse"] = metrics.nse(o, m)
    out["kge"] = metrics.kge(o, m)
    out["nse_persistence"] = metrics.nse(o, b)
    out["skill_vs_persistence"] = metrics.skill_score(o, m, b)
    crps = metrics.crps_quantiles(o, qq, lv)
    out["crps"] = crps
    out["crpss_vs_persistence"] = metrics.skill_ratio(crps, metrics.mae(o, b))
    out["coverage_90"] = metrics.coverage(o, quantile_at(qq, levels, 0.05), quantile_at(qq, levels, 0.95))
    if threshold is not None and np.isfinite(threshold):
        c = metrics.contingency(o > threshold, exceedance_probability(qq, lv, threshold) >= P_ALERT)
        out["pod_warning"], out["far_warning"], out["csi_warning"] = c["pod"], c["far"], c["csi"]
        out["n_events"] = int(np.sum(o > threshold))
    out["accuracy_p"], out["s_sigma"] = metrics.central_asian(o, m, b)
    # calibration: the share of observations at or below each predictive quantile (ideal: the level itself)
    out["reliability"] = {f"{tau:g}": float(np.mean(o <= quantile_at(qq, levels, tau))) for tau in RELIABILITY_LEVELS}
    top = o >= np.quantile(o, 0.95)
    out["peak_bias"] = float(np.mean((m[top] - o[top]) / np.maximum(o[top], 1e-9))) if top.any() else None
    return out


def _median(vals: list) -> float | None:
    v = [x for x in vals if x is not None and np.isfinite(x)]
    return float(np.median(v)) if v else None


def summarise(stations: dict[str, dict], leads: list[int]) -> dict[str, dict[str, float | None]]:
    """Medians over stations per lead."""
    out = {}
    for k in leads:
        per = [s["leads"][str(k)] for s in stations.values() if s.get("leads") and not s.get("reason")]
        out[str(k)] = {
            "median_nse": _median([p["nse"] for p in per]),
            "median_nse_persistence": _median([p["nse_persistence"] for p in per]),
            "median_skill_vs_persistence": _median([p["skill_vs_persistence"] for p in per]),
            "median_crpss_vs_persistence": _median([p["crpss_vs_persistence"] for p in per]),
            "median_coverage_90": _median([p["coverage_90"] for p in per]),
            "median_csi_warning": _median([p["csi_warning"] for p in per]),
            "median_skill_without_nwp": _median(
                [(s.get("without_nwp") or {}).get(str(k), {}).get("skill_vs_persistence") for s in stations.values()]
            ),
            "median_kge": _median([p["kge"] for p in per]),
            "median_peak_bias": _median([p.get("peak_bias") for p in per]),
            "median_reliability": {
                f"{tau:g}": _median([(p.get("reliability") or {}).get(f"{tau:g}") for p in per])
                for tau in RELIABILITY_LEVELS
            },
            "n_stations": len(per),
        }
    return out


def run_backtest(
    ds: xr.Dataset,
    test_years: int = 5,
    leads: list[int] | None = None,
    params: LGBMParams | None = None,
    data_label: str = "",
    stations: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
    pool_all: bool = False,
    snow: bool = True,
    snow_ablation: bool = False,
    global_model: bool = True,
    nwp: str = "none",
    archive: dict[str, xr.Dataset] | None = None,
    nwp_training: str = "degraded",
    nwp_error: str = "archive",
    config: ForecastConfig = DEFAULTS,
    seed: int = 0,
) -> tuple[dict, dict[str, pd.DataFrame]]:
    """Walk-forward backtest on the QC'd dataset `ds` (flags computed, not masked) of the forecast the daily run
    publishes: per basin the models are trained (forecasting.model_registry.fit_basin_model, with the global model
    of all stations as `tasqyn train` does) on the training years, then `forecasting.forecast.forecast_station`
    forecasts every day of the test years, with its fallbacks, rating curves and level-only posts.

    `nwp`: the weather-forecast input: "none"; "archive" (the runs of `archive`, forecasting.forcing datasets, e.g.
    read from DIR/forecasts by the nwp-csv adapter: each issue day uses the newest run issued by it, as the daily
    run does); "perfect" (the observed future weather: an upper bound only, labelled so in the report). With NWP the
    report gives per station and lead the skill with and without NWP side by side (`without_nwp`).
    `nwp_training`: the forcing of the NWP models' training years where the archive has no run: "degraded" (the
    observed future made imperfect by an error model, forecasting.models.forcing_error) or "perfect" (the trap).
    `nwp_error`: where that error model is fitted: "archive" (every archived run: rain-forecast statistics only, no
    discharge), "crossfit" (for each test year, the runs of the other years; two model sets) or "default".
    `pool_all` trains one model over all stations instead of one per basin (no global model then).
    `snow=False` leaves out the snow features; `snow_ablation` adds the with/without-snow comparison.
    Returns (report as in ../shared/ARCHITECTURE.md "Backtest report", per-station series for the plots).
    """
    from forecasting.forcing import (
        archive_pairs,
        forcing_variables,
        observed_future,
        training_description,
        training_forcing,
    )
    from forecasting.models.forcing_error import ForcingErrorModel

    if nwp not in ("none", "archive", "perfect"):
        raise ValueError(f"nwp must be none, archive or perfect, got '{nwp}'")
    if nwp == "archive" and not archive:
        raise ValueError("nwp='archive' needs the archived forecasts (DIR/forecasts/*.csv)")
    params = replace(params or LGBMParams(), snow=snow)
    leads = list(leads or range(1, 8))
    cfg = config.with_(leads=tuple(leads))
    levels = FINE_LEVELS
    say = progress or (lambda _m: None)
    train_ds = qc.usable(ds)
    test_ds = mask_bad(ds)
    meta = station_table(ds)
    ids = [s for s in meta.index if stations is None or s in stations]
    splits = {}
    frames: dict[str, pd.DataFrame] = {}
    for sid in ids:
        tr = station_frame(train_ds, sid)
        te = station_frame(test_ds, sid)
        target = _target_series(te)
        sp = split_station(target, test_years, sid)
        splits[sid] = sp
        if sp.reason is None:
            frames[sid] = pd.concat([tr.loc[: sp.train_end], te.loc[sp.test_start :]])
    report: dict = {"data": data_label, "test_years": test_years, "leads": leads, "stations": {}}
    if nwp != "none":
        report["nwp"] = nwp if nwp == "archive" else "perfect (observed future weather: an upper bound, not a forecast)"
    series: dict[str, pd.DataFrame] = {}
    for sid in ids:
        if splits[sid].reason is not None:
            report["stations"][sid] = _no_result(splits[sid], splits[sid].reason, leads)
    basins: dict[str, list[str]] = {}
    for sid in frames:
        basins.setdefault("all" if pool_all else str(meta.loc[sid, "basin"]), []).append(sid)
    ends = {s: splits[s].train_end for s in frames}
    attrs_all = {s: {"area_km2": meta.loc[s, "area_km2"]} for s in frames}
    # -- the NWP inputs: variables, training forcing (one or two model sets), test forcing --------------------
    variables: tuple[str, ...] = ()
    folds: list[tuple[str, dict | None, dict]] = [("all", None, {})]  # (name, training frames, description)
    if nwp != "none":
        has_t = {s: bool(_target_has(frames[s], ("tmean_c", "tmin_c"))) for s in frames}
        if nwp == "archive":
            variables = forcing_variables(archive, list(frames))
        else:
            variables = ("precip_mm", "tmean_c") if any(has_t.values()) else ("precip_mm",)
        train_mode = "perfect" if nwp == "perfect" else nwp_training
        pairs = archive_pairs(archive, frames, cfg) if archive else None
        if train_mode == "perfect" or nwp_error != "crossfit" or pairs is None or pairs.empty:
            err = None
            if train_mode == "degraded":
                use_archive = nwp_error == "archive" and pairs is not None and not pairs.empty
                err = ForcingErrorModel.fit(pairs, "archive") if use_archive else ForcingErrorModel.default()
            nf = training_forcing(frames, variables, train_mode, archive, err, seed, cfg)
            folds = [("all", nf, training_description(train_mode, variables, err))]
        else:  # crossfit: the model set forecasting year Y has an error model fitted on the runs of other years
            folds = []
            years = sorted({d.year for d in pd.DatetimeIndex(pairs["run"])})
            for y in years:
                err = ForcingErrorModel.fit(pairs[pd.DatetimeIndex(pairs["run"]).year != y], f"runs not of {y}")
                nf = training_forcing(frames, variables, "degraded", None, err, seed, cfg)
                folds.append((str(y), nf, training_description("degraded", variables, err)))
    model_sets: dict[str, dict[str, BasinModel]] = {}
    t_train: dict[str, float] = {}
    for fold, nwp_frames, desc in folds:
        models: dict[str, BasinModel] = {}
        if global_model and not pool_all and len(basins) > 1:
            say(f"training the global model ({len(frames)} stations){'' if fold == 'all' else f', fold {fold}'}")
            t0 = time.perf_counter()
            try:
                models[GLOBAL_MODEL] = fit_basin_model(
                    GLOBAL_MODEL, frames, attrs_all, leads, params, ends, nwp_frames, variables, desc
                )
            except Exception as exc:  # the basin models still forecast alone
                say(f"global model failed: {exc}")
            say(f"global model: trained in {time.perf_counter() - t0:.1f} s")
        for basin, sids in basins.items():
            t0 = time.perf_counter()
            say(f"training basin {basin} ({', '.join(sids)})")
            sub = {s: frames[s] for s in sids}
            try:
                models[basin] = fit_basin_model(
                    basin,
                    sub,
                    {s: attrs_all[s] for s in sids},
                    leads,
                    params,
                    {s: ends[s] for s in sids},
                    {s: nwp_frames[s] for s in sids} if nwp_frames else None,
                    variables,
                    desc,
                )
            except Exception as exc:  # a failing basin does not stop the others
                for s in sids:
                    report["stations"][s] = _no_result(splits[s], f"training failed: {exc}", leads)
                continue
            t_train[basin] = t_train.get(basin, 0.0) + time.perf_counter() - t0
            say(f"basin {basin}: trained in {time.perf_counter() - t0:.1f} s")
        if GLOBAL_MODEL in models:  # how each basin combines with the global model, fitted as `tasqyn train` does
            gm = models[GLOBAL_MODEL]
            for basin, bm in models.items():
                if basin != GLOBAL_MODEL:
                    sub = {s: frames[s] for s in bm.stations}
                    nsub = {s: nwp_frames[s] for s in bm.stations if s in nwp_frames} if nwp_frames else None
                    bm.ensembles[gm.version] = fit_pairing(bm, gm, sub, nsub, cfg.global_weight)
        model_sets[fold] = models
    main = model_sets[folds[0][0]]
    n_done, n_total = 0, sum(len(sids) for basin, sids in basins.items() if basin in main)  # for progress.report
    for basin, sids in basins.items():
        if basin not in main:
            continue
        bm = main[basin]
        for sid in sids:
            sp = splits[sid]
            t1 = time.perf_counter()
            issue = pd.date_range(sp.test_start, sp.test_end, freq="D")
            sf = None
            if nwp == "archive":
                sf = station_forcing(archive, sid, issue, cfg, variables)
            elif nwp == "perfect":
                cols = observed_future(frames[sid], variables).reindex(issue)
                runs = pd.DataFrame(
                    {"source": "observed (upper bound)", "run_time": issue, "age_hours": 0.0, "reason": ""},
                    index=issue,
                )
                sf = StationForcing(cols, runs)
            r = _forecast_folds(sid, frames[sid], model_sets, folds, basin, issue, cfg, sf, levels)
            t_pred = time.perf_counter() - t1
            plain = (
                _forecast_folds(sid, frames[sid], model_sets, folds, basin, issue, cfg, None, levels) if sf else None
            )
            level_only = sid in bm.level_refs
            target_col = "water_level_cm" if level_only else "discharge_m3s"
            fq = r.wl if level_only else r.q
            qobs = frames[sid][target_col]
            base = qobs.reindex(issue).to_numpy().copy()
            try:
                rl, _ = extremes.return_levels(qobs.loc[: sp.train_end], periods=(2,))
                thr = None if level_only else rl[2]
            except ValueError:
                thr = None
            lead_res, lead_plain, lead_level = {}, {}, {}
            ser = {"obs": qobs.reindex(issue).to_numpy()}
            has_levels = not level_only and "water_level_cm" in frames[sid] and np.isfinite(r.wl).any()
            for j, k in enumerate(leads):
                valid = issue + pd.Timedelta(days=k)
                obs = qobs.reindex(valid).to_numpy().copy()
                obs[valid > sp.test_end] = np.nan
                lead_res[str(k)] = score_lead(obs, base, fq[:, j, :], levels, thr)
                if plain is not None:
                    full_plain = score_lead(obs, base, (plain.wl if level_only else plain.q)[:, j, :], levels, thr)
                    lead_plain[str(k)] = {m: full_plain.get(m) for m in PLAIN_KEYS}
                if has_levels:
                    h = frames[sid]["water_level_cm"]
                    ho = h.reindex(valid).to_numpy().copy()
                    ho[valid > sp.test_end] = np.nan
                    sc = score_lead(ho, h.reindex(issue).to_numpy(), r.wl[:, j, :], levels, None)
                    lead_level[str(k)] = {m: sc.get(m) for m in ("nse", "skill_vs_persistence", "coverage_90")}
                for tau in (0.05, 0.5, 0.95):
                    s = pd.Series(quantile_at(fq[:, j, :], levels, tau), index=valid).reindex(issue)
                    ser[f"q{tau:g}_lead{k}"] = s.to_numpy()
            series[sid] = pd.DataFrame(ser, index=issue)
            model = bm.model
            ctx = model.contexts.get(sid) if model is not None else None
            st = {
                "test_start": str(sp.test_start.date()),
                "test_end": str(sp.test_end.date()),
                "n_issues": len(issue),
                "reason": None,
                "target": target_col,
                "train_start": ctx.train_start if ctx else None,
                "train_end": str(sp.train_end.date()),
                "basin": basin,
                "global_model_weight": _global_weights(main, bm, leads, cfg),
                "threshold_2y_m3s": thr,
                "snow_params": ctx.snow.to_dict() if ctx and ctx.snow else None,
                "blend": {str(k): v for k, v in model.blend.items()} if model else {},
                "calibration_held_out": {str(k): c.coverage for k, c in model.calibration.items()} if model else {},
                "status_days": {s: int(sum(1 for x in r.status if x == s)) for s in sorted(set(r.status))},
                "models_used": {s: int(sum(1 for x in r.model_name if x == s)) for s in sorted(set(r.model_name))},
                "train_seconds": round(t_train.get(basin, 0.0) / len(sids), 2),
                "forecast_seconds": round(t_pred, 3),
                "leads": lead_res,
            }
            if plain is not None:
                st["nwp"] = {
                    "mode": report["nwp"],
                    "share_of_issues_with_nwp": float(np.mean(r.nwp_used)),
                    "training": (folds[0][2] or {}) if len(folds) == 1 else {f: d for f, _, d in folds},
                    "why_not": dict(
                        pd.Series([m for m, u in zip(r.nwp_message, r.nwp_used, strict=True) if not u])
                        .value_counts()
                        .head(5)
                    ),
                }
                st["without_nwp"] = lead_plain
            if lead_level:
                st["water_level"] = lead_level
            report["stations"][sid] = st
            n_done += 1
            report_progress("backtest", sid, n_done, n_total)
    report["stations"] = {s: report["stations"][s] for s in ids}
    report["summary"] = summarise(report["stations"], leads)
    report["sigma"] = SIGMA_NOTE
    report["event"] = f"Q > 2-year flood (Gumbel/L-moments, training years); forecast event P >= {P_ALERT}"
    if snow_ablation and snow:
        _add_snow_ablation(report, ds, frames, test_years, leads, params, basins, pool_all, global_model, say)
    return report, series


PLAIN_KEYS = (
    "nse",
    "skill_vs_persistence",
    "crpss_vs_persistence",
    "coverage_90",
    "pod_warning",
    "far_warning",
    "csi_warning",
)


def _global_weights(models: dict[str, BasinModel], bm: BasinModel, leads: list[int], cfg: ForecastConfig) -> dict:
    """Per model set ("plain", and "nwp" where the basin has one) and lead, the global model's weight and the spread
    of the average in the forecasts of `bm`'s stations (fitted, or the default; weight 0 without a global model)."""
    gm = models.get(GLOBAL_MODEL)
    out = {}
    for part in ("plain", "nwp") if bm.nwp_model is not None else ("plain",):
        if gm is None or gm is bm:
            out[part] = {str(k): {"weight": 0.0, "spread": 1.0, "fitted": False} for k in leads}
            continue
        fit = bm.ensembles.get(gm.version, {}).get(part)
        w, s = pair_weights(fit, leads, cfg.global_weight)
        out[part] = {
            str(k): {"weight": float(wk), "spread": float(sk), "fitted": fit is not None and k in fit.weight}
            for k, wk, sk in zip(leads, w, s, strict=True)
        }
    return out


def _forecast_folds(sid, frame, model_sets, folds, basin, issue, cfg, sf, levels) -> StationForecast:
    """forecast_station with the model set of each fold (crossfit: the issue days of year Y use fold Y)."""
    if len(folds) == 1:
        return forecast_station(sid, frame, model_sets[folds[0][0]], basin, issue, cfg, sf, levels)
    parts = []
    for fold, _, _ in folds:
        days = issue[issue.year == int(fold)]
        if len(days):
            parts.append((days, forecast_station(sid, frame, model_sets[fold], basin, days, cfg, sf, levels)))
    rest = issue[~issue.year.isin([int(f) for f, _, _ in folds])]
    if len(rest):
        parts.append((rest, forecast_station(sid, frame, model_sets[folds[0][0]], basin, rest, cfg, sf, levels)))
    pos = {d: i for i, d in enumerate(issue)}
    first = parts[0][1]
    out = StationForecast(
        np.full((len(issue), *first.q.shape[1:]), np.nan),
        np.full((len(issue), *first.q.shape[1:]), np.nan),
        [""] * len(issue),
        [""] * len(issue),
        [""] * len(issue),
        [""] * len(issue),
        [""] * len(issue),
        np.full(len(issue), np.datetime64("NaT"), dtype="datetime64[ns]"),
        np.full(len(issue), np.nan),
        np.full((len(issue), *first.drivers.shape[1:]), np.nan),
        np.zeros(len(issue), dtype=bool),
        [""] * len(issue),
        np.full((len(issue), first.q.shape[1]), np.nan),
        np.full((len(issue), first.q.shape[1]), np.nan),
        first.rating_note,
    )
    for days, r in parts:
        idx = np.array([pos[d] for d in days])
        out.q[idx], out.wl[idx], out.drivers[idx] = r.q, r.wl, r.drivers
        out.last_obs_date[idx], out.last_obs_value[idx], out.nwp_used[idx] = (
            r.last_obs_date,
            r.last_obs_value,
            r.nwp_used,
        )
        out.nwp_precip_mm[idx], out.nwp_tmean_c[idx] = r.nwp_precip_mm, r.nwp_tmean_c
        for jj, i in enumerate(idx):
            out.model_name[i], out.model_version[i], out.status[i] = r.model_name[jj], r.model_version[jj], r.status[jj]
            out.message[i], out.missing[i], out.nwp_message[i] = r.message[jj], r.missing[jj], r.nwp_message[jj]
    return out


def _target_series(df: pd.DataFrame) -> pd.Series:
    """The series a station is scored on: discharge, or the water level of a level-only post."""
    if "discharge_m3s" in df and df["discharge_m3s"].notna().any():
        return df["discharge_m3s"]
    if "water_level_cm" in df and df["water_level_cm"].notna().any():
        return df["water_level_cm"]
    return pd.Series(dtype=float)


def _target_has(df: pd.DataFrame, cols: tuple[str, ...]) -> bool:
    return any(c in df and df[c].notna().any() for c in cols)


def _no_result(sp: Split, reason: str, leads: list[int]) -> dict:
    return {
        "test_start": str(sp.test_start.date()) if sp.test_start is not None else None,
        "test_end": str(sp.test_end.date()) if sp.test_end is not None else None,
        "n_issues": 0,
        "reason": reason,
        "leads": {str(k): dict.fromkeys(METRIC_KEYS) for k in leads},
    }


def snow_inputs(df: pd.DataFrame, has_store: bool) -> str | None:
    """Which snow inputs a station has: measured SWE / snow depth and/or the degree-day store (None: none)."""
    parts = []
    if "swe_mm" in df and df["swe_mm"].notna().any():
        parts.append("measured SWE")
    if "snow_depth_cm" in df and df["snow_depth_cm"].notna().any():
        parts.append("measured snow depth")
    if has_store:
        parts.append("degree-day snow store (estimated from precipitation and temperature)")
    return " + ".join(parts) or None


def _add_snow_ablation(
    report: dict,
    ds: xr.Dataset,
    frames: dict[str, pd.DataFrame],
    test_years: int,
    leads: list[int],
    params: LGBMParams,
    basins: dict[str, list[str]],
    pool_all: bool,
    global_model: bool,
    say: Callable[[str], None],
) -> None:
    """Second backtest without snow inputs for the basins of the stations that have them; adds the comparison."""
    inputs = {
        sid: snow_inputs(frames[sid], bool(report["stations"][sid].get("snow_params")))
        for sid in frames
        if not report["stations"][sid].get("reason")
    }
    with_snow = [s for s, v in inputs.items() if v]
    report["snow_ablation_inputs"] = {s: inputs[s] for s in with_snow}
    report["snow_ablation"] = {}
    if not with_snow:
        return
    rerun = sorted({s for sids in basins.values() if set(sids) & set(with_snow) for s in sids})
    say(f"snow ablation: backtest without snow inputs for {', '.join(rerun)}")
    without, _ = run_backtest(
        ds, test_years, leads, params, stations=rerun, pool_all=pool_all, snow=False, global_model=global_model
    )
    for sid in with_snow:
        st_w, st_wo = report["stations"][sid], without["stations"].get(sid, {})
        if st_wo.get("reason") or not st_wo.get("leads"):
            continue
        report["snow_ablation"][sid] = {
            str(k): {
                "skill_with_snow": st_w["leads"][str(k)]["skill_vs_persistence"],
                "skill_without_snow": st_wo["leads"][str(k)]["skill_vs_persistence"],
                "nse_with": st_w["leads"][str(k)]["nse"],
                "nse_without": st_wo["leads"][str(k)]["nse"],
                "crpss_with": st_w["leads"][str(k)]["crpss_vs_persistence"],
                "crpss_without": st_wo["leads"][str(k)]["crpss_vs_persistence"],
            }
            for k in leads
        }
