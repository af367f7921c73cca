"""Annual maxima and Gumbel return levels by L-moments (as defined in ../shared/REFERENCES.md)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

EULER_GAMMA = 0.5772


def annual_maxima(series: pd.Series, max_missing_days: int = 30) -> pd.Series:
    """Largest daily value of each complete calendar year of a daily series (index: dates).

    A year is complete when at most `max_missing_days` of its days are missing (NaN or absent).
    Returns a Series indexed by year.
    """
    s = series.dropna()
    if s.empty:
        return pd.Series(dtype="float64", name="annual_max")
    years = s.index.year
    counts = s.groupby(years).size()
    days_in_year = pd.Series([366 if _leap(y) else 365 for y in counts.index], index=counts.index)
    complete = counts.index[(days_in_year - counts) <= max_missing_days]
    out = s.groupby(years).max().loc[complete]
    out.index.name = "year"
    return out.rename("annual_max")


def _leap(y: int) -> bool:
    return (y % 4 == 0 and y % 100 != 0) or y % 400 == 0


def gumbel_lmoments(sample: np.ndarray) -> tuple[float, float]:
    """Gumbel location xi and scale alpha fitted by L-moments. Needs at least 2 values."""
    x = np.sort(np.asarray(sample, dtype=float))
    x = x[~np.isnan(x)]
    n = len(x)
    if n < 2:
        raise ValueError(f"need at least 2 annual maxima to fit a Gumbel distribution, got {n}")
    b0 = x.mean()
    b1 = np.sum((np.arange(1, n + 1) - 1) / (n - 1) * x) / n
    lam1, lam2 = b0, 2 * b1 - b0
    alpha = lam2 / math.log(2)
    xi = lam1 - EULER_GAMMA * alpha
    return float(xi), float(alpha)


def gumbel_return_level(xi: float, alpha: float, period_years: float) -> float:
    """The T-year value x_T = xi - alpha * ln(-ln(1 - 1/T))."""
    return float(xi - alpha * math.log(-math.log(1.0 - 1.0 / period_years)))


def return_levels(
    series: pd.Series, periods: tuple[float, ...] = (2, 5, 20), max_missing_days: int = 30, min_years: int = 5
) -> tuple[dict[float, float], list[int]]:
    """Return levels for `periods` from the annual maxima of `series`, and the years used.

    Raises ValueError when fewer than `min_years` complete years are available.
    """
    am = annual_maxima(series, max_missing_days)
    if len(am) < min_years:
        raise ValueError(f"only {len(am)} complete years (need {min_years}) to fit return periods")
    xi, alpha = gumbel_lmoments(am.to_numpy())
    return {T: gumbel_return_level(xi, alpha, T) for T in periods}, [int(y) for y in am.index]
