"""Reading and writing the store on disk: atomic NetCDF writes, the revision log, quarantine files.

This is the one module of `forecasting` that touches files of the home directory.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


class StoreWriteError(OSError):
    """A file of the home could not be written (disk full, quota, I/O or HDF error); the message names the file."""


class StoreCorrupt(ValueError):
    """The observation store (or one of its generations) cannot be read: truncated or damaged."""


def _write_error(path: Path, exc: BaseException, needed: float = 0.0) -> StoreWriteError:
    """A clear error for a failed write of `path`: 'no space left on device' when the disk is full (ENOSPC, EDQUOT,
    or any error while less than max(64 MB, `needed` bytes) is free: HDF5 reports a full disk as 'HDF error' or
    even 'Permission denied'), else the error with the file named."""
    folder = Path(path).parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = -1
    free_txt = f"{free / 1e6:.1f} MB free on {folder}" if free >= 0 else f"free space of {folder} unknown"
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT) or 0 <= free < max(64e6, needed):
        return StoreWriteError(
            errno.ENOSPC,
            f"no space left on device: could not write {path} ({free_txt}); free some space and run again "
            "(the previous file is unchanged)",
        )
    return StoreWriteError(
        code or errno.EIO,
        f"could not write {path}: {type(exc).__name__}: {exc} ({free_txt}); the previous file is unchanged",
    )


def clean_stale_temporaries(folder: Path, max_age_s: float = 3600.0) -> list[Path]:
    """Remove `*.tmp` files (and folders) older than `max_age_s` in `folder`: left by a run killed while writing.
    Younger ones may belong to a write in progress and are kept. Returns what was removed."""
    removed = []
    now = time.time()
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        if not p.name.endswith(".tmp"):
            continue
        try:
            if now - p.lstat().st_mtime < max_age_s:
                continue
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            removed.append(p)
        except OSError:
            continue
    return removed


def write_netcdf_atomic(ds: xr.Dataset, path: Path, compress: bool = True) -> Path:
    """Write `ds` to `path` atomically: a temporary file in the same folder, fsync, then rename.

    A failed write (disk full: ENOSPC or netCDF's 'HDF error') raises StoreWriteError naming the file; the old file
    is left as it was and the temporary file removed."""
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
    try:
        with NETCDF_LOCK, atomic_target(path) as tmp:
            ds.to_netcdf(tmp, engine=NETCDF_ENGINE, encoding=encoding)
    except StoreWriteError:
        raise
    except (OSError, RuntimeError) as exc:
        raise _write_error(path, exc, float(ds.nbytes)) from exc
    return path


STORE_GENERATIONS = 3  # previous stores kept as observations.nc.1 (newest) .. .3


def generation_path(home: Home, generation: int) -> Path:
    """`store/observations.nc` for generation 0, `store/observations.nc.<k>` for the k-th previous one."""
    return home.observations if generation == 0 else home.observations.with_name(f"observations.nc.{int(generation)}")


def write_store(home: Home, ds: xr.Dataset, generations: int = STORE_GENERATIONS) -> Path:
    """Write the observation store of `home`, keeping the previous `generations` stores (observations.nc.1 the
    newest of them). The caller holds the home's store lock (forecasting.locks). Stale `*.tmp` files (older than an
    hour) of the store folder are removed first.

    The new store is written to a temporary file and fsynced before anything moves; then the generations shift
    (.2 -> .3, .1 -> .2), the current store is hard-linked as .1 and the new file renamed over it, so a reader sees
    the old or the new store, never a partial one, and a write that fails (StoreWriteError, e.g. no space left)
    changes nothing."""
    path = home.observations
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write_netcdf_atomic(ds, tmp)
        if path.exists() and generations > 0:
            for k in range(generations - 1, 0, -1):
                older = generation_path(home, k)
                if older.exists():
                    os.replace(older, generation_path(home, k + 1))
            first = generation_path(home, 1)
            if first.exists():
                first.unlink()
            try:
                os.link(path, first)
            except OSError:
                shutil.copy2(path, first)
        os.replace(tmp, path)
    except StoreWriteError as exc:
        raise _write_error(path, exc.__cause__ or exc) from exc  # name the store, not the temporary file
    except OSError as exc:
        raise _write_error(path, exc) from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


@dataclass
class StoreFile:
    """What `check_store` found in one file of the store (generation 0 = the current store)."""

    generation: int
    path: Path
    ok: bool
    message: str
    stations: int = 0
    first_day: str = ""
    last_day: str = ""
    values: int = 0
    size_bytes: int = 0
    modified: str = ""


def _describe_store_file(home: Home, generation: int) -> StoreFile | None:
    path = generation_path(home, generation)
    if not path.exists():
        return None
    st = path.stat()
    info = StoreFile(
        generation,
        path,
        False,
        "",
        size_bytes=st.st_size,
        modified=datetime.fromtimestamp(st.st_mtime, UTC).isoformat(timespec="seconds"),
    )
    try:
        ds = read_netcdf(path)
    except Exception as exc:  # noqa: BLE001 - any failure to read is what this check reports
        info.message = f"cannot be read (truncated or damaged): {type(exc).__name__}: {exc}"
        return info
    if "station" not in ds.dims or "time" not in ds.dims:
        info.message = "not an observation store (no station and time dimensions)"
        return info
    info.ok = True
    info.stations = int(ds.sizes["station"])
    if ds.sizes["time"]:
        info.first_day = str(pd.Timestamp(ds["time"].values[0]).date())
        info.last_day = str(pd.Timestamp(ds["time"].values[-1]).date())
    info.values = int(sum(int(np.isfinite(ds[v].values).sum()) for v in ds.data_vars if ds[v].dtype.kind == "f"))
    info.message = f"{info.stations} stations, {info.first_day}..{info.last_day}, {info.values} values"
    return info


def check_store(home: Home, generations: int = STORE_GENERATIONS) -> list[StoreFile]:
    """Read the current store and each kept generation fully; one StoreFile each (missing files left out)."""
    found = [_describe_store_file(home, k) for k in range(0, generations + 1)]
    return [f for f in found if f is not None]


def restore_store(home: Home, generation: int) -> Path:
    """Make generation `generation` (1 = the store before the last write) the current store, under the store lock.

    The generation is read fully first (StoreCorrupt if it cannot be); the current store, readable or not, is kept
    as `observations.nc.replaced-<UTC time>` so that nothing is lost. Returns the store path."""
    from forecasting.locks import STORE, home_lock

    if int(generation) < 1:
        raise ValueError("generation must be 1 (the previous store) or older")
    src = generation_path(home, generation)
    with home_lock(home, STORE):
        if not src.exists():
            kept = [f.generation for f in check_store(home) if f.generation > 0]
            raise FileNotFoundError(f"no store generation {generation} ({src}); kept: {kept or 'none'}")
        info = _describe_store_file(home, generation)
        if info is None or not info.ok:
            raise StoreCorrupt(f"{src}: {info.message if info else 'missing'}; choose another generation")
        path = home.observations
        if path.exists():
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            os.replace(path, path.with_name(f"observations.nc.replaced-{stamp}"))
        try:
            with atomic_target(path) as tmp:
                shutil.copy2(src, tmp)
        except OSError as exc:
            raise _write_error(path, exc) from exc
    return path


def read_netcdf(path: Path) -> xr.Dataset:
    """Load a NetCDF file fully into memory and close it (so it can be replaced on disk afterwards)."""
    with NETCDF_LOCK, xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
        ds = ds.load()
    for name in list(ds.variables):
        if ds[name].dtype == object:
            ds[name] = ds[name].fillna("")  # netCDF empty strings come back as NaN sometimes
    return ds


def open_store(path: Path) -> xr.Dataset | None:
    """The stored observation dataset, or None if nothing was ingested yet.

    Raises StoreCorrupt (a message saying what to do, not an HDF traceback) if the file cannot be read."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return read_netcdf(path)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise store_corrupt(path, exc) from exc


