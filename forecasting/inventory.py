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
