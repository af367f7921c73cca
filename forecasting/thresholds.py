"""Station flood thresholds (`warning`, `danger`, `extreme`): official marks, a thresholds file, or derived floods.

Sources, in order of precedence per station:
1. a thresholds CSV file (`station_id, kind, value, units, source`; units `m3/s` or `cm`);
2. the station metadata of the store (`q_*_m3s` in m3/s, `level_*_cm` in cm: the official Kazhydromet marks,
   `неблагоприятная отметка`/floodplain -> warning, `опасная отметка` -> danger, `критическая отметка` ->
   extreme). Where a station has both a discharge and a level value for a kind, the discharge (m3/s) is used,
   because the forecast is of discharge;
3. otherwise the 2-, 5- and 20-year floods (m3/s) by Gumbel L-moments on the annual maxima of the station's
   discharge record (forecasting.extremes): a calendar year with more than `max_missing_days` (default 30)
   missing or QC-flagged days is incomplete and left out; at least `min_years` (default 2) complete years are
   needed, and a fit on fewer than `SHORT_RECORD_YEARS` (10) years is marked "short record" in its `years` text
   (a 20-year flood from a few years of record is very uncertain, but it is the only local reference there is).

A station that has any official threshold (1 or 2) uses only its official ones (a kind it lacks stays unset, as
when Kazhydromet publishes only the danger and critical marks): official and derived values are not mixed.

Thresholds are versioned as a whole set: `next_version` compares a new set with the latest stored one and bumps
the version only when a value (or unit, or the presence of a threshold) changed; every forecast records the
version it used, so that a later change never silently changes the meaning of an old forecast.

A threshold table is a DataFrame with THRESHOLD_COLUMNS: station_id, kind, value, units, source, years.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from forecasting import flags
from forecasting.canonical import QuarantinedRow
from forecasting.extremes import annual_maxima, gumbel_lmoments, gumbel_return_level
from forecasting.variables import qc_name

KINDS: tuple[str, ...] = ("warning", "danger", "extreme")
UNITS: tuple[str, ...] = ("m3/s", "cm")
RETURN_PERIODS: dict[str, float] = {"warning": 2.0, "danger": 5.0, "extreme": 20.0}
OFFICIAL_MARKS: dict[str, str] = {
    "warning": "неблагоприятная отметка / выход на пойму",
    "danger": "опасная отметка",
    "extreme": "критическая отметка",
}
THRESHOLD_COLUMNS: list[str] = ["station_id", "kind", "value", "units", "source", "years"]
SHORT_RECORD_YEARS = 10
_UNIT_ALIASES = {"m3/s": "m3/s", "m3s-1": "m3/s", "m3s": "m3/s", "m³/s": "m3/s", "cms": "m3/s", "cm": "cm"}


def empty_table() -> pd.DataFrame:
    """An empty threshold table."""
    return pd.DataFrame({c: pd.Series(dtype="float64" if c == "value" else "object") for c in THRESHOLD_COLUMNS})


def _table(rows: list[dict]) -> pd.DataFrame:
    if not rows:
        return empty_table()
    df = pd.DataFrame(rows, columns=THRESHOLD_COLUMNS)
    df["value"] = df["value"].astype("float64")
    return df


def from_metadata(stations: pd.DataFrame) -> pd.DataFrame:
    """Official thresholds from station metadata (index station_id; columns q_*_m3s in m3/s, level_*_cm in cm)."""
    rows = []
    for sid, meta in stations.iterrows():
        for kind in KINDS:
            q = meta.get(f"q_{kind}_m3s", np.nan)
            lv = meta.get(f"level_{kind}_cm", np.nan)
            if _finite(q):
                rows.append(_row(sid, kind, q, "m3/s", f"official: {OFFICIAL_MARKS[kind]} (station registry, m3/s)"))
            elif _finite(lv):
                rows.append(_row(sid, kind, lv, "cm", f"official: {OFFICIAL_MARKS[kind]} (station registry, cm)"))
    return _table(rows)


def _finite(v: object) -> bool:
    try:
        return bool(np.isfinite(float(v)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _row(sid: object, kind: str, value: object, units: str, source: str, years: str | None = None) -> dict:
    return {
        "station_id": str(sid),
        "kind": kind,
        "value": float(value),  # type: ignore[arg-type]
        "units": units,
        "source": source,
        "years": years,
    }


def read_thresholds_csv(path: str | Path) -> tuple[pd.DataFrame, list[QuarantinedRow]]:
    """Read a thresholds file (`station_id, kind, value, units[, source][, years]`).

    `kind` is warning | danger | extreme (the Russian mark names are accepted too), `units` m3/s or cm. A bad row
    is quarantined with its file, line and field; the valid rows are kept. A missing required column raises
    ValueError naming the file.
    """
    path = Path(path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, comment="#")
    raw.columns = [c.strip().lower() for c in raw.columns]
    missing = [c for c in ("station_id", "kind", "value", "units") if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (need station_id, kind, value, units)")
    aliases = {
        "неблагоприятная отметка": "warning",
        "пойма": "warning",
        "floodplain": "warning",
        "опасная отметка": "danger",
        "критическая отметка": "extreme",
        "critical": "extreme",
    }
    rows, bad = [], []
    seen: set[tuple[str, str]] = set()
    lines: dict[tuple[str, str], tuple[int, str, str]] = {}
    for i, r in enumerate(raw.itertuples(index=False), start=2):  # line 1 is the header
        rec = r._asdict()
        line = ",".join(str(v) for v in rec.values())
        sid = rec["station_id"].strip()
        kind = aliases.get(rec["kind"].strip().lower(), rec["kind"].strip().lower())
        units = _UNIT_ALIASES.get(rec["units"].strip().lower().replace(" ", "") or "")
        if not sid:
            bad.append(QuarantinedRow(str(path), i, "station_id", "empty station_id", line))
            continue
        if kind not in KINDS:
            bad.append(
                QuarantinedRow(str(path), i, "kind", f"unknown kind {rec['kind']!r} (warning|danger|extreme)", line)
            )
            continue
        if units is None:
            bad.append(QuarantinedRow(str(path), i, "units", f"unknown units {rec['units']!r} (m3/s|cm)", line))
            continue
        try:
            value = float(rec["value"].strip().replace(",", "."))
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or (units == "m3/s" and value <= 0):
            bad.append(QuarantinedRow(str(path), i, "value", f"not a valid threshold value: {rec['value']!r}", line))
            continue
        if (sid, kind) in seen:
            bad.append(QuarantinedRow(str(path), i, "kind", f"repeated {kind} threshold for {sid}; first kept", line))
            continue
        seen.add((sid, kind))
        src = (rec.get("source") or "").strip() or f"official: {OFFICIAL_MARKS[kind]}"
        rows.append(_row(sid, kind, value, units, f"{src} ({path.name})", (rec.get("years") or "").strip() or None))
        lines[(sid, kind)] = (i, line, units)
    rows, inverted = _drop_inverted(rows)
    for sid, units, why in inverted:
        for kind in KINDS:
            i, line, u = lines.get((sid, kind), (0, "", ""))
            if u == units:
                bad.append(QuarantinedRow(str(path), i, "value", f"{sid}: {why}", line))
    return _table(rows), bad


def _drop_inverted(rows: list[dict]) -> tuple[list[dict], list[tuple[str, str, str]]]:
    """Rows without the (station, units) sets whose values are not in increasing order (warning <= danger <=
    extreme), and (station, units, reason) of each set left out."""
    order = {k: i for i, k in enumerate(KINDS)}
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["station_id"], r["units"]), []).append(r)
    dropped = []
    for (sid, units), grp in groups.items():
        grp = sorted(grp, key=lambda r: order[r["kind"]])
        if any(a["value"] > b["value"] for a, b in zip(grp, grp[1:], strict=False)):
            shown = ", ".join(f"{r['kind']} {r['value']:g}" for r in grp)
            dropped.append((sid, units, f"thresholds in {units} not in increasing order ({shown}); left out"))
    gone = {(sid, units) for sid, units, _ in dropped}
    return [r for r in rows if (r["station_id"], r["units"]) not in gone], dropped


def usable_discharge(store: xr.Dataset, station_id: str) -> pd.Series:
    """A station's daily discharge (m3/s) with QC-flagged (BAD) values removed, indexed by local day."""
    if "discharge_m3s" not in store:
        return pd.Series(dtype="float64")
    v = store["discharge_m3s"].sel(station=station_id).values.astype("float64")
    qn = qc_name("discharge_m3s")
    if qn in store:
        v = np.where((store[qn].sel(station=station_id).values & flags.BAD) != 0, np.nan, v)
    return pd.Series(v, index=pd.DatetimeIndex(store["time"].values), name=station_id)