def store_corrupt(path: Path, exc: BaseException) -> StoreCorrupt:
    """The error for a store file that cannot be read: what happened and what to do."""
    return StoreCorrupt(
        f"the observation store {path} cannot be read ({type(exc).__name__}: {exc}); it may be truncated or "
        "damaged: 'tasqyn store check' lists the kept generations, 'tasqyn store restore 1' restores the "
        "previous one"
    )


def open_store_lazy(path: Path) -> xr.Dataset:
    """The store opened without reading its arrays (xarray, lazily indexed): for `store_part` calls that read the
    stations each task needs. The caller closes it. Raises StoreCorrupt as `open_store` does."""
    try:
        with NETCDF_LOCK:
            return xr.open_dataset(path, engine=NETCDF_ENGINE)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise store_corrupt(path, exc) from exc


def store_part(
    ds: xr.Dataset,
    stations: list[str] | None = None,
    variables: list[str] | None = None,
    provenance: bool = False,
) -> xr.Dataset:
    """What a task needs of the store, loaded into memory: the `stations` (in that order; default all), the canonical
    `variables` (default all) with their QC flags (`<var>_qc`), their provenance (`<var>_src`, `<var>_row`,
    `source_file` and the level symbols) only with `provenance`, and the station metadata coordinates.

    `ds` is the store opened by `open_store_lazy` (only the selected chunks are read: the store is chunked one
    station per chunk) or an open_store dataset. The values are those of `open_store(path).sel(station=stations)`.
    Raises KeyError naming the stations the store does not have."""
    from forecasting.store import SYMBOL_VAR, row_name, src_name
    from forecasting.variables import VARIABLES, qc_name

    keep: list[str] = []
    for var in VARIABLES:
        if var not in ds.data_vars or (variables is not None and var not in variables):
            continue
        keep += [var, qc_name(var)]
        if provenance:
            keep += [src_name(var), row_name(var)]
    keep = [k for k in keep if k in ds.variables]
    if provenance:
        keep += [k for k in (SYMBOL_VAR, "source_file") if k in ds.variables]
    keep += [c for c in ds.coords if set(ds[c].dims) <= {"station", "time"} and c not in keep]  # metadata, time
    part = ds[keep]
    if stations is not None:
        index = pd.Index(ds["station"].values.astype(str))
        pos = index.get_indexer([str(s) for s in stations])
        if (pos < 0).any():
            unknown = [str(s) for s, i in zip(stations, pos, strict=True) if i < 0]
            raise KeyError(f"station(s) {', '.join(unknown[:10])} not in the observation store")
        part = part.isel(station=pos)
    with NETCDF_LOCK:
        part = part.load()
    for name in list(part.variables):
        if part[name].dtype == object:
            part[name] = part[name].fillna("")
    return part


