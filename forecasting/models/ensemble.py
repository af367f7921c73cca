"""How a basin model and the global model are combined: the weight of each and the spread of their average, fitted
per lead on the held-out years both models share.

Each model's quantiles are calibrated alone on its own held-out years (forecasting.models.calibration). Their
average (quantile averaging) has a better median than either, but keeps their average width: it over-covers
(measured on the Rottum with weather forecasts: 90% coverage 0.946 at lead 3 with the fixed 0.5/0.5 average, 0.930
with the basin model alone). And which of the two is better differs by basin and lead. `fit_ensemble` therefore
forecasts the held-out days that neither model was trained on (the issue days from the later of the two held-out
starts to each station's training end) with both, and picks per lead
- the global model's weight w (WEIGHT_GRID) that minimises the mean quantile (pinball) loss over FINE_LEVELS of the
  discharge relative to the station's median flow (a CRPS: proper, and weighted towards the floods like the NSE);
- then a spread s of the averaged quantiles around their median in log discharge
  (`lq_tau -> lq_0.5 + s * (lq_tau - lq_0.5)`): the spread (SPREAD_GRID) minimising the pinball loss of log
  discharge (every day counts alike, as in the coverage of the intervals; in discharge units the floods would widen
  every day's band) for the average, divided by the same for each model alone (weighted): what averaging does to
  the width, and nothing else. Each model's quantiles were calibrated on these very rows, so the fitted spread of
  the average alone would also carry their in-sample optimism (measured: a narrower band than the test years bear).
With too few shared held-out rows (MIN_ROWS) the lead keeps the default weight and spread 1.
Measured: the Rottum with GraphCast, 90% coverage 0.90-0.93 at leads 1-7 (0.92-0.95 with 0.5/0.5), skill and CRPSS
within 0.01; the real backtest (9 stations, fitted weights 0.1-0.9), median skill and mean CRPSS within 0.006 and
0.001 of the fixed average: the fit costs nothing where 0.5/0.5 was right and mends it where it was not.

The fit belongs to a pair of model versions (the basin's and the global model's, `global_version`); a forecast uses
it only with that global version, else the default weight (forecasting.forecast).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.features import StationContext, inv_log_q, log_q
from forecasting.models.calibration import FINE_LEVELS
from forecasting.models.lgbm import LGBMForecaster

WEIGHT_GRID = tuple(np.round(np.arange(0.0, 1.0001, 0.1), 2))  # weight of the global model
SPREAD_GRID = tuple(np.round(np.arange(0.6, 1.4001, 0.05), 2))  # factor on the distance to the median
MIN_ROWS = 300  # shared held-out issue days (all stations of the basin) needed to fit a lead (~1 year)


def ensemble_quantiles(parts: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """Weighted average of predictive quantile arrays (... x K, same levels; quantile averaging), sorted along the
    last axis so that they never cross. NaN where any part is NaN."""
    w = np.asarray(weights, dtype=float) / float(np.sum(weights))
    out = sum(wi * np.asarray(q, dtype=float) for wi, q in zip(w, parts, strict=True))
    return np.sort(out, axis=-1)


@dataclass
class EnsembleFit:
    """Per lead: the global model's weight and the spread factor of the averaged quantiles (1: as averaged), fitted
    for the basin model with global model version `global_version`; `rows` held-out issue days used, `loss` the
    mean pinball losses: of relative discharge at the default and the fitted weight, of log discharge of the average
    with spread 1 and with its best spread (before dividing by the models' own)."""

    global_version: str
    weight: dict[int, float] = field(default_factory=dict)
    spread: dict[int, float] = field(default_factory=dict)
    rows: dict[int, int] = field(default_factory=dict)
    loss: dict[int, dict[str, float]] = field(default_factory=dict)
    held_out: tuple[str, str] = ("", "")  # first and last issue day used

    def weights(self, leads: list[int], default: float) -> np.ndarray:
        """The global model's weight per lead of `leads` (`default` where the lead was not fitted)."""
        return np.array([self.weight.get(int(k), default) for k in leads], dtype=float)

    def spreads(self, leads: list[int]) -> np.ndarray:
        return np.array([self.spread.get(int(k), 1.0) for k in leads], dtype=float)

    def to_dict(self) -> dict:
        return {
            "global_version": self.global_version,
            "weight": {str(k): v for k, v in self.weight.items()},
            "spread": {str(k): v for k, v in self.spread.items()},
            "rows": {str(k): v for k, v in self.rows.items()},
            "loss": {str(k): v for k, v in self.loss.items()},
            "held_out": list(self.held_out),
        }

    @classmethod
    def from_dict(cls, d: dict) -> EnsembleFit:
        """Read back `to_dict`; ValueError when a weight lies outside [0, 1] or a spread outside SPREAD_GRID's
        range (a damaged or edited file is never used)."""
        fit = cls(
            global_version=str(d["global_version"]),
            weight={int(k): float(v) for k, v in d.get("weight", {}).items()},
            spread={int(k): float(v) for k, v in d.get("spread", {}).items()},
            rows={int(k): int(v) for k, v in d.get("rows", {}).items()},
            loss={int(k): {str(a): float(b) for a, b in v.items()} for k, v in d.get("loss", {}).items()},
            held_out=tuple(d.get("held_out", ("", ""))),
        )
        bad = [f"weight {k}: {v}" for k, v in fit.weight.items() if not 0.0 <= v <= 1.0]
        bad += [f"spread {k}: {v}" for k, v in fit.spread.items() if not SPREAD_GRID[0] <= v <= SPREAD_GRID[-1]]
        if bad:
            raise ValueError(f"values out of range ({', '.join(bad[:3])})")
        return fit


def pair_weights(fit: EnsembleFit | None, leads: list[int], default_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """The global model's weight and the spread of the average per lead of `leads`: fitted for the pair of
    versions where there is a fit, else `default_weight` (ForecastConfig.global_weight) and 1."""
    if fit is None:
        return np.full(len(leads), float(default_weight)), np.ones(len(leads))
    return fit.weights(leads, default_weight), fit.spreads(leads)


def combine(
    basin_q: np.ndarray,
    global_q: np.ndarray,
    weights: np.ndarray,
    spreads: np.ndarray,
    ctx: StationContext,
    levels: tuple[float, ...],
) -> np.ndarray:
    """The published quantiles (n x leads x K, m3/s) from the basin and global models' quantiles (same shape):
    averaged per lead with the global model's weight `weights[j]`, then spread by `spreads[j]` around the median
    in log discharge (`ctx`: the station's constants, features.log_q); sorted, so they never cross."""
    out = np.empty_like(np.asarray(basin_q, dtype=float))
    for j in range(out.shape[1]):
        w = float(weights[j])
        out[:, j, :] = ensemble_quantiles([basin_q[:, j, :], global_q[:, j, :]], [1.0 - w, w])
    return spread_about_median(out, spreads, ctx, levels)


def spread_about_median(
    q: np.ndarray, spreads: np.ndarray, ctx: StationContext, levels: tuple[float, ...]
) -> np.ndarray:
    """Quantiles (n x leads x K, m3/s) with their distance to the median (in log discharge) times `spreads[j]` at
    lead j; unchanged where the spread is 1. The median is the 0.5 level (interpolated when not among `levels`)."""
    s = np.asarray(spreads, dtype=float)
    if np.all(s == 1.0) or q.size == 0:
        return q
    lq = log_q(q, ctx)
    lv = np.asarray(levels, dtype=float)
    if 0.5 in levels:
        mid = lq[..., list(levels).index(0.5)]
    else:
        mid = np.apply_along_axis(lambda r: np.interp(0.5, lv, r), -1, lq)
    out = mid[..., None] + s[None, :, None] * (lq - mid[..., None])
    return np.sort(inv_log_q(out, ctx), axis=-1)


def _pinball(q: np.ndarray, obs: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Mean pinball loss over levels per row (q: n x K, obs: n)."""
    d = obs[:, None] - q
    return np.mean(np.maximum(levels * d, (levels - 1.0) * d), axis=1)


def _best_spread(rows: list, w: float) -> tuple[int, np.ndarray]:
    """Index in SPREAD_GRID of the spread minimising the pinball loss of log discharge of the average with the
    global model's weight `w` over `rows` [(basin q, global q, obs, ctx)], and the loss per spread (summed)."""
    m = list(FINE_LEVELS).index(0.5)
    lv = np.asarray(FINE_LEVELS)
    loss = np.zeros(len(SPREAD_GRID))
    for qb, qg, obs, ctx in rows:
        lq = log_q(ensemble_quantiles([qb, qg], [1.0 - w, w]), ctx)
        lq_obs = log_q(obs, ctx)
        mid = lq[:, m : m + 1]
        for j, sp in enumerate(SPREAD_GRID):
            loss[j] += float(np.sum(_pinball(mid + sp * (lq - mid), lq_obs, lv)))
    return int(np.argmin(loss)), loss


def shared_held_out(basin: LGBMForecaster, glob: LGBMForecaster) -> pd.Timestamp | None:
    """The first issue day held out by both models (None when either has no held-out period)."""
    if not basin.held_out_start or not glob.held_out_start:
        return None
    if basin.params.refit or glob.params.refit:  # refitted boosters have seen the held-out years
        return None
    return max(pd.Timestamp(basin.held_out_start), pd.Timestamp(glob.held_out_start))


def fit_ensemble(
    basin: LGBMForecaster,
    glob: LGBMForecaster,
    frames: dict[str, pd.DataFrame],
    global_version: str,
    default_weight: float,
) -> EnsembleFit:
    """Fit the weight and spread per lead (module docstring) on the stations of `frames` that both models know.

    `frames`: station -> frame by date (QC-masked observations, and the NWP columns the models need), the same the
    models were trained on; only held-out issue days whose valid day lies in both models' training periods are
    used, so neither model has seen the target."""
    out = EnsembleFit(global_version=global_version)
    start = shared_held_out(basin, glob)
    leads = [k for k in basin.leads if k in glob.leads]
    if start is None or not leads:
        return out
    lv = np.asarray(FINE_LEVELS)
    rows: dict[int, list] = {k: [] for k in leads}
    first, last = None, None
    for sid, df in frames.items():
        if sid not in basin.contexts or sid not in glob.contexts:
            continue
        ctx = basin.contexts[sid]
        end = min(pd.Timestamp(ctx.train_end), pd.Timestamp(glob.contexts[sid].train_end))
        days = pd.date_range(start, end - pd.Timedelta(days=1), freq="D")
        if len(days) == 0:
            continue
        qb = basin.predict({sid: df}, days, FINE_LEVELS)[sid]
        qg = glob.predict({sid: df}, days, FINE_LEVELS)[sid]
        q_obs = df["discharge_m3s"] if "discharge_m3s" in df else pd.Series(dtype=float)
        for k in leads:
            jb, jg = basin.leads.index(k), glob.leads.index(k)
            valid = days + pd.Timedelta(days=k)
            obs = q_obs.reindex(valid).to_numpy(dtype=float, copy=True)
            obs[valid > end] = np.nan
            ok = np.isfinite(obs) & np.isfinite(qb[:, jb, :]).all(axis=1) & np.isfinite(qg[:, jg, :]).all(axis=1)
            if ok.any():
                rows[k].append((qb[ok, jb, :], qg[ok, jg, :], obs[ok], ctx))
                first = days[ok][0] if first is None else min(first, days[ok][0])
                last = days[ok][-1] if last is None else max(last, days[ok][-1])
    for k in leads:
        n = sum(len(r[2]) for r in rows[k])
        out.rows[k] = n
        if n < MIN_ROWS:
            continue
        by_weight = np.zeros(len(WEIGHT_GRID))  # relative pinball loss of discharge (the floods weigh most)
        for qb, qg, obs, ctx in rows[k]:
            for i, w in enumerate(WEIGHT_GRID):
                avg = ensemble_quantiles([qb, qg], [1.0 - w, w])
                by_weight[i] += float(np.sum(_pinball(avg, obs, lv))) / ctx.qscale
        i_best = int(np.argmin(by_weight))
        w_best = float(WEIGHT_GRID[i_best])
        j_avg, loss_s = _best_spread(rows[k], w_best)
        j_b, _ = _best_spread(rows[k], 0.0)
        j_g, _ = _best_spread(rows[k], 1.0)
        own = (1.0 - w_best) * SPREAD_GRID[j_b] + w_best * SPREAD_GRID[j_g]  # what each model alone would get
        i0 = int(np.argmin(np.abs(np.asarray(WEIGHT_GRID) - default_weight)))
        out.weight[k] = w_best
        out.spread[k] = float(np.clip(round(SPREAD_GRID[j_avg] / own, 2), SPREAD_GRID[0], SPREAD_GRID[-1]))
        out.loss[k] = {
            "weight_default": float(by_weight[i0] / n),
            "weight_fitted": float(by_weight[i_best] / n),
            "spread_1": float(loss_s[SPREAD_GRID.index(1.0)] / n),
            "spread_best": float(loss_s[j_avg] / n),
        }
    if first is not None:
        out.held_out = (str(first.date()), str(last.date()))
    return out
