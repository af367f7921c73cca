"""The `nwp-grid` format: gridded weather forecasts (GRIB2 through ecCodes, or NetCDF) to basin daily values.

What ECMWF's open data (IFS, AIFS) and most centres' models deliver: total precipitation `tp` in metres,
accumulated from the start of the run (step 0), and 2 m temperature `2t` in K, at steps every 3 h (to 144 h) then
every 6 h. Per run (forecast_reference_time, UTC) and basin:

- precipitation is de-accumulated (the increment between consecutive steps; a negative increment, which packing
  noise produces, is set to 0 and counted in a message), each increment is spread uniformly over its interval and
  summed per local day (Asia/Almaty by default); a local day is kept only when the run's steps cover all of it
  (the run's first day starts at its start time, the last ends with its last step: partial days are left out,
  never invented). A missing step only widens one interval (the accumulation keeps the total).
- temperature: daily minimum, maximum and mean of the instantaneous values of the steps on that local day, kept
  when at least 4 steps span at least 18 h of it.
- basin means: the exact area weights of forecasting.sources.gridded (covered fraction x spherical cell area),
  computed once per grid and basin and cached (`WEIGHTS_CACHE`); a station without a polygon takes the nearest
  cell to its coordinates; a basin outside the grid gets no values and a quarantined entry naming it.
The lead of a daily value is its local day minus the run's local day (forecasting.forcing).

Bad input, with messages naming file and field: a file that is not a forecast (analysis, no step or reference
time), unknown units, unknown variables (reported, skipped), a broken step axis (the same step twice with
different fields, negative steps): the run's variable is quarantined, the valid rest kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.basins import Basin, BasinFileError, read_basins
from forecasting.canonical import QuarantinedRow
from forecasting.config import DEFAULTS
from forecasting.forcing import RUN_COLUMNS, ForcingResult, local_day
from forecasting.sources import register
from forecasting.sources.gridded import basin_weights, weighted_mean

GRIB_SUFFIXES = (".grib", ".grib2", ".grb", ".grb2")
NC_SUFFIXES = (".nc", ".nc4", ".netcdf")
PRECIP_NAMES = {"tp": "tp", "precip": "tp", "total_precipitation": "tp"}
TEMP_NAMES = {"2t": "2t", "t2m": "2t", "2m_temperature": "2t"}
PRECIP_UNITS = {"m": 1000.0, "mm": 1.0, "kgm-2": 1.0, "kg/m2": 1.0}
TEMP_UNITS = {"k": -273.15, "kelvin": -273.15, "degc": 0.0, "c": 0.0, "celsius": 0.0}
MIN_T_STEPS = 4
MIN_T_SPAN_H = 18.0
WEIGHTS_CACHE: dict[tuple, object] = {}  # (grid key, basin id) -> BasinWeights


class NotAForecast(ValueError):
    pass


@dataclass
class Field:
    """One 2-D field of a run: variable ('tp' or '2t', as named in the file: `name`), run start (UTC), step (h)."""

    name: str
    var: str
    frt: pd.Timestamp
    step_h: float
    units: str
    values: np.ndarray  # (lat, lon), lat and lon ascending
    lat: np.ndarray
    lon: np.ndarray
    row: int


def _norm(units: str) -> str:
    return str(units).strip().lower().replace("**", "").replace("^", "").replace(" ", "")


def _grid(lat: np.ndarray, lon: np.ndarray, values: np.ndarray):
    """Ascending lat, lon in -180..180 ascending, values reordered to match."""
    lon = ((np.asarray(lon, dtype=float) + 180.0) % 360.0) - 180.0
    lat = np.asarray(lat, dtype=float)
    oi = np.argsort(lat)
    oj = np.argsort(lon, kind="stable")
    return lat[oi], lon[oj], np.asarray(values, dtype=float)[np.ix_(oi, oj)]


def read_grib_fields(path: Path, result: ForcingResult) -> list[Field]:
    """Every tp/2t message of a GRIB file as a Field (ecCodes); other parameters reported, not-forecasts rejected."""
    import eccodes

    fields: list[Field] = []
    unknown: set[str] = set()
    with open(path, "rb") as fh:
        row = 0
        while True:
            try:
                gid = eccodes.codes_grib_new_from_file(fh)
            except eccodes.CodesInternalError as exc:
                result.quarantine.append(QuarantinedRow(str(path), row + 1, None, f"unreadable GRIB message: {exc}"))
                break
            if gid is None:
                break
            row += 1
            try:
                short = str(eccodes.codes_get(gid, "shortName"))
                var = PRECIP_NAMES.get(short) or TEMP_NAMES.get(short)
                if var is None:
                    unknown.add(short)
                    continue
                dtype = str(eccodes.codes_get(gid, "dataType")) if eccodes.codes_is_defined(gid, "dataType") else ""
                if dtype in ("an", "ia", "oi"):
                    raise NotAForecast(f"message {row} ('{short}') is an analysis (dataType {dtype}), not a forecast")
                date = int(eccodes.codes_get(gid, "dataDate"))
                hhmm = int(eccodes.codes_get(gid, "dataTime"))
                frt = pd.Timestamp(f"{date:08d}") + pd.Timedelta(hours=hhmm // 100, minutes=hhmm % 100)
                step = float(eccodes.codes_get(gid, "endStep"))
                units = str(eccodes.codes_get(gid, "units"))
                ni, nj = int(eccodes.codes_get(gid, "Ni")), int(eccodes.codes_get(gid, "Nj"))
                lats = eccodes.codes_get_array(gid, "distinctLatitudes")
                lons = eccodes.codes_get_array(gid, "distinctLongitudes")
                vals = eccodes.codes_get_values(gid).reshape(nj, ni)
                if eccodes.codes_get(gid, "bitmapPresent"):
                    missing = eccodes.codes_get(gid, "missingValue")
                    vals = np.where(vals == missing, np.nan, vals)
                # ecCodes gives distinct latitudes ascending; the message scans them as jScansPositively says
                if not int(eccodes.codes_get(gid, "jScansPositively")):
                    vals = vals[::-1]
                lat, lon, vals = _grid(np.sort(lats), lons, vals)
                fields.append(Field(short, var, frt, step, units, vals, lat, lon, row))
            except NotAForecast as exc:
                result.quarantine.append(QuarantinedRow(str(path), row, None, f"not a forecast: {exc}"))
            except eccodes.CodesInternalError as exc:
                result.quarantine.append(QuarantinedRow(str(path), row, None, f"GRIB message not understood: {exc}"))
            finally:
                eccodes.codes_release(gid)
    if unknown:
        result.messages.append(f"{path}: variables not understood, skipped: {', '.join(sorted(unknown))}")
    return fields


def read_netcdf_fields(path: Path, result: ForcingResult) -> list[Field]:
    """tp/2t of a NetCDF forecast: a forecast_reference_time (scalar or dimension) and a `step` (timedelta) or
    `time`/`valid_time` axis, 1-D latitude/longitude."""
    import xarray as xr

    from forecasting.storage import NETCDF_LOCK

    try:
        with NETCDF_LOCK, xr.open_dataset(path) as ds:
            ds = ds.load()
    except (OSError, ValueError) as exc:
        result.quarantine.append(QuarantinedRow(str(path), None, None, f"not a readable NetCDF file: {exc}"))
        return []
    frt_name = next(
        (
            c
            for c in ("forecast_reference_time", "time")
            if c in ds.coords
            and (c == "forecast_reference_time" or str(ds[c].attrs.get("standard_name")) == "forecast_reference_time")
        ),
        None,
    )
    if frt_name is None:
        result.quarantine.append(
            QuarantinedRow(str(path), None, "forecast_reference_time", "not a forecast: no forecast_reference_time")
        )
        return []
    lat_n = next((c for c in ("latitude", "lat") if c in ds.coords), None)
    lon_n = next((c for c in ("longitude", "lon") if c in ds.coords), None)
    if lat_n is None or lon_n is None:
        result.quarantine.append(QuarantinedRow(str(path), None, None, "no 1-D latitude/longitude coordinates"))
        return []
    fields = []
    unknown = []
    for name in ds.data_vars:
        var = PRECIP_NAMES.get(str(name).lower()) or TEMP_NAMES.get(str(name).lower())
        if var is None:
            unknown.append(str(name))
            continue
        da = ds[name]
        frts = np.atleast_1d(da[frt_name].values) if frt_name in da.coords else np.atleast_1d(ds[frt_name].values)
        step_dim = next((d for d in ("step", "lead_time") if d in da.dims), None)
        valid_dim = next((d for d in ("valid_time", "time") if d in da.dims and d != frt_name), None)
        if step_dim is None and valid_dim is None:
            result.quarantine.append(
                QuarantinedRow(str(path), None, str(name), f"variable '{name}': no step or valid_time axis")
            )
            continue
        for fi, frt in enumerate(frts):
            sub = da.isel({frt_name: fi}) if frt_name in da.dims else da
            axis = step_dim or valid_dim
            if step_dim:
                steps = pd.to_timedelta(sub[step_dim].values).total_seconds() / 3600.0
            else:
                steps = (pd.DatetimeIndex(sub[valid_dim].values) - pd.Timestamp(frt)).total_seconds() / 3600.0
            arr = sub.transpose(axis, lat_n, lon_n).values
            for si, st in enumerate(np.asarray(steps, dtype=float)):
                lat, lon, vals = _grid(ds[lat_n].values, ds[lon_n].values, arr[si])
                fields.append(
                    Field(
                        str(name),
                        var,
                        pd.Timestamp(frt),
                        float(st),
                        str(da.attrs.get("units", "")),
                        vals,
                        lat,
                        lon,
                        si + 1,
                    )
                )
    if unknown:
        result.messages.append(f"{path}: variables not understood, skipped: {', '.join(unknown)}")
    return fields


def _weights(lat: np.ndarray, lon: np.ndarray, basin: Basin):
    key = (lat.size, float(lat[0]), float(lat[-1]), lon.size, float(lon[0]), float(lon[-1]), basin.basin_id)
    w = WEIGHTS_CACHE.get(key)
    if w is None:
        w = basin_weights(lat, lon, basin)
        WEIGHTS_CACHE[key] = w
    return w


def _day_intervals(frt: pd.Timestamp, steps: np.ndarray, time_zone: str):
    """Per step interval (steps[i-1], steps[i]]: its share in each local day: list of (interval i, local day,
    hours). Returns also the local-day coverage in hours."""
    start = pd.Timestamp(frt).tz_localize("UTC").tz_convert(time_zone)
    shares = []
    cover: dict[pd.Timestamp, float] = {}
    for i in range(1, len(steps)):
        a = start + pd.Timedelta(hours=float(steps[i - 1]))
        b = start + pd.Timedelta(hours=float(steps[i]))
        t = a
        while t < b:
            day = t.normalize()
            nxt = min(b, day + pd.Timedelta(days=1))
            hours = (nxt - t).total_seconds() / 3600.0
            d = day.tz_localize(None)
            shares.append((i, d, hours / ((b - a).total_seconds() / 3600.0)))
            cover[d] = cover.get(d, 0.0) + hours
            t = nxt
    return shares, cover


def fields_to_runs(
    fields: list[Field],
    basins: dict[str, Basin],
    points: dict[str, tuple[float, float]],
    source: str,
    src_file: str,
    time_zone: str = DEFAULTS.time_zone,
) -> ForcingResult:
    """Daily basin values of the runs in `fields` (see module docstring)."""
    result = ForcingResult()
    rows = []
    by_run: dict[tuple[pd.Timestamp, str], list[Field]] = {}
    for f in fields:
        by_run.setdefault((f.frt, f.var), []).append(f)
    for (frt, var), fl in sorted(by_run.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        fl = sorted(fl, key=lambda f: f.step_h)
        name = fl[0].name
        steps = np.array([f.step_h for f in fl])
        run = f"run {frt:%Y-%m-%dT%H:%MZ}"
        table = PRECIP_UNITS if var == "tp" else TEMP_UNITS
        if _norm(fl[0].units) not in table:
            result.quarantine.append(
                QuarantinedRow(src_file, fl[0].row, name, f"{run}: '{name}' has unknown units '{fl[0].units}'")
            )
            continue
        if (steps < 0).any() or len(np.unique(steps)) < len(steps):
            dups = np.unique(steps[np.r_[False, np.diff(steps) == 0]])
            same = all(
                np.allclose(a.values, b.values, equal_nan=True)
                for a, b in zip(fl[:-1], fl[1:], strict=True)
                if a.step_h == b.step_h
            )
            if (steps < 0).any() or not same:
                result.quarantine.append(
                    QuarantinedRow(
                        src_file,
                        fl[0].row,
                        name,
                        f"{run}: broken step axis for '{name}' (negative or repeated steps with different fields: "
                        f"{', '.join(f'{s:g} h' for s in dups) or 'negative'}); run not used",
                    )
                )
                continue
            keep = np.r_[True, np.diff(steps) != 0]
            fl = [f for f, k in zip(fl, keep, strict=True) if k]
            steps = steps[keep]
        if len({(f.lat.size, f.lon.size) for f in fl}) != 1:
            result.quarantine.append(QuarantinedRow(src_file, fl[0].row, name, f"{run}: grids differ between steps"))
            continue
        scale = table[_norm(fl[0].units)]
        cube = np.stack([f.values for f in fl])  # steps x lat x lon
        cube = cube * scale if var == "tp" else cube + scale
        lat, lon = fl[0].lat, fl[0].lon
        series: dict[str, np.ndarray] = {}
        for bid, basin in basins.items():
            bw = _weights(lat, lon, basin)
            if bw.covered_km2 <= 0:
                result.quarantine.append(
                    QuarantinedRow(
                        src_file,
                        None,
                        bid,
                        f"basin '{bid}' (bounds {tuple(round(b, 2) for b in basin.geometry.bounds)}) lies outside "
                        f"the grid (lat {lat.min():g}..{lat.max():g}, lon {lon.min():g}..{lon.max():g}); no values",
                    )
                )
                continue
            if bw.polygon_km2 > 0 and bw.covered_km2 / bw.polygon_km2 < 0.98:
                result.messages.append(
                    f"{src_file}: basin '{bid}' is only {100 * bw.covered_km2 / bw.polygon_km2:.0f}% inside the grid"
                )
            window = cube[:, bw.lat_index[0] : bw.lat_index[-1] + 1, bw.lon_index[0] : bw.lon_index[-1] + 1]
            series[bid], _ = weighted_mean(window, bw.weights)
        for sid, (plat, plon) in points.items():
            if sid in basins:
                continue
            if not (lat.min() - 0.5 * abs(lat[1] - lat[0]) <= plat <= lat.max() + 0.5 * abs(lat[1] - lat[0])) or not (
                lon.min() - 0.5 * abs(lon[1] - lon[0]) <= plon <= lon.max() + 0.5 * abs(lon[1] - lon[0])
            ):
                continue  # a station outside this grid: nothing invented
            i, j = int(np.abs(lat - plat).argmin()), int(np.abs(lon - plon).argmin())
            series[sid] = cube[:, i, j]
        run_day = local_day(frt, time_zone)
        if var == "tp":
            if steps[0] != 0:
                result.messages.append(
                    f"{src_file}: {run}: 'tp' does not start at step 0; accumulated from {steps[0]:g} h"
                )
            shares, cover = _day_intervals(frt, steps, time_zone)
            full_days = [d for d, h in cover.items() if h >= 24.0 - 1e-6]
            partial = sorted(d for d, h in cover.items() if h < 24.0 - 1e-6)
            if partial:
                result.messages.append(
                    f"{src_file}: {run}: local days {', '.join(str(d.date()) for d in partial)} only partly covered "
                    "by the run's steps: no daily precipitation for them"
                )
            for sid, s in series.items():
                inc = np.diff(s)
                neg = inc < 0
                if neg.any():
                    result.messages.append(
                        f"{src_file}: {run}: '{name}' of {sid}: {int(neg.sum())} negative accumulation differences "
                        f"(min {inc[neg].min():.3g} mm) set to 0"
                    )
                inc = np.clip(inc, 0.0, None)
                daily: dict[pd.Timestamp, float] = {}
                for i, d, share in shares:
                    daily[d] = daily.get(d, 0.0) + inc[i - 1] * share
                for d in full_days:
                    if np.isfinite(daily.get(d, np.nan)):
                        rows.append((sid, frt, (d - run_day).days, "precip_mm", daily[d], fl[0].row))
        else:
            start = pd.Timestamp(frt).tz_localize("UTC").tz_convert(time_zone)
            local = pd.DatetimeIndex([start + pd.Timedelta(hours=float(h)) for h in steps]).tz_localize(None)
            days = local.normalize()
            for sid, s in series.items():
                frame = pd.DataFrame({"v": s, "t": local, "d": days})
                for d, g in frame.groupby("d"):
                    g = g.dropna()
                    span = (g["t"].max() - g["t"].min()).total_seconds() / 3600.0 if len(g) else 0.0
                    if len(g) < MIN_T_STEPS or span < MIN_T_SPAN_H:
                        continue
                    lead = (pd.Timestamp(d) - run_day).days
                    for v, val in (("tmin_c", g["v"].min()), ("tmax_c", g["v"].max()), ("tmean_c", g["v"].mean())):
                        rows.append((sid, frt, lead, v, float(val), fl[0].row))
    if rows:
        runs = pd.DataFrame(rows, columns=["station_id", "forecast_reference_time", "lead", "variable", "value", "row"])
        runs["source"] = source
        runs["source_file"] = src_file
        result.runs = runs[RUN_COLUMNS]
    return result


def read_nwp_grid(
    path: Path,
    basins: dict[str, Basin],
    points: dict[str, tuple[float, float]] | None = None,
    source: str | None = None,
    time_zone: str = DEFAULTS.time_zone,
) -> ForcingResult:
    """One GRIB2 or NetCDF forecast file to daily basin (and point) values (see module docstring)."""
    path = Path(path)
    result = ForcingResult()
    reader = read_netcdf_fields if path.suffix.lower() in NC_SUFFIXES else read_grib_fields
    fields = reader(path, result)
    if not fields and not result.quarantine:
        result.quarantine.append(QuarantinedRow(str(path), None, None, "no forecast fields of tp or 2t in the file"))
    name = source or (path.stem.split("_", 1)[0] if "_" in path.stem else "ecmwf-ifs")
    result.extend(fields_to_runs(fields, basins, points or {}, name, str(path), time_zone))
    return result


def read_nwp_grid_source(
    path: Path,
    basins_dir: Path | None,
    points: dict[str, tuple[float, float]] | None = None,
    time_zone: str = DEFAULTS.time_zone,
) -> ForcingResult:
    """A grid file or a folder of them, averaged over the polygons of `basins_dir` (*.geojson)."""
    path = Path(path)
    result = ForcingResult()
    basins: dict[str, Basin] = {}
    if basins_dir is not None and Path(basins_dir).exists():
        try:
            basins = read_basins(Path(basins_dir))
        except BasinFileError as exc:
            result.quarantine.append(QuarantinedRow(str(basins_dir), None, None, str(exc)))
    files: Iterable[Path] = (
        sorted(p for p in path.iterdir() if p.suffix.lower() in GRIB_SUFFIXES + NC_SUFFIXES)
        if path.is_dir()
        else [path]
    )
    for f in files:
        result.extend(read_nwp_grid(f, basins, points, None, time_zone))
    if not basins and not points:
        result.quarantine.append(
            QuarantinedRow(str(path), None, None, "no basin polygons (<home>/basins/*.geojson) nor station points")
        )
    return result


@register
class NwpGrid:
    name = "nwp-grid"
    kind = "forcing"  # goes to the forcing store
    description = "gridded NWP forecasts (GRIB2 via ecCodes, NetCDF): tp, 2t -> daily basin means per local day"

    def detect(self, path: Path) -> bool:
        path = Path(path)
        files = list(path.iterdir()) if path.is_dir() else [path]
        return any(f.suffix.lower() in GRIB_SUFFIXES for f in files)

    def read(self, path: Path) -> ForcingResult:
        basins = path.parent / "basins" if path.is_file() else path / "basins"
        return read_nwp_grid_source(path, basins if basins.exists() else None)
