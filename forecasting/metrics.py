"""Verification metrics (definitions in ../shared/REFERENCES.md). Inputs are arrays of equal length; pairs where
any input is NaN are dropped. A metric that cannot be computed returns None (JSON null), never a made-up value."""

from __future__ import annotations

import numpy as np

Z_HALF = 0.674  # normal quantile: half of a normal sample lies within +-0.674 sigma


def _pairs(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    arrs = [np.asarray(a, dtype=float) for a in arrays]
    ok = np.ones(len(arrs[0]), dtype=bool)
    for a in arrs:
        ok &= ~np.isnan(a) if a.ndim == 1 else ~np.isnan(a).any(axis=tuple(range(1, a.ndim)))
    return tuple(a[ok] for a in arrs)


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def nse(obs: np.ndarray, sim: np.ndarray) -> float | None:
    """Nash-Sutcliffe efficiency 1 - sum((o - f)^2) / sum((o - mean(o))^2)."""
    o, f = _pairs(obs, sim)
    if len(o) < 2:
        return None
    den = np.sum((o - o.mean()) ** 2)
    return None if den == 0 else _num(1 - np.sum((o - f) ** 2) / den)


def kge(obs: np.ndarray, sim: np.ndarray) -> float | None:
    """Kling-Gupta efficiency (Gupta et al. 2009): 1 - sqrt((r-1)^2 + (alpha-1)^2 + (beta-1)^2)."""
    o, f = _pairs(obs, sim)
    if len(o) < 2 or o.std() == 0 or o.mean() == 0:
        return None
    r = 0.0 if f.std() == 0 else np.corrcoef(o, f)[0, 1]
    alpha = f.std() / o.std()
    beta = f.mean() / o.mean()
    return _num(1 - np.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2))


def mse(obs: np.ndarray, sim: np.ndarray) -> float | None:
    o, f = _pairs(obs, sim)
    return None if len(o) == 0 else float(np.mean((o - f) ** 2))


def skill_score(obs: np.ndarray, sim: np.ndarray, ref: np.ndarray) -> float | None:
    """1 - MSE(sim) / MSE(ref) on the pairs where all three exist."""
    o, f, r = _pairs(obs, sim, ref)
    if len(o) == 0:
        return None
    den = np.mean((o - r) ** 2)
    return None if den == 0 else _num(1 - np.mean((o - f) ** 2) / den)


def crps_quantiles(obs: np.ndarray, q: np.ndarray, levels: np.ndarray) -> float | None:
    """Mean CRPS approximated by (2/K) sum_tau QS_tau over the K quantile levels (q: n x K, levels evenly spread).

    For a point forecast (all quantiles equal) this is the mean absolute error."""
    o, qq = _pairs(obs, q)
    if len(o) == 0:
        return None
    lv = np.asarray(levels, dtype=float)[None, :]
    qs = ((o[:, None] < qq).astype(float) - lv) * (qq - o[:, None])
    return float(np.mean(2.0 / lv.shape[1] * qs.sum(axis=1)))


def mae(obs: np.ndarray, sim: np.ndarray) -> float | None:
    o, f = _pairs(obs, sim)
    return None if len(o) == 0 else float(np.mean(np.abs(o - f)))


def skill_ratio(score: float | None, ref: float | None) -> float | None:
    """1 - score/ref (e.g. CRPSS), None when undefined."""
    if score is None or ref is None or ref == 0:
        return None
    return _num(1 - score / ref)


def coverage(obs: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float | None:
    """Share of observations within [lower, upper]."""
    o, lo, hi = _pairs(obs, lower, upper)
    return None if len(o) == 0 else float(np.mean((o >= lo) & (o <= hi)))


def contingency(obs_event: np.ndarray, fc_event: np.ndarray) -> dict[str, float | None]:
    """POD, FAR and CSI of boolean event series (events observed vs forecast); None where a denominator is 0."""
    o = np.asarray(obs_event, dtype=bool)
    f = np.asarray(fc_event, dtype=bool)
    hits = int(np.sum(o & f))
    misses = int(np.sum(o & ~f))
    false_alarms = int(np.sum(~o & f))
    pod = hits / (hits + misses) if hits + misses else None
    far = false_alarms / (hits + false_alarms) if hits + false_alarms else None
    csi = hits / (hits + misses + false_alarms) if hits + misses + false_alarms else None
    return {"pod": pod, "far": far, "csi": csi, "hits": hits, "misses": misses, "false_alarms": false_alarms}


def central_asian(obs: np.ndarray, sim: np.ndarray, base: np.ndarray) -> tuple[float | None, float | None]:
    """Accuracy P (share of |o - f| <= 0.674 sigma_delta) and S/sigma (RMSE / sigma_delta), with sigma_delta the
    standard deviation of the observed change o(t+k) - o(t) (`base` = o(t)) over the evaluation sample."""
    o, f, b = _pairs(obs, sim, base)
    if len(o) < 2:
        return None, None
    sigma = float(np.std(o - b, ddof=1))
    if sigma == 0:
        return None, None
    err = np.abs(o - f)
    return float(np.mean(err <= Z_HALF * sigma)), float(np.sqrt(np.mean(err**2)) / sigma)
