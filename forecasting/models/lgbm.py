"""The LightGBM forecaster: per basin (the basin's stations pooled), direct multi-horizon (one model per lead,
no recursion), predicting the change of log discharge from the issue day t to t+k (its expectation, or with the
gamma objective of an NWP model the log of the expected flow ratio: `LGBMParams.loss`), with conformal quantiles.
An NWP model trains on every draw of degraded training forcing its frames carry (features.nwp_draws), holding out
the first draw only.

Training on a basin's training period:
1. per-station constants (discharge scale, climatology, snow-store parameters) on the training years only;
2. a model per lead on all but the last `cal_years` of the training period (`n_estimators` trees, or optionally
   early stopping on the held-out years); on those held-out years:
   a blend weight w with persistence (yhat -> w * yhat; see `_fit_blend`: 1 where the model clearly beats persistence,
   pulled towards persistence where its gain is within the noise of a short record),
   and the residual quantiles per lead and bin of a scale proxy (forecasting.models.calibration): one table for
   the days with the most rain (forecast, or observed: `_fit_wet`) and one for the others;
3. optionally (`refit`) the final model per lead refitted on the whole training period with the same settings
   (measured: no gain on the real backtest, twice the time; off by default).
Sample weights grow with the flow level so that floods weigh more, as in the NSE: (L/Q_median)^weight_power with L the
largest of Q(t), the day-of-year climatological discharge of the valid day t+k, and the geometric mean of Q(t) and
Q(t+k) (`sample_weights`); the 0.5 quantile is this flow-weighted point forecast (less peak bias), the other quantiles
conformal. A weight on Q(t+k) itself, as in earlier versions, favours the training days that happened to rise and
biases the forecast up: measured on the real backtest (leads 1/3/7) 0.61/0.39/0.42 against 0.63/0.39/0.42 now, on
6-year records 0.48/0.37/0.24 against 0.49/0.39/0.26, on SPOTPY's Fulda (5 training years) 0.27 against 0.42 at lead 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from forecasting.features import (
    StationContext,
    build_features,
    fit_context,
    inputs_frame,
    inv_log_q,
    lead_features,
    log_q,
    nwp_draws,
    targets,
    with_nwp_draw,
)
from forecasting.models.calibration import (
    FINE_LEVELS,
    ResidualCalibration,
    fit_calibration,
    held_out_coverage,
    station_spreads,
)
from forecasting.models.feature_tables import FEATURE_TABLES, FeatureTable

MONOTONE_UP = ("nwp_p_sum", "nwp_p_max", "nwp_p_last", "nwp_p_last2", "nwp_winput")
BLEND_BLOCK_DAYS = 30  # held-out rows resampled in blocks of this many consecutive days (autocorrelated errors)
BLEND_GRID = tuple(np.round(np.arange(0.0, 1.01, 0.05), 2))
# what makes a wet issue day: the forecast rain over the lead window (mm) for a model with weather forecasts, else
# the rain observed over the last 3 days (days t-2..t, mm)
WET_FEATURE = {"nwp": "nwp_p_sum", "plain": "psum3"}
MIN_WET_ROWS = 60  # held-out wet days needed for their own residual quantiles
METRICS = {"regression": "l2", "gamma": "gamma"}  # LightGBM objectives of the point forecast and their metric
OBJECTIVES = tuple(METRICS)


@dataclass
class LGBMParams:
    """Hyper-parameters (LightGBM names) and training settings."""

    num_leaves: int = 31
    learning_rate: float = 0.05
    n_estimators: int = 300  # trees when there are no held-out years to stop on
    max_estimators: int = 1500  # at most this many trees when early stopping on the held-out years
    min_data_in_leaf: int = 40
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 1.0
    max_bin: int = 127
    num_threads: int = 1  # >1 only on an otherwise idle machine: OpenMP threads spin under contention
    weight_power: float = 1.0  # sample weight (L/Q_median)^p, clipped to [0.1, 50] (see sample_weights)
    cal_years: int = 6  # held-out years at the end of the training period for blending and calibration
    # > 0: stop adding trees when the held-out years stop improving for this many rounds (at most max_estimators).
    # Measured with 50 on the real backtest: median skill 0.62/0.39/0.42 (leads 1/3/7) against 0.61/0.39/0.42
    # without, but the Protva's lead-7 NSE fell from 0.61 to 0.57 (its held-out years have small floods); off.
    early_stopping: int = 0
    refit: bool = False  # refit on the whole training period after calibration
    linear_tree: bool = False  # linear models in the leaves (extrapolate beyond the training range)
    blend: bool = True  # blend with persistence on the held-out years (else weight 1)
    blend_bootstrap: int = 200  # block-bootstrap resamples of the held-out years for the blend weight (0: plain)
    blend_quantile: float = 0.2  # the weight taken: this quantile of the resampled best weights (conservative)
    blend_confidence: float = 0.95  # weight 1 when the model beats persistence in this share of the resamples
    error_correction: bool = False  # add phi_k * (yesterday's lead-1 error); measured: no gain, so off
    keep_point_median: bool = True  # the 0.5 quantile is the (flow-weighted) point forecast, not re-centred
    snow: bool = True  # snow features (SWE, melt, cover, degree-day store); False for the snow ablation
    # weather-forecast (NWP) variables used as inputs (features.NWP_VARIABLES, e.g. ("precip_mm",)); () = none.
    # The frames given to fit/predict must then carry the `features.nwp_column` columns.
    nwp: tuple[str, ...] = ()
    nwp_monotone: bool = True  # the forecast flow rises with forecast rain (LightGBM monotone constraints)
    # the issue days whose rain (forecast over the lead window, or observed over the last 3 days: WET_FEATURE) is
    # among each station's wettest `wet_share` of the held-out days get their own residual quantiles (`wet`); 0: one
    # table for all days
    wet_share: float = 0.1
    # the wet table also re-centres the median on the wet days' residual median (measured on the Rottum with
    # GraphCast: skill 0.40 / 0.52 / 0.44 at leads 1 / 3 / 7 against 0.45 / 0.54 / 0.46 keeping the point forecast)
    wet_recentre: bool = False
    seed: int = 7
    # The loss of the point forecast (`loss`: `nwp_objective` for a model with weather forecasts, else `objective`):
    # "regression", the squared error of the change of log discharge (the forecast is the expected log ratio, near
    # the median), or "gamma", the gamma deviance of the ratio Q(t+k)/Q(t) with a log link (the forecast is the log
    # of the expected ratio: the mean, which the squared error of discharge rewards when a rise is uncertain).
    # Measured with gamma, leads 1 / 3 / 7: the Rottum with GraphCast skill 0.54 / 0.52 / 0.51 against 0.46 / 0.53 /
    # 0.46 (seed 1: 0.52 / 0.53 / 0.50 against 0.45 / 0.53 / 0.47), coverage 0.90-0.94 either way; the 10 real
    # stations with their observed future weather (--nwp perfect): mean skill 0.742 against 0.740, mean CRPSS 0.612
    # against 0.615; without weather forecasts (objective, the real backtest): mean skill 0.441 against 0.436 but
    # mean CRPSS 0.411 against 0.420, so the models without NWP keep the squared error of the log change.
    objective: str = "regression"
    nwp_objective: str = "gamma"

    def __post_init__(self) -> None:
        self.nwp = tuple(self.nwp)  # JSON gives a list
        for name in (self.objective, self.nwp_objective):
            if name not in OBJECTIVES:
                raise ValueError(f"unknown objective '{name}' (known: {', '.join(OBJECTIVES)})")

    @property
    def loss(self) -> str:
        """The LightGBM objective of this model: `nwp_objective` with weather-forecast inputs, else `objective`."""
        return self.nwp_objective if self.nwp else self.objective

    def lgb_params(self) -> dict:
        return {
            "objective": self.loss,
            "num_leaves": self.num_leaves,
            "learning_rate": self.learning_rate,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "lambda_l2": self.lambda_l2,
            "max_bin": self.max_bin,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "linear_tree": self.linear_tree,
            "linear_lambda": 1.0 if self.linear_tree else 0.0,
            "verbose": -1,
        }


def sample_weights(x: pd.DataFrame, y: np.ndarray, power: float = 1.0) -> np.ndarray:
    """Training weight of each row of lead features `x` (with lq0, lq_anom, clim_dlq) and target `y` (change of
    log discharge to t+k): (L/Q_median)^power clipped to [0.1, 50], where log L is the largest of log Q(t), the
    climatological log discharge of the valid day, and the mean of log Q(t) and log Q(t+k) (all relative to the
    station's median discharge, as the features are)."""
    lq0 = x["lq0"].to_numpy(dtype=float)
    lclim = lq0 - x["lq_anom"].to_numpy(dtype=float) + x["clim_dlq"].to_numpy(dtype=float)  # clim of day t+k
    level = np.fmax(np.fmax(lq0, lclim), lq0 + 0.5 * np.asarray(y, dtype=float))
    return np.clip(np.exp(level) ** power, 0.1, 50.0)


def scale_proxy(x: pd.DataFrame, yhat: np.ndarray, lead: int) -> np.ndarray:
    """Scale of the expected error: |predicted change| + recent variability * sqrt(lead) (`scale_of`)."""
    return scale_of(x["dlq_std7"].to_numpy(dtype=float), yhat, lead)


def scale_of(dlq_std7: np.ndarray, yhat: np.ndarray, lead: int) -> np.ndarray:
    """|yhat| + dlq_std7 * sqrt(lead): the scale proxy from the recent variability (std of the daily change of log
    discharge over 7 days; NaN counts as 0) and the predicted change."""
    vol = np.nan_to_num(np.asarray(dlq_std7, dtype=float), nan=0.0)
    return np.abs(yhat) + vol * np.sqrt(lead)


class LGBMForecaster:
    """Per-basin LightGBM forecaster (see module docstring)."""

    name = "lightgbm"

    def __init__(self, leads: list[int] | None = None, params: LGBMParams | None = None) -> None:
        self.leads = list(leads or range(1, 8))
        self.params = params or LGBMParams()
        self.name = "lightgbm-nwp" if self.params.nwp else "lightgbm"  # which model set made a forecast
        self.contexts: dict[str, StationContext] = {}
        self.boosters: dict[int, lgb.Booster] = {}
        self.blend: dict[int, float] = {}
        self.error_correction: dict[int, float] = {}  # phi_k: yhat_k += phi_k * (error of yesterday's lead-1)
        self.calibration: dict[int, ResidualCalibration] = {}
        self.spread: dict[int, dict[str, float]] = {}  # lead -> station -> spread of a pooled model's quantiles
        # lead -> {"feature", "threshold": {station: value}, "calibration": ResidualCalibration} (`_fit_wet`)
        self.wet: dict[int, dict] = {}
        self.feature_names: list[str] = []
        self.validation: dict[str, dict[str, float | None]] = {}
        self.train_period: tuple[str, str] = ("", "")
        # first issue day of the held-out years (not trained on; blend and calibration fitted there); "" when some
        # lead had too few rows to hold out (in-sample calibration)
        self.held_out_start: str = ""

    @property
    def stations(self) -> list[str]:
        return list(self.contexts)

    # -- data -------------------------------------------------------------------------------------------------
    def _station_design(self, sid: str, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        ctx = self.contexts[sid]
        base = build_features(df, ctx, snow=self.params.snow, nwp=self.params.nwp)
        y = targets(df, ctx, self.leads)
        return base, y

    def _label(self, y: np.ndarray) -> np.ndarray:
        """The training label of targets `y` (change of log discharge): y itself, or the ratio exp(y) for "gamma"
        (whose raw score, the log of the expected ratio, is again a change of log discharge)."""
        return y if self.params.loss == "regression" else np.exp(y)

    def _raw(self, booster: lgb.Booster, x) -> np.ndarray:
        """The forecast change of log discharge of rows `x`: the booster's raw score (for "gamma" the log of the
        expected ratio, not the ratio)."""
        return booster.predict(x, num_threads=self.params.num_threads, raw_score=True)

    def _weights(self, x: pd.DataFrame, y: np.ndarray) -> np.ndarray:
        return sample_weights(x, y, self.params.weight_power)

    # -- training ---------------------------------------------------------------------------------------------
    def fit(
        self,
        frames: dict[str, pd.DataFrame],
        train_end: pd.Timestamp | dict[str, pd.Timestamp] | None = None,
        attrs: dict[str, dict] | None = None,
    ) -> LGBMForecaster:
        """Fit on the stations' data up to and including `train_end` (one date, or one per station; default: all
        data). Frames: station -> DataFrame by date with canonical variables (QC-masked)."""
        attrs = attrs or {}
        designs = []
        ends = []
        for sid, df in frames.items():
            end_k = train_end.get(sid) if isinstance(train_end, dict) else train_end
            if end_k is None:  # default: the last observed discharge of the station
                q = df["discharge_m3s"] if "discharge_m3s" in df else pd.Series(dtype=float)
                end_k = q.last_valid_index() if q.notna().any() else pd.DatetimeIndex(df.index).max()
            end = pd.Timestamp(end_k)
            ctx = fit_context(sid, df, end, float(attrs.get(sid, {}).get("area_km2", float("nan"))))
            self.contexts[sid] = ctx
            base, y = self._station_design(sid, df)
            more = []  # further draws of degraded training forcing (forecasting.forcing.training_forcing)
            if self.params.nwp:
                more = [self._station_design(sid, with_nwp_draw(df, d))[0].loc[:end] for d in range(1, nwp_draws(df))]
            designs.append((sid, base.loc[:end], y.loc[:end], end, more))
            ends.append(end)
        if not designs:
            raise ValueError("no stations to train on")
        t_end = max(ends)
        t_start = min(pd.Timestamp(self.contexts[s].train_start) for s in self.contexts)
        self.train_period = (str(t_start.date()), str(t_end.date()))
        n_years = (t_end - t_start).days / 365.25
        cal_years = min(self.params.cal_years, max(1.0, n_years * 0.25))
        cal_start = t_end - pd.Timedelta(days=int(cal_years * 365.25))
        params = self.params.lgb_params()
        r1_cal: dict[str, pd.Series] = {}  # held-out errors of the lead-1 forecasts, by issue day
        held_out_all = True
        for k in sorted(self.leads):
            xs, ys, ws, is_cal, ctxs, dts = [], [], [], [], [], []
            more_x, more_y, more_w, more_cal = [], [], [], []
            for sid, base, y, end, more in designs:
                x = lead_features(base, self.contexts[sid], k)
                yk = y[k].to_numpy().copy()
                dates = pd.DatetimeIndex(base.index)
                yk[dates + pd.Timedelta(days=k) > end] = np.nan  # targets must lie in the training period
                ok = ~np.isnan(yk) & ~np.isnan(x["lq0"].to_numpy())
                xs.append(x[ok])
                ys.append(yk[ok])
                ws.append(self._weights(x[ok], yk[ok]))
                is_cal.append(dates[ok] >= cal_start)
                ctxs.extend([sid] * int(ok.sum()))
                dts.append(dates[ok])
                for base_d in more:
                    more_x.append(lead_features(base_d, self.contexts[sid], k)[ok])
                    more_y.append(yk[ok])
                    more_w.append(ws[-1])
                    more_cal.append(is_cal[-1])
            x_all = pd.concat(xs)
            y_all = np.concatenate(ys)
            w_all = np.concatenate(ws)
            cal = np.concatenate(is_cal)
            self.feature_names = list(x_all.columns)
            fit_mask = ~cal
            if fit_mask.sum() < 200 or cal.sum() < 100:
                fit_mask = np.ones(len(y_all), dtype=bool)
                cal = np.zeros(len(y_all), dtype=bool)
            x_fit, y_fit, w_fit = x_all[fit_mask], y_all[fit_mask], w_all[fit_mask]
            if more_x:  # every draw of the training forcing on the training rows (the held-out rows: the first)
                more_fit = ~np.concatenate(more_cal) if cal.any() else slice(None)
                x_fit = pd.concat([x_fit, pd.concat(more_x)[more_fit]])
                y_fit = np.concatenate([y_fit, np.concatenate(more_y)[more_fit]])
                w_fit = np.concatenate([w_fit, np.concatenate(more_w)[more_fit]])
            keep_raw = self.params.early_stopping > 0  # the held-out set is binned with the training set
            dtrain = lgb.Dataset(x_fit, self._label(y_fit), weight=w_fit, free_raw_data=not keep_raw)
            callbacks, valid = [], []
            if self.params.early_stopping > 0 and cal.any():
                valid = [lgb.Dataset(x_all[cal], self._label(y_all[cal]), weight=w_all[cal], reference=dtrain)]
                callbacks = [lgb.early_stopping(self.params.early_stopping, verbose=False)]
            booster = lgb.train(
                {**params, **self._monotone(list(x_all.columns)), "metric": METRICS[self.params.loss]},
                dtrain,
                num_boost_round=self.params.max_estimators if valid else self.params.n_estimators,
                valid_sets=valid,
                callbacks=callbacks,
            )
            if cal.any():
                xc = x_all[cal]
                yc = y_all[cal]
                yhat = self._raw(booster, xc)
                lq0 = xc["lq0"].to_numpy()
                sids = np.asarray(ctxs)[cal]
                w = self._fit_blend(lq0, yhat, yc, sids) if self.params.blend else 1.0
                self.blend[k] = w
                dcal = pd.DatetimeIndex(np.concatenate([d.values for d in dts]))[cal]
                if k == 1:
                    for sid in np.unique(sids):
                        m = sids == sid
                        r1_cal[sid] = pd.Series(yc[m] - w * yhat[m], index=dcal[m])
                e1 = np.zeros(len(yc))
                for sid in np.unique(sids):
                    m = sids == sid
                    if sid in r1_cal:
                        e1[m] = r1_cal[sid].reindex(dcal[m] - pd.Timedelta(days=1)).fillna(0.0).to_numpy()
                phi = self._fit_error_correction(yc - w * yhat, e1, self._weights(xc, yc))
                self.error_correction[k] = phi
                yhat = w * yhat + phi * e1
                w = 1.0
                resid = yc - yhat
                scale = scale_proxy(xc, yhat, k)
                kpm = self.params.keep_point_median
                if len(np.unique(sids)) > 1:  # a pooled model: each station's spread against one table of all
                    spreads = station_spreads(resid, scale, sids, fit_calibration(resid, scale, keep_point_median=kpm))
                    self.spread[k] = spreads
                    resid = resid / np.array([spreads.get(str(sid), 1.0) for sid in sids])
                wet = self._fit_wet(k, xc, sids, resid, scale)
                dry = np.ones(len(resid), dtype=bool) if wet is None else ~wet  # the wet days have their own table
                calib = fit_calibration(resid[dry], scale[dry], keep_point_median=kpm)
                calib.coverage = held_out_coverage(resid, scale, keep_point_median=kpm)
                self.calibration[k] = calib
                self.validation[str(k)] = self._validation(lq0, w * yhat, yc, sids)
                self.validation[str(k)]["trees"] = int(booster.best_iteration or booster.num_trees())
            else:
                self.blend[k] = 1.0
                resid = y_all - self._raw(booster, x_all)
                self.calibration[k] = fit_calibration(resid, scale_proxy(x_all, y_all - resid, k))
                self.validation[str(k)] = {"note": "no held-out period: in-sample calibration"}
            if self.params.refit and cal.any():
                booster = lgb.train(
                    {**params, **self._monotone(list(x_all.columns))},
                    lgb.Dataset(x_all, self._label(y_all), weight=w_all, free_raw_data=True),
                    num_boost_round=booster.best_iteration or self.params.n_estimators,
                )
            self.boosters[k] = booster
            held_out_all = held_out_all and bool(cal.any())
        self.held_out_start = str(cal_start.date()) if held_out_all else ""
        return self

    def _fit_wet(
        self, k: int, xc: pd.DataFrame, sids: np.ndarray, resid: np.ndarray, scale: np.ndarray
    ) -> np.ndarray | None:
        """The held-out rows whose rain (`WET_FEATURE`: forecast over the lead window for an NWP model, else observed
        over the last 3 days) is at or above their station's (1 - wet_share) quantile of it get residual quantiles
        of their own, kept in `self.wet[k]`; returns their mask (None when there are too few, under MIN_WET_ROWS,
        or no rain is known).

        Measured on the Rottum with GraphCast, test years 2016-2017: with one table for all days, the 90% interval
        held 0.77 / 0.85 / 0.79 of the observations at leads 1 / 3 / 5 on the 10% of issue days with the most
        forecast rain and 0.92 / 0.94 / 0.92 on the others; with the wet table 0.89 / 0.93 / 0.93 and 0.91 / 0.93 /
        0.92 (CRPSS up by 0.001-0.007 at leads 1-6, the median unchanged)."""
        feature = WET_FEATURE["nwp" if "precip_mm" in self.params.nwp else "plain"]
        if self.params.wet_share <= 0 or feature not in xc.columns:
            return None
        rain = xc[feature].to_numpy(dtype=float)
        thresholds: dict[str, float] = {}
        wet = np.zeros(len(rain), dtype=bool)
        for sid in np.unique(sids):
            m = (sids == sid) & np.isfinite(rain)
            if not m.any():
                continue
            thr = float(np.quantile(rain[m], 1.0 - self.params.wet_share))
            if thr > 0:
                thresholds[str(sid)] = thr
                wet |= m & (rain >= thr)
        if wet.sum() < MIN_WET_ROWS or (~wet).sum() < 4 * MIN_WET_ROWS:
            return None
        kpm = self.params.keep_point_median and not self.params.wet_recentre
        calib = fit_calibration(resid[wet], scale[wet], n_bins=1, keep_point_median=kpm)
        self.wet[k] = {"feature": feature, "threshold": thresholds, "calibration": calib}
        return wet

    def _wet_rows(self, sid: str, k: int, matrix: np.ndarray) -> np.ndarray:
        """Which rows of a lead's input `matrix` are wet days of station `sid` (`_fit_wet`)."""
        spec = self.wet.get(k)
        thr = spec["threshold"].get(sid) if spec else None
        if thr is None:
            return np.zeros(len(matrix), dtype=bool)
        rain = matrix[:, self.feature_names.index(spec["feature"])]
        return np.nan_to_num(rain, nan=-np.inf) >= thr

    def blend_of(self, station: str, lead: int) -> float:
        """The weight of the model against persistence for a station and lead (see `_fit_blend`; one per lead)."""
        return self.blend.get(lead, 1.0)

    def _monotone(self, features: list[str]) -> dict:
        """With `nwp_monotone`: more forecast rain (and rain plus melt) never lowers the forecast flow, all else
        equal (a physical constraint that keeps the trees sensible for the heavy rains seldom seen in training)."""
        if not self.params.nwp or not self.params.nwp_monotone:
            return {}
        up = set(MONOTONE_UP)
        return {"monotone_constraints": [1 if f in up else 0 for f in features]}

    def _fit_error_correction(self, resid: np.ndarray, e1: np.ndarray, weight: np.ndarray) -> float:
        """phi minimising the weighted squared residual after adding phi * e1 (0 when lead 1 is not modelled or
        the correction does not help), clipped to [0, 2]."""
        if not self.params.error_correction or not np.any(e1):
            return 0.0
        den = float(np.sum(weight * e1**2))
        return float(np.clip(np.sum(weight * resid * e1) / den, 0.0, 2.0)) if den > 0 else 0.0

    def _to_q(self, lq_norm: np.ndarray, sids: np.ndarray) -> np.ndarray:
        out = np.empty(len(lq_norm))
        for sid in np.unique(sids):
            m = sids == sid
            out[m] = inv_log_q(lq_norm[m], self.contexts[sid])
        return out

    def _fit_blend(self, lq0: np.ndarray, yhat: np.ndarray, y: np.ndarray, sids: np.ndarray) -> float:
        """Weight of the model against persistence on the held-out years (MSE of discharge), robust to how little
        evidence a short record gives. The held-out days are resampled (`blend_bootstrap` block-bootstrap
        resamples, blocks of BLEND_BLOCK_DAYS consecutive rows): where the model beats persistence in at least
        `blend_confidence` of them (a clear gain, as on long records) the weight is 1; otherwise it is the
        `blend_quantile` quantile of the resamples' best weights, so a gain within the noise of a short held-out
        period is pulled towards persistence (records cut to 8-12 years: tests/test_short_records.py).
        With `blend_bootstrap` = 0: 1 unless the model is worse than persistence, then the best weight."""
        obs = self._to_q(lq0 + y, sids)
        errs = np.stack([(self._to_q(lq0 + w * yhat, sids) - obs) ** 2 for w in BLEND_GRID], axis=1)  # n x grid
        errs = np.nan_to_num(errs, nan=0.0)
        full = errs.mean(axis=0)
        if self.params.blend_bootstrap <= 0:
            return 1.0 if full[-1] <= full[0] else float(BLEND_GRID[int(np.argmin(full))])
        n_blocks = max(1, len(errs) // BLEND_BLOCK_DAYS)
        blocks = np.add.reduceat(errs, np.arange(0, n_blocks * BLEND_BLOCK_DAYS, BLEND_BLOCK_DAYS), axis=0)
        rng = np.random.default_rng(self.params.seed)
        nb = self.params.blend_bootstrap
        counts = np.zeros((nb, n_blocks))
        np.add.at(counts, (np.arange(nb)[:, None], rng.integers(0, n_blocks, (nb, n_blocks))), 1.0)
        sums = counts @ blocks  # resamples x grid
        if np.mean(sums[:, -1] < sums[:, 0]) >= self.params.blend_confidence:
            return 1.0
        best = np.asarray(BLEND_GRID)[np.argmin(sums, axis=1)]
        return float(np.quantile(best, self.params.blend_quantile, method="lower"))

    def _validation(self, lq0: np.ndarray, yhat: np.ndarray, y: np.ndarray, sids: np.ndarray) -> dict:
        obs = self._to_q(lq0 + y, sids)
        fc = self._to_q(lq0 + yhat, sids)
        pers = self._to_q(lq0, sids)
        sse = np.sum((obs - fc) ** 2)
        nse = 1 - sse / np.sum((obs - obs.mean()) ** 2)
        skill = 1 - sse / np.sum((obs - pers) ** 2)
        return {"nse": float(nse), "skill_vs_persistence": float(skill), "n": int(len(obs))}

    # -- prediction -------------------------------------------------------------------------------------------
    def _features(self, sid: str, df: pd.DataFrame, end: pd.Timestamp | None) -> FeatureTable:
        """The feature rows of `df` up to `end` for station `sid` (`FEATURE_TABLES`: built once for a forecast
        and its explanation, and for the basin and the global model where they hold the same station constants)."""
        hist = df.loc[:end] if end is not None else df
        return FEATURE_TABLES.get(sid, hist, self.contexts[sid], self.params.snow, self.params.nwp)

    def predict(
        self,
        frames: dict[str, pd.DataFrame],
        issue_dates: pd.DatetimeIndex,
        levels: tuple[float, ...] = FINE_LEVELS,
    ) -> dict[str, np.ndarray]:
        """Quantiles of discharge (m3/s), n_dates x n_leads x n_levels, per station of the model.

        Rows where the discharge of the issue day (carried forward at most 3 days) is unknown are NaN."""
        return {
            sid: self.predict_station(sid, df, issue_dates, levels)[0]
            for sid, df in frames.items()
            if sid in self.contexts
        }

    def predict_station(
        self, sid: str, df: pd.DataFrame, issue_dates: pd.DatetimeIndex, levels: tuple[float, ...] = FINE_LEVELS
    ) -> tuple[np.ndarray, np.ndarray]:
        """`predict` of one station of the model, with where its band comes from the heavy-rain table: (quantiles
        n_dates x n_leads x n_levels in m3/s, bool n_dates x n_leads; see `_fit_wet`: wider, as the errors on the
        days with heavy rain, forecast over the lead window or observed over the last 3 days, were larger)."""
        issue_dates = pd.DatetimeIndex(issue_dates)
        ctx = self.contexts[sid]
        end = issue_dates.max() if len(issue_dates) else None
        table = self._features(sid, df, end)
        lq0 = table.column_at("lq0", issue_dates)
        res = np.full((len(issue_dates), len(self.leads), len(levels)), np.nan)
        heavy = np.zeros((len(issue_dates), len(self.leads)), dtype=bool)
        ok = ~np.isnan(lq0)
        if ok.any():
            days_ok = issue_dates[ok]
            vol = table.column_at("dlq_std7", days_ok)  # the scale proxy's recent variability
            hist = df.loc[:end] if end is not None else df
            e1 = self._yesterday_error(hist, table.full, ctx, days_ok)
            for j, k in enumerate(self.leads):
                matrix = table.lead_matrix(days_ok, k, self.feature_names)
                raw = self._raw(self.boosters[k], matrix)
                yhat = self.blend_of(sid, k) * raw
                yhat = yhat + self.error_correction.get(k, 0.0) * e1
                spread = self.spread.get(k, {}).get(sid, 1.0)
                scale = scale_of(vol, yhat, k)
                qy = self.calibration[k].quantiles(yhat, scale, levels, spread)
                wet = self._wet_rows(sid, k, matrix)
                if wet.any():
                    qy[wet] = self.wet[k]["calibration"].quantiles(yhat[wet], scale[wet], levels, spread)
                heavy[ok, j] = wet
                lq = lq0[ok][:, None] + qy
                res[ok, j, :] = np.sort(inv_log_q(lq, ctx), axis=1)
        return res, heavy

    def heavy_rain_days(
        self, sid: str, df: pd.DataFrame, issue_dates: pd.DatetimeIndex, leads: list[int]
    ) -> np.ndarray:
        """n_dates x len(leads), bool: the heavy-rain flags of `predict_station` for `leads` (a forecast gets them
        with its quantiles from predict_station; False where the issue day's discharge is unknown)."""
        heavy = self.predict_station(sid, df, issue_dates)[1]
        return heavy[:, [self.leads.index(k) for k in leads]]

    def contributions(self, frames: dict[str, pd.DataFrame], issue_date: pd.Timestamp) -> dict[str, pd.DataFrame]:
        """Why the model forecasts what it does: per station, a frame leads x (features + "bias") of the additive
        contributions (LightGBM's SHAP values, times the blend weight) to the forecast change of log discharge
        from the issue day to day t+k; a row sums to the point forecast of that lead. Stations whose discharge on
        the issue day is unknown are left out."""
        out = {}
        for sid, df in frames.items():
            if sid not in self.contexts:
                continue
            c = self.contribution_matrix(sid, df, pd.Timestamp(issue_date), self.leads)
            if c is not None:
                out[sid] = pd.DataFrame(c, index=list(self.leads), columns=[*self.feature_names, "bias"])
        return out

    def contribution_matrix(
        self, sid: str, df: pd.DataFrame, issue: pd.Timestamp, leads: list[int]
    ) -> np.ndarray | None:
        """`contributions` of one station as an array, `leads` x (features + bias); None where the discharge of
        the issue day is unknown."""
        days = pd.DatetimeIndex([issue])
        table = self._features(sid, df, issue)
        if np.isnan(table.column_at("lq0", days)[0]):
            return None
        out = np.empty((len(leads), len(self.feature_names) + 1))
        for j, k in enumerate(leads):
            x = table.lead_matrix(days, k, self.feature_names)
            out[j] = self.boosters[k].predict(x, pred_contrib=True, num_threads=self.params.num_threads)[0]
            out[j] *= self.blend_of(sid, k)
        return out

    def issue_log_q(self, sid: str, df: pd.DataFrame, issue: pd.Timestamp) -> float:
        """log_q of the issue day's discharge as the features use it (carried forward at most Q_FFILL_DAYS days;
        NaN when unknown)."""
        return float(self._features(sid, df, issue).column_at("lq0", pd.DatetimeIndex([issue]))[0])

    def _yesterday_error(
        self, hist: pd.DataFrame, full: pd.DataFrame, ctx: StationContext, days: pd.DatetimeIndex
    ) -> np.ndarray:
        """Error (log discharge) of the lead-1 forecast issued the day before each of `days`, valid on that day;
        0 where unknown. Uses observations up to the day itself only."""
        if not any(self.error_correction.values()) or 1 not in self.boosters:
            return np.zeros(len(days))
        prev = full.reindex(days - pd.Timedelta(days=1))
        okp = prev["lq0"].notna().to_numpy()
        out = np.zeros(len(days))
        if okp.any():
            xp = lead_features(prev[okp], ctx, 1)[self.feature_names]
            raw1 = self._raw(self.boosters[1], xp.to_numpy(dtype=float))
            yhat1 = self.blend_of(ctx.station_id, 1) * raw1
            q_obs = inputs_frame(hist)["q_obs"]
            lq_obs = pd.Series(log_q(q_obs, ctx), index=q_obs.index)
            y1 = lq_obs.reindex(days[okp]).to_numpy() - prev["lq0"].to_numpy()[okp]
            out[okp] = np.nan_to_num(y1 - yhat1, nan=0.0)
        return out

    # -- persistence of the fitted model ----------------------------------------------------------------------
    def metadata(self) -> dict:
        return {
            "name": self.name,
            "leads": self.leads,
            "params": asdict(self.params),
            "contexts": {s: c.to_dict() for s, c in self.contexts.items()},
            "blend": {str(k): v for k, v in self.blend.items()},
            "error_correction": {str(k): v for k, v in self.error_correction.items()},
            "calibration": {str(k): c.to_dict() for k, c in self.calibration.items()},
            "spread": {str(k): v for k, v in self.spread.items()},
            "wet": {str(k): {**v, "calibration": v["calibration"].to_dict()} for k, v in self.wet.items()},
            "features": self.feature_names,
            "validation": self.validation,
            "train_period": list(self.train_period),
            "held_out_start": self.held_out_start,
        }

    @classmethod
    def from_metadata(cls, meta: dict, boosters: dict[int, lgb.Booster]) -> LGBMForecaster:
        params = {"objective": "regression", "nwp_objective": "regression", **meta["params"]}  # older files: L2
        m = cls(meta["leads"], LGBMParams(**params))
        m.contexts = {s: StationContext.from_dict(c) for s, c in meta["contexts"].items()}
        m.blend = {int(k): float(v) for k, v in meta["blend"].items()}
        m.error_correction = {int(k): float(v) for k, v in meta.get("error_correction", {}).items()}
        m.calibration = {int(k): ResidualCalibration.from_dict(c) for k, c in meta["calibration"].items()}
        m.spread = {int(k): {str(s): float(f) for s, f in v.items()} for k, v in meta.get("spread", {}).items()}
        m.wet = {
            int(k): {
                "feature": str(v["feature"]),
                "threshold": {str(s): float(t) for s, t in v["threshold"].items()},
                "calibration": ResidualCalibration.from_dict(v["calibration"]),
            }
            for k, v in meta.get("wet", {}).items()
        }
        m.feature_names = list(meta["features"])
        m.validation = meta.get("validation", {})
        m.train_period = tuple(meta.get("train_period", ("", "")))
        m.held_out_start = str(meta.get("held_out_start") or "")
        m.boosters = boosters
        return m
