"""Quality control: flag, never delete. Flags live in `<var>_qc` (bits in forecasting.flags).

`run_qc(ds, config)` recomputes the QC flags of the whole store (keeping the ingest-time bits DUPLICATE and
REVISED); `usable(ds, config)` gives the values fit for training and forecasting (flagged values masked, short
gaps filled and flagged FILLED); `qc_summary(ds)` counts the flags per station and variable.

All checks are vectorised over the (station, time) arrays of the canonical dataset (forecasting.store); time is
the local day, one value per day, so "per day" below means per step of the time axis.

The checks (each sets one bit and keeps the value):
- IMPOSSIBLE: outside physical limits (discharge < 0, temperature outside -60..+50 degC, precipitation < 0 or
  > 500 mm/day, SWE or snow depth < 0; forecasting.variables) and tmin_c > tmax_c on the same day.
- RATE: water level changing faster than `level_max_rate_cm_per_day` from the previous observed day (the day that
  returns to the earlier level after a flagged jump is not flagged); optionally discharge changing by more than a
  factor `discharge_max_rate_ratio` from one day to the next. Only day-to-day differences are used, so a level
  given as an elevation above sea level (CAMELS-CH) is checked the same way as a stage above the gauge zero.
- FLATLINE: the same value repeated on at least `flatline_days[var]` consecutive days (a stuck sensor). The first
  day of the run is kept unflagged (it was a reading); zero is exempt where zero is a natural state (no flow, no
  precipitation, no snow); days carrying a level observation symbol (ice phenomena) are exempt for level and
  discharge; SWE and snow depth are not checked by default (they stay constant for weeks in cold spells).
- SPIKE: an isolated value far from both neighbours, which agree with each other. Discharge is compared on a log
  scale (a factor `spike_ratio` from both neighbours, neighbours within `spike_neighbour_ratio` of each other), so
  the test is the same at 0.5 and at 500 m3/s; an upward spike on a day with at least `spike_rain_mm` of basin
  precipitation (that day or the day before) is a real flash flood and is not flagged. Temperatures: a jump of
  `spike_temp_c` degC away and back.
- REPEATED: a block of at least `repeat_min_days` days identical day for day to an earlier block of the same
  station and variable (any lag of at least `repeat_min_days` days: a year copied over the next one, a month over
  the next month). The later copy is flagged. A block counts only if it holds at least `repeat_min_steps` distinct
  day-to-day changes: slowly varying, coarsely rounded series (winter base flow, SWE melting 1-2 mm a day) match
  earlier stretches by chance, a real hydrograph copied to the digit does not. A confirmed copy is extended over
  its whole run of identical days (constant winter stretches inside a copied year included).
- UNCONFIRMED (no alert from a typo): discharge and level values checked against the station's own record and held
  (masked like any BAD value) until a hydrologist confirms them (forecasting.confirmations):
  * record: discharge above `record_factor` x the largest accepted discharge of the station before that day (and
    above `record_floor_m3s`), a level more than `level_record_range_factor` x the recorded range above the
    recorded maximum or below the minimum; once the station has `record_min_days` accepted values. The reference
    leaves out values already flagged (a typo never raises the bar for the values after it);
  * newest day: a value without a right-hand neighbour (the newest day, or the day before a gap), where the
    two-sided SPIKE test cannot look, whose discharge differs from the previous accepted value (at most
    `newest_jump_max_gap_days` before) by more than a factor `newest_jump_ratio` (an upward jump with
    `spike_rain_mm` of rain is a flash flood, not held). Once the next day arrives, SPIKE decides.
  Non-finite values (inf) and values beyond `physical_max` (500,000 m3/s, |level| 10 km) are IMPOSSIBLE.
- DUPLICATE (set at ingest by forecasting.store.deduplicate) and REVISED (set by forecasting.store.merge) are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from forecasting import flags
from forecasting.store import PERSISTENT_FLAGS, SYMBOL_VAR, data_variables
from forecasting.variables import VARIABLES, qc_name

TEMPERATURES = ("tmin_c", "tmax_c", "tmean_c")
# Variables whose gaps may be filled by linear interpolation (smooth state variables). Precipitation is not
# filled: it is intermittent, and neither a straight line nor zero is a fair guess for a missing rain day.
FILLABLE = ("discharge_m3s", "water_level_cm", "tmin_c", "tmax_c", "tmean_c", "swe_mm", "snow_depth_cm")
# Variables where a run of zeros is a natural state, not a stuck sensor.
ZERO_IS_NATURAL = ("discharge_m3s", "precip_mm", "swe_mm", "snow_depth_cm")


def _default_flatline_days() -> dict[str, int | None]:
    return {
        "discharge_m3s": 20,
        "water_level_cm": 90,
        "precip_mm": 7,
        "tmin_c": 7,
        "tmax_c": 7,
        "tmean_c": 7,
        "swe_mm": None,
        "snow_depth_cm": None,
    }


def _default_physical_max() -> dict[str, float]:
    return {"discharge_m3s": 500_000.0, "water_level_cm": 1_000_000.0, "swe_mm": 20_000.0, "snow_depth_cm": 5_000.0}


@dataclass(frozen=True)
class QCConfig:
    """Thresholds of the QC checks (units of the canonical variables; "day" = one step of the daily time axis)."""

    level_max_rate_cm_per_day: float | None = 300.0  # RATE: |level change| allowed per day, cm
    discharge_max_rate_ratio: float | None = None  # RATE (optional): max factor of change of discharge per day
    flatline_days: dict[str, int | None] = field(default_factory=_default_flatline_days)  # None: not checked
    spike_ratio: float = 5.0  # SPIKE: discharge at least this factor above or below both neighbours ...
    spike_neighbour_ratio: float = 1.5  # ... which agree with each other within this factor
    spike_rain_mm: float | None = 20.0  # upward discharge spike with this much rain (day or day before) is real
    spike_floor_m3s: float = 0.01  # discharge below this counts as this in the spike ratio (zero flow)
    spike_temp_c: float = 15.0  # SPIKE: temperature this many degC away from both neighbours ...
    spike_temp_neighbour_c: float = 5.0  # ... which agree within this many degC
    repeat_min_days: int = 7  # REPEATED: shortest copied block, days (and shortest lag)
    repeat_min_steps: int = 6  # REPEATED: distinct day-to-day changes a block needs to count as a copy
    max_gap_fill_days: int = 2  # usable(): never fill gaps longer than this, days
    physical_max: dict[str, float] = field(default_factory=_default_physical_max)  # IMPOSSIBLE: |value| above
    record_factor: float | None = 3.0  # UNCONFIRMED: discharge above this x the station's record maximum so far
    record_floor_m3s: float = 1.0  # ... and above this (a creek's record of 0.2 m3/s does not hold 0.7 m3/s)
    level_record_range_factor: float | None = 2.0  # UNCONFIRMED: level beyond max + this x (max - min) so far
    level_record_min_range_cm: float = 50.0  # ... the range counted as at least this, cm
    record_min_days: int = 365  # the record check starts once a station has this many accepted values
    newest_jump_ratio: float | None = 10.0  # UNCONFIRMED: factor of change to a day without a right neighbour
    newest_jump_max_gap_days: int = 3  # ... from the previous accepted value at most this many days before


# --------------------------------------------------------------------------------------------------- checks


def range_flags(values: np.ndarray, var: str, physical_max: dict[str, float] | None = None) -> np.ndarray:
    """IMPOSSIBLE where a value lies outside the physical limits of `var` (forecasting.variables), is not finite
    (inf: e.g. '1e400' parsed), or its magnitude exceeds `physical_max[var]` (no river carries 1e308 m3/s)."""
    v = VARIABLES[var]
    out = np.zeros(values.shape, dtype=flags.FLAG_DTYPE)
    with np.errstate(invalid="ignore"):
        out[np.isinf(values)] |= flags.IMPOSSIBLE
        if v.valid_min is not None:
            out[values < v.valid_min] |= flags.IMPOSSIBLE
        if v.valid_max is not None:
            out[values > v.valid_max] |= flags.IMPOSSIBLE
        cap = (physical_max or {}).get(var)
        if cap is not None:
            out[np.abs(values) > cap] |= flags.IMPOSSIBLE
    return out


def _previous_valid(values: np.ndarray) -> np.ndarray:
    """Index (along the last axis) of the previous non-NaN value before each position, -1 if none."""
    n = values.shape[-1]
    idx = np.where(~np.isnan(values), np.arange(n), -1)
    last = np.maximum.accumulate(idx, axis=-1)
    prev = np.full(values.shape, -1, dtype=np.int64)
    prev[..., 1:] = last[..., :-1]
    return prev


def rate_flags(values: np.ndarray, max_change_per_day: float) -> np.ndarray:
    """RATE where |value - previous observed value| exceeds `max_change_per_day` x days between them.

    A value that comes back within the allowed rate of the value before a flagged jump is not flagged (only the
    jump itself is). `values` is 2-D (station, time) or 1-D.
    """
    v = np.atleast_2d(values)
    prev = _previous_valid(v)
    rows = np.arange(v.shape[0])[:, None]
    t = np.arange(v.shape[1])[None, :]
    has_prev = (prev >= 0) & ~np.isnan(v)
    p = np.maximum(prev, 0)
    with np.errstate(invalid="ignore"):
        jump = has_prev & (np.abs(v - v[rows, p]) > max_change_per_day * (t - prev))
        # Returning after a flagged jump: compare with the value before the jump.
        prev2 = np.where(has_prev, prev[rows, p], -1)
        p2 = np.maximum(prev2, 0)
        back = has_prev & jump[rows, p] & (prev2 >= 0)
        back &= np.abs(v - v[rows, p2]) <= max_change_per_day * (t - prev2)
    out = np.where(jump & ~back, flags.RATE, 0).astype(flags.FLAG_DTYPE)
    return out.reshape(values.shape)


def ratio_rate_flags(values: np.ndarray, max_ratio: float, floor: float) -> np.ndarray:
    """RATE where a positive series changes by more than a factor `max_ratio` from one day to the next."""
    v = np.atleast_2d(values)
    lv = np.log(np.maximum(v, floor))
    out = np.zeros(v.shape, dtype=flags.FLAG_DTYPE)
    with np.errstate(invalid="ignore"):
        out[:, 1:][np.abs(lv[:, 1:] - lv[:, :-1]) > np.log(max_ratio)] = flags.RATE
    return out.reshape(values.shape)


def flatline_flags(values: np.ndarray, min_days: int, zero_ok: bool, exempt: np.ndarray | None = None) -> np.ndarray:
    """FLATLINE on the repeats of a value held for at least `min_days` consecutive days (first day not flagged).

    `zero_ok`: runs of zeros are natural (not flagged). `exempt`: boolean mask of days that break runs
    (e.g. days with an ice symbol). NaN breaks a run.
    """
    v = np.atleast_2d(values)
    same = np.zeros(v.shape, dtype=bool)
    same[:, 1:] = v[:, 1:] == v[:, :-1]
    if zero_ok:
        same &= v != 0
    if exempt is not None:
        ex = np.atleast_2d(exempt)
        same &= ~ex
        same[:, 1:] &= ~ex[:, :-1]
    same_flat = same.ravel()  # row starts are never repeats, so runs do not cross stations
    run_id = np.cumsum(~same_flat)
    length = np.bincount(run_id)
    flagged = same_flat & (length[run_id] >= min_days)
    return np.where(flagged, flags.FLATLINE, 0).astype(flags.FLAG_DTYPE).reshape(values.shape)


def spike_flags_log(
    values: np.ndarray,
    ratio: float,
    neighbour_ratio: float,
    floor: float,
    rain: np.ndarray | None = None,
    rain_mm: float | None = None,
) -> np.ndarray:
    """SPIKE for a positive, scale-free series (discharge): a day at least `ratio` x above or below both
    neighbours, which agree within `neighbour_ratio`; upward spikes with rain >= `rain_mm` that day or the day
    before are not flagged."""
    v = np.atleast_2d(values)
    lv = np.log(np.maximum(v, floor))
    a, b, c = lv[:, :-2], lv[:, 1:-1], lv[:, 2:]
    out = np.zeros(v.shape, dtype=flags.FLAG_DTYPE)
    with np.errstate(invalid="ignore"):
        up = (b - a >= np.log(ratio)) & (b - c >= np.log(ratio))
        down = (a - b >= np.log(ratio)) & (c - b >= np.log(ratio))
        agree = np.abs(c - a) <= np.log(neighbour_ratio)
        if rain is not None and rain_mm is not None:
            r = np.atleast_2d(rain)
            wet = (r[:, 1:-1] >= rain_mm) | (r[:, :-2] >= rain_mm)
            up &= ~wet
    out[:, 1:-1][(up | down) & agree] = flags.SPIKE
    return out.reshape(values.shape)


def spike_flags_abs(values: np.ndarray, jump: float, neighbour_tol: float) -> np.ndarray:
    """SPIKE for an additive series (temperature): a day at least `jump` away from both neighbours (same side),
    which agree within `neighbour_tol`."""
    v = np.atleast_2d(values)
    a, b, c = v[:, :-2], v[:, 1:-1], v[:, 2:]
    out = np.zeros(v.shape, dtype=flags.FLAG_DTYPE)
    with np.errstate(invalid="ignore"):
        up = (b - a >= jump) & (b - c >= jump)
        down = (a - b >= jump) & (c - b >= jump)
        agree = np.abs(c - a) <= neighbour_tol
    out[:, 1:-1][(up | down) & agree] = flags.SPIKE
    return out.reshape(values.shape)


_HASH_MULT = np.uint64(0x9E3779B97F4A7C15)


def repeated_blocks(series: np.ndarray, min_days: int, min_steps: int) -> list[tuple[int, int, int]]:
    """Copied blocks of a 1-D daily series: a list of (start, stop, lag) with series[start:stop] identical day for
    day to series[start - lag:stop - lag], lag >= min_days, stop - start >= min_days, and at least `min_steps`
    distinct day-to-day changes in the block (see the module docstring).

    Windows of `min_days` days are hashed (a rolling hash of the float bits), equal hashes are verified, matching
    windows at the same lag are merged into runs, and confirmed runs are extended over all identical days.
    """
    v = np.asarray(series, dtype="float64") + 0.0  # -0.0 -> 0.0
    n = len(v)
    w = min_days
    if n < 2 * w:
        return []
    nwin = n - w + 1
    nan = np.isnan(v)
    step = np.zeros(n, dtype=bool)
    step[1:] = v[1:] != v[:-1]
    step[1:] &= ~nan[1:] & ~nan[:-1]
    csum_nan = np.concatenate([[0], np.cumsum(nan)])
    csum_step = np.concatenate([[0], np.cumsum(step)])
    # Window k covers v[k:k+w]; its internal changes are step[k+1:k+w].
    ok = (csum_nan[w:] - csum_nan[:-w] == 0) & (csum_step[w:] - csum_step[1 : nwin + 1] >= 2)
    cand = np.flatnonzero(ok)
    if len(cand) < 2:
        return []
    bits = np.where(nan, 0.0, v).view(np.uint64)
    h = np.zeros(nwin, dtype=np.uint64)
    for k in range(w):
        h = h * _HASH_MULT + bits[k : k + nwin]
    hc = h[cand]
    order = np.argsort(hc, kind="stable")
    hs = hc[order]
    first_in_group = np.ones(len(hs), dtype=bool)
    first_in_group[1:] = hs[1:] != hs[:-1]
    group_first = order[np.maximum.accumulate(np.where(first_in_group, np.arange(len(hs)), 0))]
    later = ~first_in_group
    if not later.any():
        return []
    i_win = cand[order[later]]
    j_win = cand[group_first[later]]
    lag = i_win - j_win
    keep = lag >= w
    i_win, lag = i_win[keep], lag[keep]
    if not len(i_win):
        return []
    # Verify (hash collisions) and merge consecutive windows at the same lag.
    offs = np.arange(w)
    same = (v[i_win[:, None] + offs] == v[(i_win - lag)[:, None] + offs]).all(axis=1)
    i_win, lag = i_win[same], lag[same]
    if not len(i_win):
        return []
    srt = np.lexsort((i_win, lag))
    i_win, lag = i_win[srt], lag[srt]
    new_run = np.ones(len(i_win), dtype=bool)
    new_run[1:] = (lag[1:] != lag[:-1]) | (i_win[1:] != i_win[:-1] + 1)
    starts = np.flatnonzero(new_run)
    ends = np.r_[starts[1:], len(i_win)] - 1
    blocks: list[tuple[int, int, int]] = []
    for s, e in zip(starts, ends, strict=True):
        a, b, lg = int(i_win[s]), int(i_win[e]) + w, int(lag[s])
        blk = v[a:b]
        steps = np.diff(blk)
        steps = steps[steps != 0]
        scale = max(float(np.nanmax(np.abs(blk))), 1e-12)
        if len(np.unique(np.round(steps / scale, 9))) < min_steps:
            continue
        # Extend over all identical days at this lag.
        while a - 1 - lg >= 0 and v[a - 1] == v[a - 1 - lg]:
            a -= 1
        while b < n and v[b] == v[b - lg]:
            b += 1
        blocks.append((a, b, lg))
    return sorted(blocks)


def repeated_flags(values: np.ndarray, min_days: int, min_steps: int) -> np.ndarray:
    """REPEATED on the later copy of every copied block (see `repeated_blocks`), row by row of (station, time)."""
    v = np.atleast_2d(values)
    out = np.zeros(v.shape, dtype=flags.FLAG_DTYPE)
    for i in range(v.shape[0]):
        for a, b, _ in repeated_blocks(v[i], min_days, min_steps):
            out[i, a:b] |= flags.REPEATED
    return out.reshape(values.shape)


def _previous_max_min(values: np.ndarray, accepted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per position: the max and min of the accepted values strictly before it, and how many there were."""
    shape = values.shape
    hi = np.where(accepted, values, -np.inf)
    lo = np.where(accepted, values, np.inf)
    prev_hi = np.full(shape, -np.inf)
    prev_lo = np.full(shape, np.inf)
    count = np.zeros(shape, dtype=np.int64)
    if shape[1] > 1:
        prev_hi[:, 1:] = np.maximum.accumulate(hi, axis=1)[:, :-1]
        prev_lo[:, 1:] = np.minimum.accumulate(lo, axis=1)[:, :-1]
        count[:, 1:] = np.cumsum(accepted, axis=1)[:, :-1]
    return prev_hi, prev_lo, count


