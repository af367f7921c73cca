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
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import xarray as xr

from forecasting import extremes, metrics, qc
from forecasting.config import DEFAULTS
from forecasting.models.calibration import FINE_LEVELS
from forecasting.models.lgbm import LGBMForecaster, LGBMParams, ensemble_quantiles
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


@dataclass
class StationResult:
    report: dict
    series: pd.DataFrame | None = None  # obs and forecast quantiles by valid date (for plots)
    timings: dict = field(default_factory=dict)


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
) -> tuple[dict, dict[str, pd.DataFrame]]:
    """Walk-forward backtest of the LightGBM forecaster on the QC'd dataset `ds` (flags computed, not masked).

    `pool_all` trains one global model over all stations (per-station normalised features) instead of one per
    basin; `global_model` (default, as `tasqyn train` does) averages the quantiles of each basin model with those
    of that global model (weight GLOBAL_WEIGHT), each trained on the training years only.
    `snow=False` leaves out the snow features (measured SWE, snow cover, the degree-day snow store).
    `snow_ablation` (with snow) runs the backtest a second time without snow inputs for the basins of the stations
    that have them and adds report["snow_ablation"] = {station: {lead: skill_with_snow, skill_without_snow,
    nse_with, nse_without}} and report["snow_ablation_inputs"] = {station: which snow inputs it has}.
    Returns (report as in ../shared/ARCHITECTURE.md "Backtest report", per-station series for the plots).
    """
    params = replace(params or LGBMParams(), snow=snow)
    leads = list(leads or range(1, 8))
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
        sp = split_station(te["discharge_m3s"] if "discharge_m3s" in te else pd.Series(dtype=float), test_years, sid)
        splits[sid] = sp
        if sp.reason is None:
            frames[sid] = pd.concat([tr.loc[: sp.train_end], te.loc[sp.test_start :]])
    report: dict = {"data": data_label, "test_years": test_years, "leads": leads, "stations": {}}
    series: dict[str, pd.DataFrame] = {}
    for sid in ids:
        sp = splits[sid]
        if sp.reason is not None:
            report["stations"][sid] = {
                "test_start": None,
                "test_end": None,
                "n_issues": 0,
                "reason": sp.reason,
                "leads": {str(k): dict.fromkeys(METRIC_KEYS) for k in leads},
            }
    basins: dict[str, list[str]] = {}
    for sid in frames:
        basins.setdefault("all" if pool_all else str(meta.loc[sid, "basin"]), []).append(sid)
    gmodel: LGBMForecaster | None = None
    if global_model and not pool_all and len(basins) > 1:
        say(f"training the global model ({len(frames)} stations)")
        t0 = time.perf_counter()
        try:
            gmodel = LGBMForecaster(leads, params).fit(
                frames,
                {s: splits[s].train_end for s in frames},
                {s: {"area_km2": meta.loc[s, "area_km2"]} for s in frames},
            )
        except Exception as exc:  # the basin models still forecast alone
            say(f"global model failed: {exc}")
        say(f"global model: trained in {time.perf_counter() - t0:.1f} s")
    for basin, sids in basins.items():
        t0 = time.perf_counter()
        say(f"training basin {basin} ({', '.join(sids)})")
        model = LGBMForecaster(leads, params)
        sub = {s: frames[s] for s in sids}
        attrs = {s: {"area_km2": meta.loc[s, "area_km2"]} for s in sids}
        try:
            model.fit(sub, {s: splits[s].train_end for s in sids}, attrs)
        except Exception as exc:  # a failing basin does not stop the others
            for s in sids:
                report["stations"][s] = {
                    "test_start": str(splits[s].test_start.date()),
                    "test_end": str(splits[s].test_end.date()),
                    "n_issues": 0,
                    "reason": f"training failed: {exc}",
                    "leads": {str(k): dict.fromkeys(METRIC_KEYS) for k in leads},
                }
            continue
        t_train = time.perf_counter() - t0
        for sid in sids:
            sp = splits[sid]
            t1 = time.perf_counter()
            issue = pd.date_range(sp.test_start, sp.test_end, freq="D")
            q = model.predict({sid: frames[sid]}, issue, levels)[sid]
            if gmodel is not None:
                qg = gmodel.predict({sid: frames[sid]}, issue, levels)[sid]
                q = ensemble_quantiles([q, qg], [1.0 - GLOBAL_WEIGHT, GLOBAL_WEIGHT])
            t_pred = time.perf_counter() - t1
            qobs = frames[sid]["discharge_m3s"]
            base = qobs.reindex(issue).to_numpy().copy()
            try:
                rl, _ = extremes.return_levels(qobs.loc[: sp.train_end], periods=(2,))
                thr = rl[2]
            except ValueError:
                thr = None
            lead_res = {}
            ser = {"obs": qobs.reindex(issue).to_numpy()}
            for j, k in enumerate(leads):
                obs = qobs.reindex(issue + pd.Timedelta(days=k)).to_numpy().copy()
                obs[issue + pd.Timedelta(days=k) > sp.test_end] = np.nan
                lead_res[str(k)] = score_lead(obs, base, q[:, j, :], levels, thr)
                # quantiles by valid date for the plots
                valid = issue + pd.Timedelta(days=k)
                for tau in (0.05, 0.5, 0.95):
                    s = pd.Series(quantile_at(q[:, j, :], levels, tau), index=valid).reindex(issue)
                    ser[f"q{tau:g}_lead{k}"] = s.to_numpy()
            series[sid] = pd.DataFrame(ser, index=issue)
            report["stations"][sid] = {
                "test_start": str(sp.test_start.date()),
                "test_end": str(sp.test_end.date()),
                "n_issues": len(issue),
                "reason": None,
                "train_start": model.contexts[sid].train_start,
                "train_end": str(sp.train_end.date()),
                "basin": basin,
                "global_model_weight": GLOBAL_WEIGHT if gmodel is not None else 0.0,
                "threshold_2y_m3s": thr,
                "snow_params": model.contexts[sid].snow.to_dict() if model.contexts[sid].snow else None,
                "blend": {str(k): v for k, v in model.blend.items()},
                "calibration_held_out": {str(k): c.coverage for k, c in model.calibration.items()},
                "train_seconds": round(t_train / len(sids), 2),
                "forecast_seconds": round(t_pred, 3),
                "leads": lead_res,
            }
        say(f"basin {basin}: trained in {t_train:.1f} s")
    report["stations"] = {s: report["stations"][s] for s in ids}
    report["summary"] = summarise(report["stations"], leads)
    report["sigma"] = SIGMA_NOTE
    report["event"] = f"Q > 2-year flood (Gumbel/L-moments, training years); forecast event P >= {P_ALERT}"
    if snow_ablation and snow:
        _add_snow_ablation(report, ds, frames, test_years, leads, params, basins, pool_all, global_model, say)
    return report, series


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
