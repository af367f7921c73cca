"""Conformal (Mondrian) calibration of predictive quantiles from held-out residuals.

Residuals r = y - yhat of the log-discharge change on a calibration period not used for fitting are grouped in
bins of a scale proxy (the predicted change magnitude plus recent variability), and their empirical quantiles per
bin give the predictive quantiles: q_tau(x) = yhat(x) + Q_tau(r | bin(x)). Monotone in tau by construction (and
sorted again), so quantiles never cross. `held_out_coverage` shows the calibration on a later, unseen part.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FINE_LEVELS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 .. 0.95, evenly spread


@dataclass
class ResidualCalibration:
    """Residual quantiles (log-discharge change) per bin of the scale proxy, for one lead."""

    levels: list[float]
    edges: list[float]  # interior bin edges of the scale proxy (ascending)
    table: list[list[float]]  # n_bins x n_levels residual quantiles
    n: int = 0
    coverage: dict[str, float] = field(default_factory=dict)  # held-out coverage per nominal level

    def bins(self, scale: np.ndarray) -> np.ndarray:
        s = np.nan_to_num(np.asarray(scale, dtype=float), nan=0.0)
        return np.searchsorted(np.asarray(self.edges), s, side="right")

    def quantiles(
        self,
        yhat: np.ndarray,
        scale: np.ndarray,
        levels: tuple[float, ...] | None = None,
        spread: float | np.ndarray = 1.0,
    ) -> np.ndarray:
        """Predictive quantiles (n x K) of the target at `levels` (interpolated in the stored ones); `spread`
        (one value, or one per row) multiplies the residual quantiles (a station's own spread in a pooled
        model, `station_spreads`)."""
        tab = np.asarray(self.table)[self.bins(scale)]  # n x L
        if levels is not None and list(levels) != list(self.levels):
            lv = np.asarray(self.levels)
            tab = np.stack([np.interp(levels, lv, row) for row in tab]) if len(tab) else np.zeros((0, len(levels)))
        factor = np.reshape(np.asarray(spread, dtype=float), (-1, 1))
        out = np.asarray(yhat, dtype=float)[:, None] + factor * tab
        return np.sort(out, axis=1)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> ResidualCalibration:
        return cls(**d)


def fit_calibration(
    resid: np.ndarray,
    scale: np.ndarray,
    levels: tuple[float, ...] = FINE_LEVELS,
    n_bins: int = 5,
    min_per_bin: int = 150,
    keep_point_median: bool = False,
) -> ResidualCalibration:
    """Fit the per-bin residual quantiles. Bins are quantiles of `scale`, fewer when data are scarce.

    With `keep_point_median` the 0.5 quantile is the point prediction itself (flow-weighted, less biased at
    peaks) while every other level keeps its conformal value."""
    r = np.asarray(resid, dtype=float)
    s = np.nan_to_num(np.asarray(scale, dtype=float), nan=0.0)
    ok = ~np.isnan(r)
    r, s = r[ok], s[ok]
    if len(r) == 0:
        return ResidualCalibration(list(levels), [], [[0.0] * len(levels)], 0)
    nb = int(max(1, min(n_bins, len(r) // min_per_bin)))
    edges = list(np.unique(np.quantile(s, np.linspace(0, 1, nb + 1)[1:-1]))) if nb > 1 else []
    idx = np.searchsorted(np.asarray(edges), s, side="right")
    table = []
    for b in range(len(edges) + 1):
        rb = r[idx == b]
        if len(rb) < 20:
            rb = r
        n = len(rb)
        # finite-sample conformal adjustment: widen the outer levels slightly
        adj = [min(max(0.5 + (tau - 0.5) * (n + 1) / n, 0.0), 1.0) for tau in levels]
        row = np.quantile(rb, adj)
        if keep_point_median:  # the central value is the point forecast; the other levels stay conformal
            # clipped to their side of it, not sorted: where the bin's residual median is off zero, sorting
            # would move a neighbouring level (0.45 or 0.55) into the middle and the published median would no
            # longer be the point forecast (Rottum, GraphCast: skill at lead 7 0.45 with the sort, 0.46 clipped)
            lv = np.asarray(levels, dtype=float)
            row = np.where(lv < 0.5, np.minimum(row, 0.0), np.where(lv > 0.5, np.maximum(row, 0.0), 0.0))
        table.append([float(v) for v in row])
    return ResidualCalibration(list(levels), [float(e) for e in edges], table, int(len(r)))


SPREAD_PRIOR_ROWS = 120  # a station's own spread counts half with this many held-out rows (shrunk towards 1; 365: the
# same skill, per-station coverage 0.0151 from nominal on the real backtest against 0.0148 with 120)
SPREAD_LIMITS = (0.25, 4.0)


def station_spreads(
    resid: np.ndarray, scale: np.ndarray, stations: np.ndarray, calibration: ResidualCalibration
) -> dict[str, float]:
    """How wide each station's held-out residuals are against the pooled calibration of a model trained on
    several stations: the median of |residual| / (the median |residual| of its scale bin), shrunk towards 1 for
    few rows (ratio ** (n / (n + SPREAD_PRIOR_ROWS))) and clipped to SPREAD_LIMITS. A pooled model's residual
    quantiles are otherwise those of its stations together: too wide for a calm river pooled with a flashy one
    (the Rottum with the Pascoe: 90% coverage 0.96), too narrow for the flashy one."""
    r = np.asarray(resid, dtype=float)
    ok = ~np.isnan(r)
    bins = calibration.bins(np.asarray(scale)[ok])
    r, st = np.abs(r[ok]), np.asarray(stations)[ok]
    typical = np.array([np.median(r[bins == b]) if (bins == b).any() else np.nan for b in range(bins.max() + 1)])
    rel = r / np.where(typical[bins] > 0, typical[bins], np.nan)
    out = {}
    for sid in np.unique(st):
        m = (st == sid) & np.isfinite(rel)
        if m.sum() < 30:
            continue
        ratio = float(np.median(rel[m]))
        if ratio > 0:
            n = float(m.sum())
            out[str(sid)] = float(np.clip(ratio ** (n / (n + SPREAD_PRIOR_ROWS)), *SPREAD_LIMITS))
    return out


def coverage_by_level(y: np.ndarray, q: np.ndarray, levels: tuple[float, ...]) -> dict[str, float]:
    """Share of y below each predicted quantile (ideal: the level itself)."""
    y = np.asarray(y, dtype=float)
    ok = ~np.isnan(y) & ~np.isnan(q).any(axis=1)
    if not ok.any():
        return {}
    return {f"{tau:g}": float(np.mean(y[ok] <= q[ok, j])) for j, tau in enumerate(levels)}


def held_out_coverage(
    resid: np.ndarray,
    scale: np.ndarray,
    levels: tuple[float, ...] = FINE_LEVELS,
    n_bins: int = 5,
    keep_point_median: bool = False,
) -> dict[str, float]:
    """Fit on the first half (in time order) of the calibration residuals, report coverage on the second half."""
    r = np.asarray(resid, dtype=float)
    half = len(r) // 2
    if half < 50:
        return {}
    cal = fit_calibration(r[:half], np.asarray(scale)[:half], levels, n_bins, keep_point_median=keep_point_median)
    q = cal.quantiles(np.zeros(len(r) - half), np.asarray(scale)[half:])
    return coverage_by_level(r[half:], q, levels)