def unconfirmed_check(
    values: np.ndarray,
    var: str,
    config: QCConfig,
    excluded: np.ndarray | None = None,
    confirmed: np.ndarray | None = None,
    rain: np.ndarray | None = None,
    explain: bool = False,
) -> tuple[np.ndarray, dict[tuple[int, int], str]]:
    """The UNCONFIRMED mask of a (station, time) array of discharge (m3/s) or level (cm), see the module docstring.

    `excluded`: values already flagged BAD by other checks (neither checked nor used as reference); `confirmed`:
    values a hydrologist confirmed (never held, and part of the reference); `rain`: precipitation (mm) on the same
    grid. With `explain`, also {(row, column): reason} for every held value. Other variables: nothing held.
    """
    v = np.atleast_2d(np.asarray(values, dtype="float64"))
    held = np.zeros(v.shape, dtype=bool)
    reasons: dict[tuple[int, int], str] = {}
    if var not in ("discharge_m3s", "water_level_cm") or v.size == 0:
        return held.reshape(np.shape(values)), reasons
    present = np.isfinite(v)
    excl = np.zeros(v.shape, dtype=bool) if excluded is None else np.atleast_2d(excluded).astype(bool)
    conf = np.zeros(v.shape, dtype=bool) if confirmed is None else np.atleast_2d(confirmed).astype(bool)
    candidate = present & ~excl & ~conf
    unit = "m3/s" if var == "discharge_m3s" else "cm"
    # 1. far beyond the station's own record (iterated: a held value leaves the reference of the later ones)
    record = np.zeros(v.shape, dtype=bool)
    if (var == "discharge_m3s" and config.record_factor) or (
        var == "water_level_cm" and config.level_record_range_factor
    ):
        for _ in range(20):
            accepted = present & ~excl & ~record
            prev_hi, prev_lo, count = _previous_max_min(v, accepted)
            enough = count >= config.record_min_days
            with np.errstate(invalid="ignore"):
                if var == "discharge_m3s":
                    limit_hi = config.record_factor * np.maximum(prev_hi, config.record_floor_m3s)
                    new = candidate & enough & (v > limit_hi)
                else:
                    span = np.maximum(prev_hi - prev_lo, config.level_record_min_range_cm)
                    limit_hi = prev_hi + config.level_record_range_factor * span
                    limit_lo = prev_lo - config.level_record_range_factor * span
                    new = candidate & enough & ((v > limit_hi) | (v < limit_lo))
            if (new == record).all():
                break
            record = new
        if explain:
            for i, t in zip(*np.nonzero(record), strict=True):
                if var == "discharge_m3s":
                    reasons[(int(i), int(t))] = (
                        f"{v[i, t]:.6g} {unit} is {v[i, t] / max(prev_hi[i, t], 1e-12):.1f} x the station's largest "
                        f"accepted value before it ({prev_hi[i, t]:.6g} {unit}, {int(count[i, t])} days of record; "
                        f"limit {config.record_factor:g} x)"
                    )
                else:
                    reasons[(int(i), int(t))] = (
                        f"{v[i, t]:.6g} {unit} lies outside the station's recorded range {prev_lo[i, t]:.6g}.."
                        f"{prev_hi[i, t]:.6g} {unit} by more than {config.level_record_range_factor:g} x its width "
                        f"({int(count[i, t])} days of record)"
                    )
    held |= record
    # 2. a jump no river makes in a day, on a day whose right-hand neighbour has not come (the newest day)
    if var == "discharge_m3s" and config.newest_jump_ratio:
        nt = v.shape[1]
        no_right = present.copy()
        no_right[:, :-1] &= ~present[:, 1:]
        accepted = present & ~excl & ~record
        idx = np.where(accepted, np.arange(nt), -1)
        last = np.full(v.shape, -1, dtype=np.int64)
        if nt > 1:
            last[:, 1:] = np.maximum.accumulate(idx, axis=1)[:, :-1]
        rows = np.arange(v.shape[0])[:, None]
        gap = np.arange(nt)[None, :] - last
        ok_prev = (last >= 0) & (gap <= config.newest_jump_max_gap_days)
        prev = v[rows, np.maximum(last, 0)]
        floor = config.spike_floor_m3s
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.maximum(v, floor) / np.maximum(prev, floor)
            up = ratio > config.newest_jump_ratio
            down = ratio < 1.0 / config.newest_jump_ratio
        if rain is not None and config.spike_rain_mm is not None:
            r = np.atleast_2d(rain)
            wet = r >= config.spike_rain_mm
            wet[:, 1:] |= r[:, :-1] >= config.spike_rain_mm
            up &= ~wet
        jump = candidate & no_right & ok_prev & (up | down) & ~record
        held |= jump
        if explain:
            for i, t in zip(*np.nonzero(jump), strict=True):
                reasons[(int(i), int(t))] = (
                    f"{v[i, t]:.6g} {unit} is {ratio[i, t]:.2g} x the value {int(gap[i, t])} day(s) before "
                    f"({prev[i, t]:.6g} {unit}; limit a factor {config.newest_jump_ratio:g} either way) and no later "
                    "day confirms it yet"
                )
    return held.reshape(np.shape(values)), reasons