def derive_thresholds(
    discharge: pd.Series,
    station_id: str,
    periods: dict[str, float] | None = None,
    max_missing_days: int = 30,
    min_years: int = 2,
) -> pd.DataFrame:
    """The T-year floods (m3/s) of a daily discharge series, one row per kind (default 2, 5, 20 years).

    Gumbel by L-moments on the annual maxima of complete calendar years (at most `max_missing_days` missing).
    Raises ValueError when fewer than `min_years` complete years exist.
    """
    periods = periods or RETURN_PERIODS
    am = annual_maxima(discharge, max_missing_days)
    if len(am) < min_years:
        raise ValueError(
            f"{station_id}: only {len(am)} complete years of discharge (need {min_years}; a year with more than "
            f"{max_missing_days} missing days is incomplete)"
        )
    xi, alpha = gumbel_lmoments(am.to_numpy())
    years = [int(y) for y in am.index]
    span = f"{years[0]}-{years[-1]}: {len(years)} complete years (<= {max_missing_days} missing days)"
    if len(years) != years[-1] - years[0] + 1:
        span += "; left out: " + _ranges(sorted(set(range(years[0], years[-1] + 1)) - set(years)))
    if len(years) < SHORT_RECORD_YEARS:
        span += f"; short record (< {SHORT_RECORD_YEARS} years): very uncertain"
    rows = [
        _row(
            station_id,
            kind,
            gumbel_return_level(xi, alpha, T),
            "m3/s",
            f"derived: Gumbel L-moments {T:g}-year flood of annual maxima",
            span,
        )
        for kind, T in periods.items()
    ]
    return _table(rows)


