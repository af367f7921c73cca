"""A degree-day snow store from daily precipitation (mm) and mean air temperature (degC).

See ../shared/REFERENCES.md, "Snow without snow data": precipitation falls as snow when T < t_snow, the store
melts by melt_factor * max(T - t_melt, 0) mm/day (never below zero), and melt plus rain is the water input.
The recursion only looks backwards, so the store on day t uses data up to day t only.
Parameters are fitted on training years only (`fit_snow_params`).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

T_SNOW_GRID = (-0.5, 0.5, 1.5)
T_MELT_GRID = (-1.0, 0.0, 1.0)
MELT_FACTOR_GRID = (1.5, 2.5, 4.0, 6.0)


@dataclass(frozen=True)
class SnowParams:
    """t_snow (degC): rain/snow threshold; t_melt (degC): melt threshold; melt_factor (mm/degC/day)."""

    t_snow: float = 0.5
    t_melt: float = 0.0
    melt_factor: float = 3.0
    score: float | None = None  # fit criterion on the training years (correlation), for the record

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)


def simulate(
    precip_mm: np.ndarray,
    tmean_c: np.ndarray,
    t_snow: np.ndarray,
    t_melt: np.ndarray,
    melt_factor: np.ndarray,
    reset: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the store for one or several parameter sets at once (vectorised over the parameter axis).

    Inputs are daily arrays (n_days,); parameters arrays (n_sets,). Missing P counts as 0 mm; missing T keeps the
    store unchanged (no snowfall, no melt; rain counts as water input). `reset` (boolean per day, optional) empties
    the store at the start of the days where it is True (the seasonal outlook starts each snow season empty).
    Returns (store_mm, melt_mm, water_input_mm), each (n_days, n_sets).
    """
    p = np.nan_to_num(np.asarray(precip_mm, dtype=float), nan=0.0)
    t = np.asarray(tmean_c, dtype=float)
    ts, tm, mf = (np.atleast_1d(np.asarray(a, dtype=float)) for a in (t_snow, t_melt, melt_factor))
    n, k = len(p), len(ts)
    if k == 1 and reset is None:  # one parameter set (every forecast): the same recursion on Python floats
        return _simulate_one(p, t, float(ts[0]), float(tm[0]), float(mf[0]))
    store = np.zeros((n, k))
    melt = np.zeros((n, k))
    winput = np.zeros((n, k))
    s = np.zeros(k)
    for i in range(n):
        if reset is not None and reset[i]:
            s = np.zeros(k)
        ti = t[i]
        if np.isnan(ti):
            winput[i] = p[i]
            store[i] = s
            continue
        snow = np.where(ti < ts, p[i], 0.0)
        s = s + snow
        m = np.minimum(s, np.clip(mf * (ti - tm), 0.0, None))
        s = s - m
        store[i] = s
        melt[i] = m
        winput[i] = m + (p[i] - snow)
    return store, melt, winput


def _simulate_one(
    p: np.ndarray, t: np.ndarray, t_snow: float, t_melt: float, melt_factor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`simulate` for one parameter set, without a reset: each day's arithmetic as there, on Python floats (a
    numpy call per day costs ~10 us, this ~0.3 us); arrays (n_days, 1)."""
    n = len(p)
    store, melt, winput = [0.0] * n, [0.0] * n, [0.0] * n
    s = 0.0
    for i, (pi, ti) in enumerate(zip(p.tolist(), t.tolist(), strict=True)):
        if ti != ti:  # NaN temperature: the store unchanged, rain counts as water input
            winput[i] = pi
            store[i] = s
            continue
        snow = pi if ti < t_snow else 0.0
        s = s + snow
        m = min(s, max(melt_factor * (ti - t_melt), 0.0))
        s = s - m
        store[i] = s
        melt[i] = m
        winput[i] = m + (pi - snow)
    return tuple(np.asarray(a, dtype=float).reshape(n, 1) for a in (store, melt, winput))


def _reservoir(x: np.ndarray, tau_days: float) -> np.ndarray:
    """Linear reservoir (exponential smoothing) along axis 0."""
    a = 1.0 / tau_days
    out = np.empty_like(x)
    acc = x[0].copy()
    for i in range(len(x)):
        acc = (1 - a) * acc + a * x[i]
        out[i] = acc
    return out


def fit_snow_params(
    precip_mm: pd.Series, tmean_c: pd.Series, discharge_m3s: pd.Series, tau_days: float = 15.0
) -> SnowParams | None:
    """Fit the store's parameters on the given (training) period by a grid search.

    Criterion: correlation between log discharge and the log of the water input routed through a linear
    reservoir of `tau_days`. Returns None when precipitation or temperature is missing.
    """
    df = pd.concat({"p": precip_mm, "t": tmean_c, "q": discharge_m3s}, axis=1)
    if df["p"].notna().sum() < 365 or df["t"].notna().sum() < 365 or df["q"].notna().sum() < 365:
        return None
    grid = np.array(list(itertools.product(T_SNOW_GRID, T_MELT_GRID, MELT_FACTOR_GRID)))
    _, _, winput = simulate(df["p"].to_numpy(), df["t"].to_numpy(), grid[:, 0], grid[:, 1], grid[:, 2])
    routed = np.log1p(_reservoir(winput, tau_days))
    q = df["q"].to_numpy()
    ok = ~np.isnan(q)
    ok[: min(180, len(ok))] = False  # spin-up
    lq = np.log(q[ok] + 0.01 * np.nanmedian(q) + 1e-6)
    r = routed[ok]
    r = r - r.mean(axis=0)
    lqc = lq - lq.mean()
    corr = (r * lqc[:, None]).sum(axis=0) / np.sqrt((r**2).sum(axis=0) * (lqc**2).sum() + 1e-12)
    best = int(np.nanargmax(corr))
    ts, tm, mf = grid[best]
    return SnowParams(float(ts), float(tm), float(mf), float(corr[best]))