# ------------------------------------------------------------------------------------------------ the store


def check_variable(ds: xr.Dataset, var: str, config: QCConfig, values: np.ndarray | None = None) -> np.ndarray:
    """All QC bits (except the persistent ones) of `var` in `ds`, as an int16 (station, time) array."""
    v = ds[var].values if values is None else values
    q = range_flags(v, var, config.physical_max)
    if var == "water_level_cm" and config.level_max_rate_cm_per_day is not None:
        q |= rate_flags(v, config.level_max_rate_cm_per_day)
    if var == "discharge_m3s":
        if config.discharge_max_rate_ratio is not None:
            q |= ratio_rate_flags(v, config.discharge_max_rate_ratio, config.spike_floor_m3s)
        rain = ds["precip_mm"].values if "precip_mm" in ds.data_vars else None
        q |= spike_flags_log(
            v, config.spike_ratio, config.spike_neighbour_ratio, config.spike_floor_m3s, rain, config.spike_rain_mm
        )
    if var in TEMPERATURES:
        q |= spike_flags_abs(v, config.spike_temp_c, config.spike_temp_neighbour_c)
    n_flat = config.flatline_days.get(var)
    if n_flat:
        exempt = None
        if var in ("discharge_m3s", "water_level_cm") and SYMBOL_VAR in ds.data_vars:
            exempt = ds[SYMBOL_VAR].values.astype(str) != ""
        q |= flatline_flags(v, n_flat, var in ZERO_IS_NATURAL, exempt)
    if config.repeat_min_days:
        q |= repeated_flags(v, config.repeat_min_days, config.repeat_min_steps)
    return q


