"""Seasonal context for a hydrograph: the day-of-year climatological band, last year's curve and the record year's.

Input is a daily series (``pd.Series``) of discharge in m3/s or water level in cm, indexed by local dates (days in
Asia/Almaty: a ``DatetimeIndex`` at midnight without time zone, or ``datetime.date`` values); missing days are NaN or
absent. Outputs are in the units of the input.

Day of year here is the day of a 365-day calendar (1 January = 1, 31 December = 365): 29 February shares
28 February's day, so that a given calendar day has the same number in every year.

Pure functions: no I/O, no plotting; the dashboard turns :class:`HydrographContext` into its chart payload.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

DAYS = 365
DEFAULT_QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)


def _daily(series: pd.Series, name: str = "series") -> pd.Series:
    """The series as float64 on a sorted, tz-naive DatetimeIndex at midnight; non-finite values become NaN."""
    if not isinstance(series, pd.Series):
        raise TypeError(f"{name}: expected a pandas Series indexed by dates, got {type(series).__name__}")
    try:
        idx = pd.DatetimeIndex(pd.to_datetime(series.index))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: the index is not dates ({e})") from e
    if idx.tz is not None:
        raise ValueError(f"{name}: dates must be local days without a time zone, got {idx.tz}")
    if len(idx) and not (idx == idx.normalize()).all():
        bad = idx[idx != idx.normalize()][0]
        raise ValueError(f"{name}: dates must be days (midnight), got {bad}")
    values = pd.to_numeric(pd.Series(np.asarray(series, dtype=object), index=idx), errors="coerce").astype("float64")
    values = values.where(np.isfinite(values))
    if idx.has_duplicates:
        raise ValueError(f"{name}: duplicate date {idx[idx.duplicated()][0].date()}")
    return values.sort_index()


def _dates(dates: Iterable[Any]) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(pd.to_datetime(list(dates) if not isinstance(dates, pd.Index) else dates))
    if idx.tz is not None:
        raise ValueError(f"dates must be local days without a time zone, got {idx.tz}")
    return idx.normalize()


def day_of_year(dates: Iterable[Any]) -> np.ndarray:
    """Day of the 365-day calendar (1..365) of each date; 29 February gives 59, as 28 February."""
    idx = _dates(dates)
    doy = idx.day_of_year.to_numpy()
    return doy - (idx.is_leap_year & (doy >= 60)).astype(int)


def _qname(q: float) -> str:
    return f"p{round(q * 100):02d}"


@dataclass(frozen=True)
class ClimatologyBand:
    """Quantiles of the series per day of year.

    ``table``: index ``day_of_year`` 1..365, one column per quantile (``p10``, ``p50``, ``p90`` for the default
    quantiles; units of the series) and ``n``, the number of daily values pooled for that day. ``years``: the years
    used; ``window_days``: the width of the circular window pooled around each day."""

    table: pd.DataFrame
    years: tuple[int, ...]
    window_days: int
    quantiles: tuple[float, ...]

    @property
    def columns(self) -> list[str]:
        return [_qname(q) for q in self.quantiles]

    def on_dates(self, dates: Iterable[Any]) -> pd.DataFrame:
        """The band on calendar dates: index the dates, columns as in ``table`` (without ``n``)."""
        idx = _dates(dates)
        out = self.table.loc[day_of_year(idx), self.columns]
        out.index = idx
        return out


def climatology_band(
    series: pd.Series,
    *,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    window_days: int = 15,
    min_years: int = 5,
    min_fraction: float = 0.8,
    exclude_years: Iterable[int] = (),
) -> ClimatologyBand | None:
    """The day-of-year climatological band of a daily series.

    For each day of the 365-day calendar, the ``quantiles`` of all values of the usable years within a circular
    window of ``window_days`` days centred on it (31 December's window wraps to January); the window smooths the
    band and pools enough values for the tails. A year is usable when it has values on at least ``min_fraction`` of
    its days and is not in ``exclude_years`` (leave out the year being shown to avoid comparing it with itself).
    Returns None with fewer than ``min_years`` usable years. Units: those of the series (m3/s or cm)."""
    if window_days < 1:
        raise ValueError(f"window_days must be >= 1, got {window_days}")
    qs = tuple(float(q) for q in quantiles)
    if not qs or any(not 0.0 <= q <= 1.0 for q in qs):
        raise ValueError(f"quantiles must lie in [0, 1], got {quantiles}")
    s = _daily(series).dropna()
    if s.empty:
        return None
    excluded = {int(y) for y in exclude_years}
    counts = s.groupby(s.index.year).size()
    days_in_year = {y: 366 if pd.Timestamp(year=y, month=1, day=1).is_leap_year else 365 for y in counts.index}
    years = tuple(int(y) for y, n in counts.items() if n >= min_fraction * days_in_year[y] and int(y) not in excluded)
    if len(years) < max(1, min_years):
        return None
    s = s[s.index.year.isin(years)]
    # a years x 365 matrix; 29 February is averaged with 28 February (the same day of year)
    frame = pd.DataFrame({"year": s.index.year, "doy": day_of_year(s.index), "v": s.to_numpy()})
    cell = frame.groupby(["year", "doy"])["v"].mean()
    mat = np.full((len(years), DAYS), np.nan)
    row = {y: i for i, y in enumerate(years)}
    mat[[row[y] for y in cell.index.get_level_values(0)], cell.index.get_level_values(1) - 1] = cell.to_numpy()
    half = window_days // 2
    offsets = np.arange(-half, window_days - half)
    cols = (np.arange(DAYS)[:, None] + offsets[None, :]) % DAYS  # 365 x window
    pooled = mat[:, cols].transpose(1, 0, 2).reshape(DAYS, -1)  # 365 x (years * window)
    n = np.isfinite(pooled).sum(axis=1)
    table = pd.DataFrame(index=pd.RangeIndex(1, DAYS + 1, name="day_of_year"))
    with np.errstate(all="ignore"):
        qv = np.nanquantile(np.where(n[:, None] > 0, pooled, 0.0), qs, axis=1)  # rows without data are masked below
    for q, v in zip(qs, qv, strict=True):
        table[_qname(q)] = np.where(n > 0, v, np.nan)
    table["n"] = n
    return ClimatologyBand(table=table, years=years, window_days=2 * half + 1 if window_days % 2 else window_days,
                           quantiles=qs)  # fmt: skip


def _shift_years(idx: pd.DatetimeIndex, years: int) -> pd.DatetimeIndex:
    """The same month and day ``years`` years later (earlier when negative); 29 February -> 28 February (of a common
    year). Vectorised: a year of dates in about a millisecond."""
    if not years or len(idx) == 0:
        return idx
    y = idx.year.to_numpy() + int(years)
    m, d = idx.month.to_numpy(), idx.day.to_numpy()
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    d = np.where((m == 2) & (d == 29) & ~leap, 28, d)
    return pd.DatetimeIndex(pd.to_datetime({"year": y, "month": m, "day": d}))


def shifted_year_curve(series: pd.Series, dates: Iterable[Any], years_back: int) -> pd.Series:
    """The values ``years_back`` years before each date (same month and day; 29 February reads 28 February of a
    common year), indexed by ``dates``; NaN where that day has no value. Units: those of the series."""
    s = _daily(series)
    idx = _dates(dates)
    src = _shift_years(idx, -int(years_back))
    return pd.Series(s.reindex(src).to_numpy(), index=idx, name=f"minus_{int(years_back)}y")


def last_year_curve(series: pd.Series, dates: Iterable[Any]) -> pd.Series:
    """Last year's values on this year's dates: the value one year before each date (see shifted_year_curve)."""
    return shifted_year_curve(series, dates, 1)


@dataclass(frozen=True)
class RecordYear:
    """The year with the highest annual maximum: ``peak`` (units of the series) on ``peak_date``, and ``values``,
    that year's curve on the shown dates."""

    year: int
    peak: float
    peak_date: dt.date
    values: pd.Series


def record_year(
    series: pd.Series, dates: Iterable[Any], *, exclude_years: Iterable[int] = (), min_days: int = 1
) -> RecordYear | None:
    """The record year (highest annual maximum of calendar years, among years with at least ``min_days`` values and
    not in ``exclude_years``) and its curve aligned on ``dates``: every date is moved by the same whole number of
    years, the one that takes the last date's year to the record year, so a window across New Year stays one
    continuous stretch of the record. None when no year qualifies."""
    s = _daily(series).dropna()
    excluded = {int(y) for y in exclude_years}
    s = s[~s.index.year.isin(list(excluded))]
    counts = s.groupby(s.index.year).size()
    s = s[s.index.year.isin([y for y, n in counts.items() if n >= min_days])]
    if s.empty:
        return None
    peak_date = s.idxmax()
    year = int(peak_date.year)
    idx = _dates(dates)
    if len(idx) == 0:
        return RecordYear(year, float(s.max()), peak_date.date(), pd.Series([], dtype="float64"))
    values = shifted_year_curve(series, idx, int(idx[-1].year) - year)
    return RecordYear(year=year, peak=float(s.max()), peak_date=peak_date.date(), values=values.rename(str(year)))


def _num(v: float, digits: int) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return float(f"{v:.{digits}g}")


@dataclass(frozen=True)
class HydrographContext:
    """The band, last year's and the record year's curves on the dates of a hydrograph."""

    dates: pd.DatetimeIndex
    band: pd.DataFrame | None  # index dates, columns p10/p50/p90; None if the record is too short
    band_years: tuple[int, ...]
    last_year: pd.Series
    record: RecordYear | None

    def to_chart(self, digits: int = 4) -> dict[str, Any]:
        """The ``clim``, ``last_year`` and ``record_year`` members of the dashboard's chart payload (ISO dates, values
        rounded to ``digits`` significant digits, null for missing): see service/static/vendor/README.md."""
        iso = [d.date().isoformat() for d in self.dates]
        out: dict[str, Any] = {"clim": None, "last_year": None, "record_year": None}
        if self.band is not None:
            clim: dict[str, Any] = {"dates": iso}
            for c in self.band.columns:
                clim[c] = [_num(v, digits) for v in self.band[c].to_numpy()]
            clim["years"] = [min(self.band_years), max(self.band_years)]
            clim["n_years"] = len(self.band_years)
            out["clim"] = clim
        ly = [[d, _num(v, digits)] for d, v in zip(iso, self.last_year.to_numpy(), strict=True)]
        out["last_year"] = ly if any(v is not None for _, v in ly) else None
        if self.record is not None:
            vals = [[d, _num(v, digits)] for d, v in zip(iso, self.record.values.to_numpy(), strict=True)]
            out["record_year"] = {"year": self.record.year, "peak": _num(self.record.peak, digits),
                                  "peak_date": self.record.peak_date.isoformat(), "values": vals}  # fmt: skip
        return out


def hydrograph_context(
    series: pd.Series,
    dates: Iterable[Any],
    *,
    exclude_years: Iterable[int] | None = None,
    window_days: int = 15,
    min_years: int = 5,
) -> HydrographContext:
    """Everything a hydrograph needs for context on ``dates``: the 10/50/90% band for each date's day of year, last
    year's values and the record year's curve. ``exclude_years`` defaults to the years of ``dates`` (the shown
    stretch is compared with the other years, never with itself)."""
    idx = _dates(dates)
    excl = sorted({int(y) for y in idx.year}) if exclude_years is None else [int(y) for y in exclude_years]
    band = climatology_band(series, window_days=window_days, min_years=min_years, exclude_years=excl)
    return HydrographContext(
        dates=idx,
        band=None if band is None else band.on_dates(idx),
        band_years=() if band is None else band.years,
        last_year=last_year_curve(series, idx),
        record=record_year(series, idx, exclude_years=excl),
    )
