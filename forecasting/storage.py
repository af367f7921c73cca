"""Reading and writing the store on disk: atomic NetCDF writes, the revision log, quarantine files.

This is the one module of `forecasting` that touches files of the home directory.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from forecasting.canonical import QuarantinedRow
from forecasting.home import Home
from forecasting.ids import safe_filename, safe_join

NETCDF_ENGINE = "netcdf4"

# The HDF5 library under netCDF4 is not thread-safe, and xarray's own locks do not cover every call (opening,
# closing, netCDF4 used directly): two threads of one process reading the store at once can crash the process
# (a segfault seen when two Prefect training tasks opened the store together). Every NetCDF read and write of
# the project, here and in the service, holds this one lock; reads are short, so serialising them costs little.
NETCDF_LOCK = threading.RLock()


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it over `path`, else remove it.

    Readers see either the old file or the complete new one, never a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_netcdf_atomic(ds: xr.Dataset, path: Path, compress: bool = True) -> Path:
    """Write `ds` to `path` atomically: a temporary file in the same folder, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    encoding = {}
    for name, var in ds.variables.items():
        enc: dict[str, object] = {}
        if var.dtype.kind in "fiu" and var.ndim >= 1 and compress and name not in ds.dims:
            enc.update({"zlib": True, "complevel": 1})
            if var.dims and var.dims[0] == "station" and var.ndim == 2:
                enc["chunksizes"] = (1, max(1, var.shape[1]))
        if var.dtype.kind == "f":
            enc["_FillValue"] = np.nan
        elif name not in ds.dims and var.dtype.kind in "iu":
            enc["_FillValue"] = None
        if var.dtype == object:
            enc["dtype"] = str
        if enc:
            encoding[name] = enc
    if "time" in ds.variables:
        encoding["time"] = {"units": "days since 1900-01-01", "calendar": "proleptic_gregorian", "dtype": "int32"}
    with NETCDF_LOCK, atomic_target(path) as tmp:
        ds.to_netcdf(tmp, engine=NETCDF_ENGINE, encoding=encoding)
    return path


def write_store(home: Home, ds: xr.Dataset) -> Path:
    """Write the observation store of `home` (the caller holds the home's store lock, forecasting.locks)."""
    return write_netcdf_atomic(ds, home.observations)


def read_netcdf(path: Path) -> xr.Dataset:
    """Load a NetCDF file fully into memory and close it (so it can be replaced on disk afterwards)."""
    with NETCDF_LOCK, xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
        ds = ds.load()
    for name in list(ds.variables):
        if ds[name].dtype == object:
            ds[name] = ds[name].fillna("")  # netCDF empty strings come back as NaN sometimes
    return ds


def open_store(path: Path) -> xr.Dataset | None:
    """The stored observation dataset, or None if nothing was ingested yet."""
    path = Path(path)
    return read_netcdf(path) if path.exists() else None


def read_station(path: Path, station_id: str) -> xr.Dataset:
    """One station's variables (and flags, provenance) over the store's whole time axis, its metadata as scalar
    coordinates: what `open_store(path).sel(station=station_id)` gives, without reading the other stations.

    The store is chunked one station per chunk; this reads that station's chunk of each variable with netCDF4
    directly (a few ms; opening the file with xarray costs far more than the read). Raises KeyError for an
    unknown station.
    """
    import netCDF4

    with NETCDF_LOCK, netCDF4.Dataset(path) as nc:
        nc.set_auto_maskandscale(False)
        ids = [str(s) for s in nc.variables["station"][:]]
        if station_id not in ids:
            raise KeyError(f"station '{station_id}' is not in {path}")
        i = ids.index(station_id)
        tvar = nc.variables["time"]
        unit, _, ref = str(tvar.getncattr("units")).partition(" since ")
        if unit != "days":  # not written by write_netcdf_atomic: let xarray decode it
            with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
                return ds.sel(station=station_id).load()
        time = pd.Timestamp(ref).to_datetime64().astype("datetime64[ns]") + tvar[:].astype("timedelta64[D]")
        skip = {"_FillValue", "coordinates", "units", "calendar"}
        coords: dict[str, tuple] = {
            "time": (
                "time",
                time.astype("datetime64[ns]"),
                {k: tvar.getncattr(k) for k in tvar.ncattrs() if k not in skip},
            )
        }
        data_vars: dict[str, tuple] = {}
        for name, var in nc.variables.items():
            if name == "time":
                continue
            attrs = {k: var.getncattr(k) for k in var.ncattrs() if k not in {"_FillValue", "coordinates"}}
            if var.dimensions == ("station", "time"):
                values = var[i, :]
                if values.dtype == object:
                    values = np.array(["" if v is None else v for v in values], dtype=object)
                data_vars[name] = (("time",), values, attrs)
            elif var.dimensions == ("station",):
                coords[name] = ((), var[i], attrs)
            else:
                coords[name] = (var.dimensions, var[:], attrs)
        return xr.Dataset(data_vars, coords=coords, attrs={k: nc.getncattr(k) for k in nc.ncattrs()})


def json_safe(o: object) -> object:
    """A structure made strict-JSON-ready, recursively: NaN/inf -> None, numpy scalars -> Python numbers,
    timestamps -> YYYY-MM-DD, keys -> str."""
    if isinstance(o, dict):
        return {str(k): json_safe(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [json_safe(v) for v in o]
    if isinstance(o, pd.Timestamp):
        return str(o.date())
    if isinstance(o, float) and not np.isfinite(o):
        return None
    if hasattr(o, "item") and not isinstance(o, str):  # numpy scalars
        return json_safe(o.item())
    return o


def write_json_atomic(doc: object, path: Path) -> Path:
    """Write `doc` (made JSON-safe) to `path` atomically (temporary file in the same folder, fsync, rename)."""
    with atomic_target(Path(path)) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(json_safe(doc), fh, ensure_ascii=False, indent=1, allow_nan=False)
    return Path(path)


def append_csv(path: Path, frame: pd.DataFrame) -> None:
    """Append rows to a CSV log, writing the header when the file is new."""
    if frame.empty:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    frame.to_csv(path, mode="a", header=new, index=False)


def write_quarantine(folder: Path, source: str, rows: list[QuarantinedRow]) -> Path | None:
    """Write quarantined rows to `<folder>/<UTC time>_<source name>.csv`; returns the path (None if no rows)."""
    if not rows:
        return None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = safe_filename(Path(str(source).replace("\x00", "")).name)
    path = safe_join(folder, f"{stamp}_{name}.quarantine.csv")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "line", "field", "reason", "raw"])
        for r in rows:
            w.writerow([r.file, "" if r.line is None else r.line, r.field or "", r.reason, r.raw])
    return path
