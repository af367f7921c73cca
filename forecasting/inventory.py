"""What the store holds, per station: period, variables, completeness and QC flag counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from forecasting import flags
from forecasting.store import data_variables, station_table
from forecasting.variables import qc_name


def station_inventory(ds: xr.Dataset) -> pd.DataFrame:
    """One row per station and variable present: first/last date, days, completeness (%) and flagged count.

    Completeness is the share of days between the station's first and last observation (any variable) that hold
    a value of this variable.
    """
    time = pd.DatetimeIndex(ds["time"].values)
    meta = station_table(ds)
    rows = []
    for i, sid in enumerate(ds["station"].values.astype(str)):
        present_any = np.zeros(len(time), dtype=bool)
        for var in data_variables(ds):
            present_any |= ~np.isnan(ds[var].values[i])
        if not present_any.any():
            continue
        first, last = np.flatnonzero(present_any)[[0, -1]]
        span = last - first + 1
        for var in data_variables(ds):
            vals = ds[var].values[i]
            has = ~np.isnan(vals)
            if not has.any():
                continue
            q = ds[qc_name(var)].values[i]
            f, la = np.flatnonzero(has)[[0, -1]]
            rows.append(
                {
                    "station_id": sid,
                    "name": meta.loc[sid, "name"],
                    "basin": meta.loc[sid, "basin"],
                    "variable": var,
                    "start": time[f].date(),
                    "end": time[la].date(),
                    "n_days": int(has.sum()),
                    "completeness_pct": round(100.0 * has[first : last + 1].sum() / span, 1),
                    "flagged": int(((q & flags.BAD) != 0)[has].sum()),
                    **{name: int(((q & bit) != 0)[has].sum()) for name, bit in flags.FLAG_BITS.items()},
                }
            )
    return pd.DataFrame(rows)


def missing_metadata(ds: xr.Dataset) -> dict[str, list[str]]:
    """Per station, the metadata fields that are missing (of name, lat, lon, area_km2)."""
    meta = station_table(ds)
    out = {}
    for sid, row in meta.iterrows():
        miss = [f for f in ("name", "lat", "lon", "area_km2") if f in row and (row[f] == "" or pd.isna(row[f]))]
        if miss:
            out[str(sid)] = miss
    return out


# What a station needs for forecasting, for the "missing" column: a target and the weather that drives it.
CORE_VARIABLES: dict[str, tuple[str, ...]] = {
    "discharge": ("discharge_m3s",),
    "precip": ("precip_mm",),
    "temperature": ("tmin_c", "tmax_c", "tmean_c"),
}
REPORTED_FLAGS: tuple[str, ...] = ("impossible", "rate", "flatline", "spike", "repeated", "duplicate", "revised")


# Compact codes of the variables for one-line listings (hydrological usage: Q discharge, H stage, P precipitation).
CODES: dict[str, str] = {
    "discharge_m3s": "Q",
    "water_level_cm": "H",
    "precip_mm": "P",
    "tmin_c": "Tmin",
    "tmax_c": "Tmax",
    "tmean_c": "Tmean",
    "swe_mm": "SWE",
    "snow_depth_cm": "HS",
}


def short_name(var: str) -> str:
    """A variable's name without its unit suffix (discharge_m3s -> discharge)."""
    for suffix in ("_m3s", "_cm", "_mm", "_c"):
        if var.endswith(suffix):
            return var[: -len(suffix)]
    return var


def station_summary(ds: xr.Dataset, inventory: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per station with data: station_id, name, start, end (any variable), variables (CODES, e.g. "Q P Tmean"),
    completeness_pct (of the discharge record, else the level, over the station's period), flagged (values excluded
    by QC, all variables), flags (e.g. "repeated 801, spike 8"), missing (core variables and metadata absent).
    """
    inv = station_inventory(ds) if inventory is None else inventory
    missing_meta = missing_metadata(ds)
    cols = ["station_id", "name", "start", "end", "variables", "completeness_pct", "flagged", "flags", "missing"]
    rows = []
    if inv.empty:
        return pd.DataFrame(columns=cols)
    for sid, grp in inv.groupby("station_id", sort=True):
        present = list(grp["variable"])
        target = next((v for v in ("discharge_m3s", "water_level_cm") if v in present), present[0])
        counts = {f: int(grp[f].sum()) for f in REPORTED_FLAGS}
        missing = [name for name, alts in CORE_VARIABLES.items() if not any(v in present for v in alts)]
        missing += missing_meta.get(str(sid), [])
        rows.append(
            {
                "station_id": sid,
                "name": grp["name"].iloc[0],
                "start": grp["start"].min(),
                "end": grp["end"].max(),
                "variables": " ".join(CODES.get(v, v) for v in present),
                "completeness_pct": float(grp.loc[grp["variable"] == target, "completeness_pct"].iloc[0]),
                "flagged": int(grp["flagged"].sum()),
                "flags": ", ".join(f"{f} {n}" for f, n in counts.items() if n),
                "missing": ", ".join(missing),
            }
        )
    return pd.DataFrame(rows, columns=cols)