def run_qc(
    ds: xr.Dataset, config: QCConfig | None = None, confirmed: dict[str, np.ndarray] | None = None
) -> xr.Dataset:
    """Recompute the QC flags of every variable (keeping DUPLICATE and REVISED); returns a new dataset.

    `confirmed`: {variable: boolean (station, time) mask} of values a hydrologist confirmed
    (forecasting.confirmations.confirmed_masks); they are never held UNCONFIRMED. Values are never changed or
    removed; only the `<var>_qc` arrays are replaced.
    """
    config = config or QCConfig()
    out = ds.copy()
    if ds.sizes.get("time", 0) == 0:
        return out
    computed: dict[str, np.ndarray] = {}
    for var in data_variables(ds):
        computed[var] = (ds[qc_name(var)].values & PERSISTENT_FLAGS) | check_variable(ds, var, config)
    if "tmin_c" in computed and "tmax_c" in computed:
        with np.errstate(invalid="ignore"):
            inverted = ds["tmin_c"].values > ds["tmax_c"].values
        computed["tmin_c"][inverted] |= flags.IMPOSSIBLE
        computed["tmax_c"][inverted] |= flags.IMPOSSIBLE
    rain = ds["precip_mm"].values if "precip_mm" in ds.data_vars else None
    for var in ("discharge_m3s", "water_level_cm"):
        if var in computed:
            held, _ = unconfirmed_check(
                ds[var].values, var, config, (computed[var] & flags.BAD) != 0, (confirmed or {}).get(var), rain
            )
            computed[var][held] |= flags.UNCONFIRMED
    for var, q in computed.items():
        name = qc_name(var)
        out[name] = (ds[name].dims, q.astype(flags.FLAG_DTYPE), ds[name].attrs)
    return out


