"""Confirming values that QC holds as UNCONFIRMED (no alert from a typo, no lost flood either).

QC (forecasting.qc) holds a discharge or level far beyond the station's own record, or a jump no river makes on
the newest day, as UNCONFIRMED: kept in the store, masked by `qc.usable`, so not used for the forecast or for
thresholds. A hydrologist who checks it (a phone call to the observer, the neighbouring post) confirms it; from
then on it is usable and part of the station's record.

Confirmations are an append-only CSV in the home, `store/confirmations.csv` (CONFIRMATION_COLUMNS: station_id,
variable, date (local day, YYYY-MM-DD), value (canonical units, m3/s or cm), confirmed_by, at (UTC), note). A
confirmation holds for that value only: if a later ingest changes the value, the new value is checked afresh.
`list_unconfirmed(home)` gives what waits for confirmation, with the reason; `confirm(home, ...)` records one
and re-runs QC on the store (under the store lock), so the next forecast uses the value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from forecasting import flags, locks, qc
from forecasting.home import Home
from forecasting.variables import qc_name

CONFIRMATION_COLUMNS: list[str] = ["station_id", "variable", "date", "value", "confirmed_by", "at", "note"]
CHECKED_VARIABLES: tuple[str, ...] = ("discharge_m3s", "water_level_cm")


class ConfirmationError(ValueError):
    """A confirmation that cannot be recorded (unknown station or day, value changed, not held)."""


@dataclass(frozen=True)
class Confirmation:
    """One recorded confirmation (value in canonical units: m3/s or cm; date a local day)."""

    station_id: str
    variable: str
    date: dt.date
    value: float
    confirmed_by: str
    at: str
    note: str = ""


def read_confirmations(home: Home) -> pd.DataFrame:
    """The confirmations of the home (CONFIRMATION_COLUMNS; `date` as datetime64 days); empty if none."""
    path = home.confirmations
    if not path.exists():
        return pd.DataFrame(columns=CONFIRMATION_COLUMNS)
    df = pd.read_csv(path, dtype={"station_id": str, "variable": str, "confirmed_by": str, "note": str})
    df["date"] = pd.to_datetime(df["date"], errors="coerce")
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    return df.dropna(subset=["date", "value"]).reset_index(drop=True)


def confirmed_masks(ds: xr.Dataset, table: pd.DataFrame, rtol: float = 1e-9) -> dict[str, np.ndarray]:
    """{variable: boolean (station, time) mask} of the values of `ds` that `table` confirms (same station, day,
    variable and value); for qc.run_qc(confirmed=...)."""
    out: dict[str, np.ndarray] = {}
    if table is None or not len(table) or ds.sizes.get("time", 0) == 0:
        return out
    stations = pd.Index(ds["station"].values.astype(str))
    times = pd.DatetimeIndex(ds["time"].values)
    for var, grp in table.groupby("variable"):
        if var not in ds.data_vars:
            continue
        si = stations.get_indexer(grp["station_id"].astype(str))
        ti = times.get_indexer(pd.DatetimeIndex(grp["date"]).normalize())
        ok = (si >= 0) & (ti >= 0)
        mask = np.zeros(ds[var].shape, dtype=bool)
        stored = ds[var].values[si[ok], ti[ok]]
        same = np.isclose(stored, grp["value"].to_numpy(dtype="float64")[ok], rtol=rtol, atol=0.0)
        mask[si[ok][same], ti[ok][same]] = True
        out[str(var)] = mask
    return out


def requalify(ds: xr.Dataset, home: Home, config: qc.QCConfig | None = None) -> xr.Dataset:
    """QC of `ds` with the home's confirmations honoured (what every store write should carry)."""
    return qc.run_qc(ds, config, confirmed_masks(ds, read_confirmations(home)))


def list_unconfirmed(home: Home, config: qc.QCConfig | None = None) -> pd.DataFrame:
    """The values of the home's store held as UNCONFIRMED, newest first: station_id, variable, date, value (m3/s
    or cm), units, reason. Empty when the store is empty or nothing is held."""
    from forecasting.storage import open_store

    ds = open_store(home.observations)
    if ds is None:
        return qc.unconfirmed_values(xr.Dataset(coords={"station": [], "time": []}))
    return qc.unconfirmed_values(ds, config, confirmed_masks(ds, read_confirmations(home)))


def confirm(
    home: Home,
    station_id: str,
    variable: str,
    date: str | dt.date | pd.Timestamp,
    value: float,
    confirmed_by: str,
    note: str = "",
    config: qc.QCConfig | None = None,
) -> Confirmation:
    """Confirm one held value: record it in `store/confirmations.csv` and re-run QC on the store so that the value
    is usable from now on. `value` must be the stored value (canonical units: m3/s or cm), so that a value changed
    by a later ingest is never confirmed unseen. Holds the store lock. Raises ConfirmationError naming what is
    wrong (unknown station, variable or day, a different stored value, a value not held, no name)."""
    from forecasting.storage import append_csv, open_store, write_store

    who = " ".join(str(confirmed_by or "").split())
    if not who:
        raise ConfirmationError("a confirmation needs the name of the hydrologist who confirms (confirmed_by)")
    if variable not in CHECKED_VARIABLES:
        raise ConfirmationError(f"variable '{variable}' is never held as unconfirmed ({', '.join(CHECKED_VARIABLES)})")
    try:
        day = pd.Timestamp(date).normalize()
    except (TypeError, ValueError) as exc:
        raise ConfirmationError(f"not a date: {date!r} (YYYY-MM-DD)") from exc
    with home.lock(locks.STORE):
        ds = open_store(home.observations)
        if ds is None:
            raise ConfirmationError(f"the store {home.observations} is empty")
        sids = list(ds["station"].values.astype(str))
        if station_id not in sids:
            raise ConfirmationError(f"station '{station_id}' is not in the store")
        if variable not in ds.data_vars:
            raise ConfirmationError(f"the store has no {variable}")
        times = pd.DatetimeIndex(ds["time"].values)
        if day not in times:
            raise ConfirmationError(f"{day.date()} is outside the store's time axis")
        i, t = sids.index(station_id), times.get_loc(day)
        stored = float(ds[variable].values[i, t])
        units = "m3/s" if variable == "discharge_m3s" else "cm"
        if not np.isfinite(stored):
            raise ConfirmationError(f"{station_id} has no {variable} on {day.date()}")
        if not np.isclose(stored, float(value), rtol=1e-9, atol=0.0):
            raise ConfirmationError(
                f"{station_id} {variable} on {day.date()} is {stored:.6g} {units} in the store, "
                f"not {float(value):.6g}; "
                "confirm the stored value"
            )
        if not int(ds[qc_name(variable)].values[i, t]) & flags.UNCONFIRMED:
            raise ConfirmationError(f"{station_id} {variable} {stored:.6g} {units} on {day.date()} is not held")
        rec = Confirmation(
            station_id,
            variable,
            day.date(),
            stored,
            who,
            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            " ".join(str(note or "").split()),
        )
        append_csv(
            home.confirmations,
            pd.DataFrame([{**rec.__dict__, "date": rec.date.isoformat(), "value": repr(rec.value)}]),
        )
        write_store(home, requalify(ds, home, config))
    return rec
