"""Reading and writing the store on disk: atomic NetCDF writes, the revision log, quarantine files.

This is the one module of `forecasting` that touches files of the home directory.
"""

from __future__ import annotations

import csv
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from forecasting.sources.base import QuarantinedRow

NETCDF_ENGINE = "netcdf4"


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        ds.to_netcdf(tmp, engine=NETCDF_ENGINE, encoding=encoding)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_netcdf(path: Path) -> xr.Dataset:
    """Load a NetCDF file fully into memory and close it (so it can be replaced on disk afterwards)."""
    with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
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
    """One station's variables read lazily from the store file (fast: only that station's chunks)."""
    with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
        return ds.sel(station=station_id).load()


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
    name = Path(source).name or "source"
    path = folder / f"{stamp}_{name}.quarantine.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "line", "field", "reason", "raw"])
        for r in rows:
            w.writerow([r.file, "" if r.line is None else r.line, r.field or "", r.reason, r.raw])
    return path