def unconfirmed_values(
    ds: xr.Dataset, config: QCConfig | None = None, confirmed: dict[str, np.ndarray] | None = None
) -> pd.DataFrame:
    """The values QC holds as UNCONFIRMED in `ds` (as flagged by run_qc), with why: a DataFrame with columns
    station_id, variable, date (local day), value (canonical units: m3/s, cm), units, reason; newest first."""
    config = config or QCConfig()
    cols = ["station_id", "variable", "date", "value", "units", "reason"]
    rows = []
    stations = ds["station"].values.astype(str)
    times = pd.DatetimeIndex(ds["time"].values) if ds.sizes.get("time", 0) else pd.DatetimeIndex([])
    rain = ds["precip_mm"].values if "precip_mm" in ds.data_vars else None
    for var in ("discharge_m3s", "water_level_cm"):
        if var not in ds.data_vars:
            continue
        q = ds[qc_name(var)].values
        flagged = (q & flags.UNCONFIRMED) != 0
        if not flagged.any():
            continue
        other = (q & (flags.BAD & ~flags.UNCONFIRMED)) != 0
        _, reasons = unconfirmed_check(ds[var].values, var, config, other, (confirmed or {}).get(var), rain, True)
        for i, t in zip(*np.nonzero(flagged), strict=True):
            rows.append(
                {
                    "station_id": stations[i],
                    "variable": var,
                    "date": times[t],
                    "value": float(ds[var].values[i, t]),
                    "units": VARIABLES[var].units,
                    "reason": reasons.get((int(i), int(t)), "held as unconfirmed by QC"),
                }
            )
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values(["date", "station_id", "variable"], ascending=[False, True, True], ignore_index=True)