def read_store_part(
    path: Path,
    stations: list[str] | None = None,
    variables: list[str] | None = None,
    provenance: bool = False,
) -> xr.Dataset | None:
    """`store_part` of the store file at `path` (opened and closed here); None if nothing was ingested yet."""
    path = Path(path)
    if not path.exists():
        return None
    ds = open_store_lazy(path)
    try:
        return store_part(ds, stations, variables, provenance)
    except (OSError, RuntimeError) as exc:
        raise store_corrupt(path, exc) from exc
    finally:
        with NETCDF_LOCK:
            ds.close()


def read_station_metadata(path: Path) -> xr.Dataset | None:
    """The store's stations and their metadata coordinates, with no observations (forecasting.store.station_table
    reads it like the whole store); None if nothing was ingested yet."""
    return read_store_part(path, variables=[])


SNAPSHOT_MARK = ".tmp-snapshot-"  # a dot file with '.tmp' in its name: left out of backups, never a store generation
SNAPSHOT_MAX_AGE_S = 86400.0


@contextmanager
def store_snapshot(home: Home) -> Iterator[Path | None]:
    """A hard link to the current store, kept for the block: the processes of one run (the daily forecast's
    workers) read the same store even if an ingest replaces it meanwhile. Yields its path (None without a store);
    removed afterwards. Snapshots left by a killed run are removed after a day by the next one."""
    path = home.observations
    if not path.exists():
        yield None
        return
    now = time.time()
    for old in path.parent.glob(f".{path.name}{SNAPSHOT_MARK}*"):
        try:
            born = float(old.name.rsplit(SNAPSHOT_MARK, 1)[1].split("-")[0])
        except ValueError:
            continue
        if now - born > SNAPSHOT_MAX_AGE_S:
            old.unlink(missing_ok=True)
    snap = path.with_name(f".{path.name}{SNAPSHOT_MARK}{now:.0f}-{os.getpid()}-{os.urandom(3).hex()}")
    try:
        os.link(path, snap)
    except OSError:  # no hard links here (some network file systems): read the store itself
        yield path
        return
    try:
        yield snap
    finally:
        snap.unlink(missing_ok=True)


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
    """Write quarantined rows to `<folder>/<UTC time>_<source name>.csv`; returns the path (None if no rows).
    Text that a spreadsheet would run as a formula gets a leading ' (forecasting.spreadsheet)."""
    from forecasting.spreadsheet import safe_cell

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
        for r in rows:  # opened in spreadsheets: raw lines of hostile files must not run as formulas
            cells = [r.file, "" if r.line is None else r.line, r.field or "", r.reason, r.raw]
            w.writerow([safe_cell(c) for c in cells])
    return path
