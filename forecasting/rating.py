"""Stage-discharge (rating) curves: water level in cm from discharge in m3/s, for thresholds given as marks in cm.

Kazhydromet's official marks (`неблагоприятная`, `опасная`, `критическая отметка`) are water levels in cm, while the
models forecast discharge. A gauge that observes both has a rating curve H(Q); because it is monotone, each quantile
of the discharge forecast maps to the same quantile of the level forecast, so the level forecast is
H(Q quantiles) (exactly, for any predictive distribution).

The curve is fitted on the recent paired days (both values observed and not flagged; the last `years` years, more
when too few pairs), since rating curves shift with the river bed: the pairs are binned by log discharge and the
median level of each bin becomes a knot; knots are made non-decreasing; the curve is piecewise linear in
log(Q + c) between knots and extended linearly beyond them with the slope of the outer part (a level above the
highest observed one is an extrapolation and is said so in the curve's note). Ice and backwater days, where the
level rises without the discharge, break the relation: a rank correlation below `min_spearman` gives no curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class RatingCurve:
    """H(Q) in cm from Q in m3/s: piecewise linear in log(Q + offset) through the knots, linear beyond them."""

    log_q: np.ndarray  # knot positions, log(Q + offset), ascending
    level_cm: np.ndarray  # knot levels, cm, non-decreasing
    offset: float  # m3/s
    n_pairs: int
    start: str
    end: str
    rmse_cm: float
    q_max: float  # largest discharge of the fitted pairs, m3/s

    def level(self, q: np.ndarray | float) -> np.ndarray:
        """Water level (cm) for discharge `q` (m3/s); NaN where q is NaN."""
        x = np.log(np.clip(np.asarray(q, dtype=float), 0.0, None) + self.offset)
        kx, ky = self.log_q, self.level_cm
        out = np.interp(x, kx, ky)
        lo_slope = max((ky[1] - ky[0]) / (kx[1] - kx[0]), 0.0)
        hi_slope = max((ky[-1] - ky[-3]) / (kx[-1] - kx[-3]), 0.0) if len(kx) >= 3 else lo_slope
        out = np.where(x < kx[0], ky[0] + lo_slope * (x - kx[0]), out)
        out = np.where(x > kx[-1], ky[-1] + hi_slope * (x - kx[-1]), out)
        return np.where(np.isnan(x), np.nan, out)

    def note(self) -> str:
        return (
            f"rating curve from {self.n_pairs} paired days {self.start}..{self.end} (RMSE {self.rmse_cm:.1f} cm; "
            f"levels above the one of {self.q_max:.4g} m3/s are extrapolated)"
        )


def fit_rating(
    discharge: pd.Series,
    level: pd.Series,
    years: int = 3,
    min_pairs: int = 60,
    n_knots: int = 15,
    min_spearman: float = 0.8,
) -> tuple[RatingCurve | None, str]:
    """Fit H(Q) on the paired days of the last `years` years of the series (dates as index; m3/s and cm).

    Returns (curve, "") or (None, the reason in words)."""
    if discharge.index.equals(level.index):  # one station's frame (the forecast): pair the arrays directly
        qv, hv = discharge.to_numpy(dtype=float), level.to_numpy(dtype=float)
        paired = ~np.isnan(qv) & ~np.isnan(hv) & (qv >= 0)
        pairs = pd.DataFrame({"q": qv[paired], "h": hv[paired]}, index=discharge.index[paired])
    else:
        pairs = pd.concat({"q": discharge, "h": level}, axis=1).dropna()
        pairs = pairs[pairs["q"] >= 0]
    if len(pairs) < min_pairs:
        return None, f"only {len(pairs)} days with both discharge and water level (need {min_pairs})"
    end = pd.Timestamp(pairs.index.max())
    recent = pairs.loc[end - pd.DateOffset(years=years) :]
    if len(recent) < min_pairs:
        recent = pairs.iloc[-min_pairs:]
    rho = recent["q"].rank().corr(recent["h"].rank())
    if not np.isfinite(rho) or rho < min_spearman:
        return None, f"water level does not follow discharge (rank correlation {rho:.2f}; ice or backwater?)"
    q = recent["q"].to_numpy(dtype=float)
    h = recent["h"].to_numpy(dtype=float)
    offset = 0.01 * float(max(np.median(q[q > 0]) if (q > 0).any() else 0.0, 1e-3))
    x = np.log(q + offset)
    edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, n_knots + 1)))
    if len(edges) < 3:
        return None, "discharge hardly varies over the paired days: no rating curve"
    bins = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    kx, ky = [], []
    for b in range(len(edges) - 1):
        m = bins == b
        if m.sum() >= 3:
            kx.append(float(np.median(x[m])))
            ky.append(float(np.median(h[m])))
    if len(kx) < 2:
        return None, "too few distinct discharges over the paired days: no rating curve"
    kx_arr = np.asarray(kx)
    ky_arr = np.maximum.accumulate(np.asarray(ky))
    curve = RatingCurve(
        log_q=kx_arr,
        level_cm=ky_arr,
        offset=offset,
        n_pairs=int(len(recent)),
        start=str(pd.Timestamp(recent.index.min()).date()),
        end=str(end.date()),
        rmse_cm=0.0,
        q_max=float(q.max()),
    )
    curve.rmse_cm = float(np.sqrt(np.mean((curve.level(q) - h) ** 2)))
    return curve, ""


def level_quantiles(curve: RatingCurve, discharge_quantiles: np.ndarray) -> np.ndarray:
    """Water-level quantiles (cm) from discharge quantiles (m3/s), same shape: a monotone map keeps quantiles."""
    return np.sort(curve.level(discharge_quantiles), axis=-1)