def fill_short_gaps(values: np.ndarray, max_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation across interior gaps of at most `max_days` days (along the last axis).

    Returns (filled values, mask of the filled positions). Gaps at the ends and longer gaps stay NaN.
    """
    v = np.atleast_2d(values)
    nt = v.shape[1]
    if max_days <= 0 or nt < 3:
        return values.copy(), np.zeros(values.shape, dtype=bool)
    missing = np.isnan(v)
    edges = np.diff(missing.astype(np.int8), axis=1, prepend=0, append=0)  # +1 where a gap starts, -1 after it
    rows, start = np.nonzero(edges == 1)
    _, end = np.nonzero(edges == -1)  # the same gaps in the same (row-major) order: end is the next valid day
    keep = (start > 0) & (end < nt) & (end - start <= max_days)  # interior and short
    rows, start, end = rows[keep], start[keep], end[keep]
    out = v.astype(float, copy=True)
    fill = np.zeros(v.shape, dtype=bool)
    if len(rows):
        size = end - start
        r = np.repeat(rows, size)
        p, n = np.repeat(start - 1, size), np.repeat(end, size)
        cols = p + 1 + (np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size))
        vp, vn = v[r, p], v[r, n]
        out[r, cols] = vp + (vn - vp) * (cols - p) / (n - p)
        fill[r, cols] = True
    return out.reshape(values.shape), fill.reshape(values.shape)


def usable(ds: xr.Dataset, config: QCConfig | None = None) -> xr.Dataset:
    """The values fit for training and forecasting (a new dataset; `ds` is not changed).

    Every value with a BAD flag (forecasting.flags.BAD) is set to NaN; interior gaps of at most
    `config.max_gap_fill_days` days (missing or masked) are filled by linear interpolation for discharge, level,
    temperatures, SWE and snow depth and flagged FILLED in the returned `<var>_qc` (their BAD bits cleared: the
    value there is no longer the rejected observation, which the store keeps). Precipitation gaps stay NaN
    (neither a straight line nor zero is a fair guess for a missing rain day). Longer gaps are never filled.
    """
    config = config or QCConfig()
    out = ds.copy()
    for var in data_variables(ds):
        q = ds[qc_name(var)].values
        vals = np.where((q & flags.BAD) != 0, np.nan, ds[var].values)
        if var in FILLABLE:
            vals, filled = fill_short_gaps(vals, config.max_gap_fill_days)
            q = np.where(filled, (q & ~flags.BAD) | flags.FILLED, q).astype(flags.FLAG_DTYPE)
        out[var] = (ds[var].dims, vals, ds[var].attrs)
        out[qc_name(var)] = (ds[qc_name(var)].dims, q, ds[qc_name(var)].attrs)
    return out


def qc_summary(ds: xr.Dataset) -> pd.DataFrame:
    """Flag counts per station and variable: columns station_id, variable, n_values (observed values),
    bad (values excluded from use), and one count column per flag name (forecasting.flags.FLAG_BITS)."""
    rows = []
    stations = ds["station"].values.astype(str)
    for var in data_variables(ds):
        present = ~np.isnan(ds[var].values)
        q = ds[qc_name(var)].values
        n = present.sum(axis=1)
        bad = (((q & flags.BAD) != 0) & present).sum(axis=1)
        counts = {name: (((q & bit) != 0) & present).sum(axis=1) for name, bit in flags.FLAG_BITS.items()}
        counts["filled"] = ((q & flags.FILLED) != 0).sum(axis=1)  # filled values were not observed
        for i, sid in enumerate(stations):
            if n[i] == 0 and counts["filled"][i] == 0:
                continue
            rows.append(
                {
                    "station_id": sid,
                    "variable": var,
                    "n_values": int(n[i]),
                    "bad": int(bad[i]),
                    **{name: int(c[i]) for name, c in counts.items()},
                }
            )
    cols = ["station_id", "variable", "n_values", "bad", *flags.FLAG_BITS]
    return pd.DataFrame(rows, columns=cols)