def _ranges(years: list[int]) -> str:
    out, start = [], None
    for i, y in enumerate(years):
        if start is None:
            start = y
        if i == len(years) - 1 or years[i + 1] != y + 1:
            out.append(str(start) if start == y else f"{start}-{y}")
            start = None
    return ", ".join(out)


def station_thresholds(
    store: xr.Dataset,
    thresholds_file: str | Path | None = None,
    max_missing_days: int = 30,
    min_years: int = 2,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Thresholds of every station of the store, and a note per station that has none (why).

    Precedence per station: the thresholds file, then the station metadata (official marks), then thresholds
    derived from the station's own discharge record. Returns (threshold table, {station_id: reason}).
    Raises ValueError (naming the file) if the thresholds file lacks a required column; its bad rows are reported
    in the notes under the key "<file>" and left out.
    """
    from forecasting.store import station_table

    stations = station_table(store)
    official = from_metadata(stations)
    notes: dict[str, str] = {}
    if thresholds_file is not None:
        from_file, bad = read_thresholds_csv(thresholds_file)
        if bad:
            notes[str(thresholds_file)] = "; ".join(q.message() for q in bad)
        # the file replaces a station's registry thresholds entirely
        official = pd.concat(
            [official[~official["station_id"].isin(from_file["station_id"])], from_file], ignore_index=True
        )
    parts = [official] if len(official) else []
    have = set(official["station_id"])
    for sid in stations.index:
        if sid in have:
            continue
        try:
            parts.append(derive_thresholds(usable_discharge(store, sid), sid, None, max_missing_days, min_years))
        except ValueError as exc:
            notes[sid] = f"no thresholds: {exc}"
    table = pd.concat(parts, ignore_index=True) if parts else empty_table()
    table = table[table["station_id"].isin(stations.index)]
    order = {k: i for i, k in enumerate(KINDS)}
    table = table.sort_values(["station_id", "kind"], key=lambda s: s.map(order) if s.name == "kind" else s)
    return table.reset_index(drop=True), notes


def as_mapping(table: pd.DataFrame) -> dict[tuple[str, str], tuple[float, str]]:
    """{(station_id, kind): (value, units)} of a threshold table."""
    return {
        (str(r.station_id), str(r.kind)): (float(r.value), str(r.units))
        for r in table[["station_id", "kind", "value", "units"]].itertuples(index=False)
    }


def changed(new: pd.DataFrame, stored: pd.DataFrame, rtol: float = 1e-6) -> list[tuple[str, str]]:
    """(station_id, kind) pairs whose value or units differ between two threshold tables, or present in one only.

    A change of the source text alone (same value) is not a change.
    """
    a, b = as_mapping(new), as_mapping(stored)
    out = []
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            out.append(key)
            continue
        (va, ua), (vb, ub) = a[key], b[key]
        if ua != ub or not math.isclose(va, vb, rel_tol=rtol, abs_tol=0.0):
            out.append(key)
    return out


def next_version(new: pd.DataFrame, stored: pd.DataFrame | None, stored_version: int | None) -> tuple[int, bool]:
    """The version a new threshold set gets: the stored one when nothing changed, else stored + 1 (or 1).

    Returns (version, changed).
    """
    if stored_version is None or stored is None:
        return 1, True
    if changed(new, stored):
        return stored_version + 1, True
    return stored_version, False
