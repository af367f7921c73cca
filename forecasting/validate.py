"""Plausibility rules for what enters the store, shared by the adapters and the store's own guard.

Dates: an observation date must lie in the accepted window, by default 1850-01-01 .. today (Asia/Almaty) + 366 days
(a yearbook of 1700 or a typed 2200 would otherwise stretch every station's time axis by centuries, and
numpy's nanosecond dates end in 2262). Set `TASQYN_DATE_MIN` / `TASQYN_DATE_MAX` (YYYY-MM-DD) to change it.

Station metadata: latitude in -90..90, longitude in -180..180 (degrees), catchment area > 0 km2, numbers finite;
thresholds in increasing order (warning <= danger <= extreme, separately in m3/s and in cm). A bad field is left
out (NaN) and reported; inverted thresholds leave out that unit's thresholds (the station then gets derived ones).
"""

from __future__ import annotations

import datetime as dt
import math
import os
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

DATE_MIN_ENV = "TASQYN_DATE_MIN"
DATE_MAX_ENV = "TASQYN_DATE_MAX"
DEFAULT_DATE_MIN = dt.date(1850, 1, 1)
FUTURE_DAYS = 366
_TZ = ZoneInfo("Asia/Almaty")


def date_window() -> tuple[dt.date, dt.date]:
    """(first, last) accepted observation day: $TASQYN_DATE_MIN or 1850-01-01, $TASQYN_DATE_MAX or today in
    Asia/Almaty + 366 days. An unparsable setting raises ValueError naming it."""
    bounds = {DATE_MIN_ENV: DEFAULT_DATE_MIN, DATE_MAX_ENV: dt.datetime.now(_TZ).date() + dt.timedelta(FUTURE_DAYS)}
    for env in bounds:
        raw = os.environ.get(env, "").strip()
        if raw:
            try:
                bounds[env] = dt.date.fromisoformat(raw)
            except ValueError as exc:
                raise ValueError(f"${env}={raw!r} is not a date (YYYY-MM-DD)") from exc
    lo, hi = bounds[DATE_MIN_ENV], bounds[DATE_MAX_ENV]
    return lo, hi


def date_problem(day: dt.date | pd.Timestamp | None, window: tuple[dt.date, dt.date] | None = None) -> str | None:
    """Why `day` is not an accepted observation day (outside the window), or None."""
    if day is None:
        return "no date"
    d = day.date() if isinstance(day, pd.Timestamp | dt.datetime) else day
    lo, hi = window or date_window()
    if d < lo or d > hi:
        return f"date {d.isoformat()} outside the accepted window {lo}..{hi} (${DATE_MIN_ENV}, ${DATE_MAX_ENV})"
    return None


def dates_outside(dates: np.ndarray | pd.Series, window: tuple[dt.date, dt.date] | None = None) -> np.ndarray:
    """Boolean mask of datetime64 `dates` outside the accepted window (NaT is not outside: it is no date)."""
    lo, hi = window or date_window()
    d = np.asarray(dates, dtype="datetime64[D]")
    with np.errstate(invalid="ignore"):
        return ~np.isnat(d) & ((d < np.datetime64(lo, "D")) | (d > np.datetime64(hi, "D")))


RANGES: dict[str, tuple[float, float, str]] = {
    "lat": (-90.0, 90.0, "latitude must be -90..90 degrees"),
    "lon": (-180.0, 180.0, "longitude must be -180..180 degrees"),
}
THRESHOLD_SETS: tuple[tuple[str, tuple[str, str, str]], ...] = (
    ("m3/s", ("q_warning_m3s", "q_danger_m3s", "q_extreme_m3s")),
    ("cm", ("level_warning_cm", "level_danger_cm", "level_extreme_cm")),
)
POSITIVE = ("area_km2", "q_warning_m3s", "q_danger_m3s", "q_extreme_m3s")


def _num(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def metadata_problems(rec: dict[str, object]) -> list[tuple[list[str], str]]:
    """Problems of one station's metadata (a dict of STATION_FIELDS): a list of (fields to leave out, reason)."""
    out: list[tuple[list[str], str]] = []
    for f, value in rec.items():
        if isinstance(value, float | int | np.floating) and not isinstance(value, bool) and math.isinf(float(value)):
            out.append(([f], f"{f} {value} is not a finite number"))
    for f, (lo, hi, why) in RANGES.items():
        v = _num(rec.get(f))
        if math.isfinite(v) and not lo <= v <= hi:
            out.append(([f], f"{f} {v:g}: {why}"))
    for f in POSITIVE:
        v = _num(rec.get(f))
        if math.isfinite(v) and v <= 0:
            out.append(([f], f"{f} {v:g} must be greater than 0"))
    for unit, fields in THRESHOLD_SETS:
        vals = [(f, _num(rec.get(f))) for f in fields]
        given = [(f, v) for f, v in vals if math.isfinite(v)]
        if any(a[1] > b[1] for a, b in zip(given, given[1:], strict=False)):
            shown = ", ".join(f"{f.split('_')[1]} {v:g}" for f, v in given)
            out.append(
                (
                    list(fields),
                    f"thresholds in {unit} not in increasing order ({shown}; need warning <= danger <= extreme); "
                    "left out",
                )
            )
    return out


def clean_metadata(rec: dict[str, object]) -> tuple[dict[str, object], list[tuple[str, str]]]:
    """`rec` with every field named by metadata_problems set to NaN, and [(field, reason)] for the report."""
    problems = metadata_problems(rec)
    out = dict(rec)
    report = []
    for fields, why in problems:
        for f in fields:
            out[f] = math.nan
        report.append((fields[0] if len(fields) == 1 else "thresholds", why))
    return out, report
