"""Gridded CF NetCDF fields (e.g. ERA5-Land) averaged over basin polygons (GeoJSON) into basin series.

`basin_means(grid_path, geojson_path)` is the entry point; the registered adapter `gridded` does the same for a
NetCDF file (or a folder of them) with the polygons found beside it (`*.geojson` in the same folder or in a
`basins/` folder next to it).

Method
- Grid: 1-D latitude/longitude coordinates (found by name or CF standard_name). Longitudes 0..360 are wrapped to
  -180..180 and both axes sorted ascending, so grids ordered north to south or east-first work the same. Cell
  edges are the midpoints between neighbouring centres (half a spacing beyond the outermost centres), latitude
  clipped to +-90.
- Weights: each cell's weight is (covered fraction of the cell) x (exact spherical cell area,
  R^2 * dlon * (sin lat_north - sin lat_south)). The covered fraction is the exact area of the cell box
  intersected with the polygon over the box area, computed with shapely (`method="exact"`, default, any grid),
  or regionmask's `mask_3D_frac_approx` (`method="regionmask"`, equally spaced grids, fractions to 1/100).
  A basin smaller than one cell gets the value of the cell(s) it lies in, weighted by its share of each.
- Missing values: per time step, cells with NaN are left out of the weights; a step whose valid cells cover less
  than `min_coverage` (default 0.5) of the basin's weight is NaN (counted in a message).
- Units: converted to the canonical ones with the CF `units` attribute (m of water -> mm, K -> degC,
  kg m-2 -> mm, kg m-2 s-1 -> mm/day, m -> cm for snow depth). A variable without units is rejected with a message.
- Time: the local day of each time stamp (dates taken as given, normalised to the day); several steps on one day
  are averaged (states, temperature) or summed (precipitation), with a message.

Output: an AdapterResult with one series per basin (station_id = basin id), `source_row` = the 1-based index of
the time step in the file.
"""

from __future__ import annotations

import datetime as dt
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
import xarray as xr

from forecasting.basins import Basin, BasinFileError, geodesic_area_km2, read_basins
from forecasting.canonical import AdapterResult, QuarantinedRow, empty_stations
from forecasting.ids import ID_RULE, id_problem
from forecasting.sources import register
from forecasting.validate import date_problem, date_window

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG), km

# Grid variable name -> canonical variable.
NAME_MAP: dict[str, str] = {
    "sd": "swe_mm",
    "swe": "swe_mm",
    "snw": "swe_mm",
    "sde": "snow_depth_cm",
    "snd": "snow_depth_cm",
    "snow_depth": "snow_depth_cm",
    "t2m": "tmean_c",
    "tas": "tmean_c",
    "tg": "tmean_c",
    "mx2t": "tmax_c",
    "tasmax": "tmax_c",
    "tx": "tmax_c",
    "mn2t": "tmin_c",
    "tasmin": "tmin_c",
    "tn": "tmin_c",
    "tp": "precip_mm",
    "pr": "precip_mm",
    "rr": "precip_mm",
}
# CF standard_name -> canonical variable (used when the variable name is not in NAME_MAP).
STANDARD_NAME_MAP: dict[str, str] = {
    "lwe_thickness_of_surface_snow_amount": "swe_mm",
    "surface_snow_amount": "swe_mm",
    "surface_snow_thickness": "snow_depth_cm",
    "thickness_of_snowfall_amount": "snow_depth_cm",
    "air_temperature": "tmean_c",
    "precipitation_amount": "precip_mm",
    "lwe_thickness_of_precipitation_amount": "precip_mm",
    "precipitation_flux": "precip_mm",
}
# (canonical variable kind, normalised units) -> (scale, offset): canonical = value * scale + offset.
_WATER = {  # lwe thickness or mass per area -> mm
    "m": (1000.0, 0.0),
    "mofwaterequivalent": (1000.0, 0.0),
    "mwe": (1000.0, 0.0),
    "mm": (1.0, 0.0),
    "cm": (10.0, 0.0),
    "kgm-2": (1.0, 0.0),
    "kg/m2": (1.0, 0.0),
    "kgm-2s-1": (86400.0, 0.0),  # flux: daily mean rate -> mm/day
    "mms-1": (86400.0, 0.0),
    "mm/day": (1.0, 0.0),
    "mmday-1": (1.0, 0.0),
    "mm/d": (1.0, 0.0),
}
_TEMP = {
    "k": (1.0, -273.15),
    "kelvin": (1.0, -273.15),
    "degc": (1.0, 0.0),
    "degreec": (1.0, 0.0),
    "degreesc": (1.0, 0.0),
    "c": (1.0, 0.0),
    "celsius": (1.0, 0.0),
    "deg_c": (1.0, 0.0),
    "degree_celsius": (1.0, 0.0),
    "degrees_celsius": (1.0, 0.0),
}
_DEPTH = {"m": (100.0, 0.0), "cm": (1.0, 0.0), "mm": (0.1, 0.0)}
UNITS: dict[str, dict[str, tuple[float, float]]] = {
    "swe_mm": _WATER,
    "precip_mm": _WATER,
    "tmean_c": _TEMP,
    "tmin_c": _TEMP,
    "tmax_c": _TEMP,
    "snow_depth_cm": _DEPTH,
}
SUMMED = {"precip_mm"}  # aggregated by sum when several steps fall on one day
LAT_NAMES = ("latitude", "lat", "y")
LON_NAMES = ("longitude", "lon", "x")
TIME_NAMES = ("time", "valid_time", "date")


class GridError(ValueError):
    """A grid file that cannot be used at all (unreadable, no lat/lon, no time)."""


def normalise_units(units: str) -> str:
    """Lower-case units without spaces or '**'/'^' (so 'kg m**-2' == 'kg m-2' == 'kgm-2')."""
    return units.strip().lower().replace("**", "").replace("^", "").replace(" ", "")


def convert_units(values: np.ndarray, variable: str, units: str) -> np.ndarray:
    """Convert `values` given in CF `units` to the canonical units of `variable`; ValueError if not known."""
    table = UNITS[variable]
    key = normalise_units(units)
    if key not in table:
        raise ValueError(f"units '{units}' cannot be converted to {variable} (known: {', '.join(sorted(table))})")
    scale, offset = table[key]
    return values * scale + offset


def canonical_variable(name: str, da: xr.DataArray) -> str | None:
    """The canonical variable a grid variable stands for (by name, then CF standard_name), or None."""
    if name.lower() in NAME_MAP:
        var = NAME_MAP[name.lower()]
    else:
        var = STANDARD_NAME_MAP.get(str(da.attrs.get("standard_name", "")).lower())
    if var == "tmean_c":
        cm = str(da.attrs.get("cell_methods", "")).lower()
        if "maximum" in cm:
            var = "tmax_c"
        elif "minimum" in cm:
            var = "tmin_c"
    return var


def _find(ds: xr.Dataset, names: tuple[str, ...], standard_name: str) -> str | None:
    for n in ds.coords:
        if str(ds[n].attrs.get("standard_name", "")).lower() == standard_name and ds[n].ndim == 1:
            return str(n)
    for n in names:
        for c in ds.coords:
            if str(c).lower() == n and ds[c].ndim == 1:
                return str(c)
    return None


def standardise_grid(ds: xr.Dataset) -> xr.Dataset:
    """Rename lat/lon/time to `lat`, `lon`, `time`; wrap longitudes to -180..180; sort all three ascending."""
    lat = _find(ds, LAT_NAMES, "latitude")
    lon = _find(ds, LON_NAMES, "longitude")
    time = _find(ds, TIME_NAMES, "time")
    if lat is None or lon is None:
        raise GridError("no 1-D latitude/longitude coordinates (names lat/latitude, lon/longitude or CF standard_name)")
    if time is None:
        raise GridError("no time coordinate (time, valid_time)")
    ds = ds.rename({k: v for k, v in {lat: "lat", lon: "lon", time: "time"}.items() if k != v})
    lon_vals = ds["lon"].values.astype("float64")
    wrapped = ((lon_vals + 180.0) % 360.0) - 180.0
    ds = ds.assign_coords(lon=("lon", wrapped, ds["lon"].attrs))
    _, first = np.unique(wrapped, return_index=True)
    if len(first) < len(wrapped):  # both 0 and 360 present
        ds = ds.isel(lon=np.sort(first))
    return ds.sortby(["time", "lat", "lon"])


def cell_edges(centres: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Cell edges from ascending centres: midpoints, half a spacing beyond the ends, clipped to [lo, hi]."""
    c = np.asarray(centres, dtype="float64")
    if len(c) == 1:
        raise GridError("a grid axis with a single value has no cell size")
    mid = (c[1:] + c[:-1]) / 2.0
    edges = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    if lo is not None or hi is not None:
        edges = np.clip(edges, lo, hi)
    return edges


def spherical_cell_areas(lat_edges: np.ndarray, lon_edges: np.ndarray) -> np.ndarray:
    """Exact area of lat/lon cells on a sphere of radius EARTH_RADIUS_KM, km2, shape (nlat, nlon)."""
    band = np.abs(np.diff(np.sin(np.deg2rad(lat_edges))))
    dlon = np.abs(np.diff(np.deg2rad(lon_edges)))
    return EARTH_RADIUS_KM**2 * np.outer(band, dlon)


@dataclass
class BasinWeights:
    """Cell weights of one basin on one grid: weights (km2 covered) on the lat/lon index window."""

    lat_index: np.ndarray  # indices into the grid's lat
    lon_index: np.ndarray
    weights: np.ndarray  # (len(lat_index), len(lon_index)), covered area in km2
    covered_km2: float  # sum of weights
    polygon_km2: float  # geodesic area of the polygon


def basin_weights(lat: np.ndarray, lon: np.ndarray, basin: Basin, method: str = "exact") -> BasinWeights:
    """Area weights of the grid cells (ascending lat/lon centres, degrees) covered by `basin`'s polygon."""
    lat_e = cell_edges(lat, -90.0, 90.0)
    lon_e = cell_edges(lon)
    geom = basin.geometry
    minx, miny, maxx, maxy = geom.bounds
    ilat = np.flatnonzero((lat_e[1:] > miny) & (lat_e[:-1] < maxy))
    ilon = np.flatnonzero((lon_e[1:] > minx) & (lon_e[:-1] < maxx))
    poly_km2 = geodesic_area_km2(geom)
    if len(ilat) == 0 or len(ilon) == 0:
        return BasinWeights(ilat, ilon, np.zeros((len(ilat), len(ilon))), 0.0, poly_km2)
    areas = spherical_cell_areas(lat_e[ilat[0] : ilat[-1] + 2], lon_e[ilon[0] : ilon[-1] + 2])
    if method == "exact":
        y0, x0 = np.meshgrid(lat_e[ilat], lon_e[ilon], indexing="ij")
        y1, x1 = np.meshgrid(lat_e[ilat + 1], lon_e[ilon + 1], indexing="ij")
        boxes = shapely.box(x0, y0, x1, y1)
        shapely.prepare(geom)
        inter = shapely.area(shapely.intersection(boxes, geom))
        frac = inter / shapely.area(boxes)
    elif method == "regionmask":
        import regionmask

        regions = regionmask.Regions([geom], numbers=[0], names=[basin.basin_id])
        m = regions.mask_3D_frac_approx(lon[ilon], lat[ilat], drop=False, wrap_lon=False)
        frac = np.nan_to_num(m.isel(region=0).transpose("lat", "lon").values.astype("float64"))
    else:
        raise ValueError(f"unknown method '{method}' (exact or regionmask)")
    w = np.clip(frac, 0.0, 1.0) * areas
    return BasinWeights(ilat, ilon, w, float(w.sum()), poly_km2)


def weighted_mean(values: np.ndarray, weights: np.ndarray, min_coverage: float = 0.5) -> tuple[np.ndarray, int]:
    """Area-weighted mean over the last two axes of `values` (time, y, x), NaN cells left out per step.

    Returns (means per step, number of steps set to NaN because valid cells covered < min_coverage of the weight).
    """
    total = weights.sum()
    valid = ~np.isnan(values)
    w = np.where(valid, weights, 0.0)
    den = w.sum(axis=(-2, -1))
    num = (np.where(valid, values, 0.0) * weights).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = num / den
    low = den < min_coverage * total
    n_low = int((low & (den > 0)).sum())
    mean = np.where(low, np.nan, mean)
    return mean, n_low


def basin_means_ds(
    ds: xr.Dataset,
    basins: dict[str, Basin],
    source: str = "",
    method: str = "exact",
    min_coverage: float = 0.5,
    variables: list[str] | None = None,
) -> AdapterResult:
    """Basin-mean daily series of the grid variables of `ds` (canonical names and units), one series per basin.

    `variables`: grid variable names to use (default: every one that maps to a canonical variable).
    Problems (no units, unknown units, polygon outside the grid, basin without data) become messages or
    quarantined entries naming the file and field; the rest proceeds.
    """
    result = AdapterResult()
    try:
        ds = standardise_grid(ds)
    except GridError as exc:
        result.quarantine.append(QuarantinedRow(source, None, None, str(exc)))
        return result
    lat = ds["lat"].values.astype("float64")
    lon = ds["lon"].values.astype("float64")
    times = pd.DatetimeIndex(pd.to_datetime(ds["time"].values)).normalize()
    names = variables or [str(v) for v in ds.data_vars]
    chosen: list[tuple[str, str, np.ndarray]] = []
    for name in names:
        if name not in ds.data_vars:
            result.messages.append(f"{source}: variable '{name}' not in the file")
            continue
        da = ds[name]
        if not {"lat", "lon", "time"} <= set(da.dims):
            continue
        var = canonical_variable(name, da)
        if var is None:
            result.messages.append(f"{source}: variable '{name}' not understood (no known name or standard_name)")
            continue
        units = da.attrs.get("units")
        if not units:
            result.quarantine.append(
                QuarantinedRow(source, None, name, f"variable '{name}' has no CF 'units' attribute; not used", "")
            )
            continue
        da = da.transpose("time", "lat", "lon", ...)
        if da.ndim > 3:
            result.quarantine.append(
                QuarantinedRow(source, None, name, f"variable '{name}' has extra dimensions {da.dims}; not used", "")
            )
            continue
        try:
            vals = convert_units(da.values.astype("float64"), var, str(units))
        except ValueError as exc:
            result.quarantine.append(QuarantinedRow(source, None, name, f"variable '{name}': {exc}", ""))
            continue
        chosen.append((name, var, vals))
    if not chosen:
        result.messages.append(f"{source}: no usable grid variable")
        return result

    step_rows = np.arange(1, len(times) + 1)
    frames = []
    stations = []
    for bid, basin in basins.items():
        try:
            bw = basin_weights(lat, lon, basin, method)
        except GridError as exc:
            result.quarantine.append(QuarantinedRow(source, None, None, str(exc)))
            return result
        if bw.covered_km2 <= 0:
            result.quarantine.append(
                QuarantinedRow(
                    basin.source or source,
                    None,
                    bid,
                    f"basin '{bid}' (bounds {tuple(round(b, 3) for b in basin.geometry.bounds)}) lies outside the "
                    f"grid of {source} (lat {lat.min():g}..{lat.max():g}, lon {lon.min():g}..{lon.max():g}); "
                    "no values",
                    "",
                )
            )
            continue
        share = bw.covered_km2 / bw.polygon_km2 if bw.polygon_km2 > 0 else 1.0
        if share < 0.98:
            result.messages.append(
                f"{source}: basin '{bid}' is only {100 * share:.0f}% inside the grid; mean over the covered part"
            )
        stations.append((bid, basin))
        for name, var, vals in chosen:
            window = vals[:, bw.lat_index[0] : bw.lat_index[-1] + 1, bw.lon_index[0] : bw.lon_index[-1] + 1]
            mean, n_low = weighted_mean(window, bw.weights, min_coverage)
            if n_low:
                result.messages.append(
                    f"{source}: basin '{bid}', '{name}': {n_low} time steps with too few valid cells "
                    f"(< {100 * min_coverage:.0f}% of the basin) left missing"
                )
            series = pd.Series(mean, index=times)
            rows = pd.Series(step_rows, index=times)
            if times.has_duplicates:
                agg = "sum" if var in SUMMED else "mean"
                grouped = series.groupby(level=0)
                series = grouped.sum(min_count=1) if agg == "sum" else grouped.mean()
                rows = rows.groupby(level=0).min()
                result.messages.append(f"{source}: '{name}' has several steps per day; daily {agg} taken")
            ok = series.notna().to_numpy()
            if not ok.any():
                result.messages.append(f"{source}: basin '{bid}' has no data for '{name}' ({var}); nothing kept")
                continue
            frames.append(
                pd.DataFrame(
                    {
                        "station_id": bid,
                        "date": series.index[ok].to_numpy(),
                        "variable": var,
                        "value": series.to_numpy()[ok],
                        "source_file": source,
                        "source_row": rows.to_numpy()[ok].astype("int64"),
                    }
                )
            )
    if frames:
        result.observations = pd.concat(frames, ignore_index=True)
    if stations:
        meta = empty_stations().reindex([b for b, _ in stations])
        meta["name"] = [b.name for _, b in stations]
        meta["area_km2"] = [b.area_km2 for _, b in stations]
        meta.index.name = "station_id"
        result.stations = meta
    return result


def basin_means(
    grid_path: Path | str,
    geojson_path: Path | str,
    method: str = "exact",
    min_coverage: float = 0.5,
    variables: list[str] | None = None,
) -> AdapterResult:
    """Read a CF NetCDF grid and basin polygons (GeoJSON file or folder) and return basin-mean daily series.

    Units as in forecasting.variables (swe_mm, precip_mm in mm; tmean_c etc. in degC; snow_depth_cm in cm).
    """
    grid_path = Path(grid_path)
    result = AdapterResult()
    try:
        basins = read_basins(Path(geojson_path))
    except BasinFileError as exc:
        result.quarantine.append(QuarantinedRow(str(geojson_path), None, None, str(exc)))
        return result
    for bid in list(basins):
        problem = id_problem(unicodedata.normalize("NFC", bid))
        if problem is not None:
            b = basins.pop(bid)
            result.quarantine.append(
                QuarantinedRow(
                    b.source or str(geojson_path),
                    None,
                    "basin_id",
                    f"basin id {bid[:80]!r} is not a valid id ({problem}; ids are {ID_RULE}); polygon not used",
                    bid[:200],
                )
            )
    if not basins:
        result.messages.append(f"{geojson_path}: no basin with a valid id")
        return result
    from forecasting.storage import NETCDF_LOCK  # here: storage imports the sources package

    src = str(grid_path)
    try:
        with NETCDF_LOCK, xr.open_dataset(grid_path, decode_times=False, mask_and_scale=True) as raw:
            ds = _decode_days(raw, src, result)
            if ds is None:
                return result
            try:
                ds = standardise_grid(ds)
            except GridError as exc:
                result.quarantine.append(QuarantinedRow(src, None, None, str(exc)))
                return result
            ds = _basins_window(ds, basins)
            names = variables or [str(v) for v in ds.data_vars]
            used = [n for n in names if n in ds.data_vars and {"lat", "lon", "time"} <= set(ds[n].dims)]
            needed = sum(ds[n].size * 8 for n in used)  # float64 once loaded
            limit = max_grid_bytes()
            if needed > limit:
                dims = ", ".join(f"{k} {v}" for k, v in ds.sizes.items())
                result.quarantine.append(
                    QuarantinedRow(
                        src,
                        None,
                        None,
                        f"the grid needs {needed / 1e6:.0f} MB in memory over the basins' area ({dims}; variables "
                        f"{', '.join(used)}), more than the limit of {limit / 1e6:.0f} MB (${MAX_GRID_ENV}, MB); "
                        "split the file by time or cut it to the basins; not read",
                    )
                )
                return result
            ds = ds[used].load() if used else ds.load()
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        result.quarantine.append(QuarantinedRow(src, None, None, f"not a readable NetCDF file: {exc}"))
        return result
    result.extend(basin_means_ds(ds, basins, src, method, min_coverage, variables))
    return result


MAX_GRID_ENV = "TASQYN_MAX_GRID_MB"


def max_grid_bytes() -> float:
    """How much memory a grid may take once loaded: $TASQYN_MAX_GRID_MB, else half the available memory, at most
    2 GB."""
    raw = os.environ.get(MAX_GRID_ENV, "").strip()
    if raw:
        try:
            return float(raw) * 1e6
        except ValueError:
            pass
    avail = 4e9
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = float(line.split()[1]) * 1024
    except OSError:
        pass
    return min(2e9, avail / 2)


def _decode_days(ds: xr.Dataset, source: str, result: AdapterResult) -> xr.Dataset | None:
    """`ds` (opened with decode_times=False) with its time axis as local days (datetime64[ns]) whatever the calendar
    (standard, noleap, 360_day, ... through cftime): steps on days that do not exist (30 February of a 360-day
    calendar) or outside the accepted window (forecasting.validate) are left out, with a message. None (and the
    file quarantined) if the time axis cannot be decoded."""
    name = _find(ds, TIME_NAMES, "time")
    if name is None:
        return ds  # standardise_grid reports it
    var = ds[name]
    units = str(var.attrs.get("units", ""))
    if "since" not in units:
        return ds
    calendar = str(var.attrs.get("calendar", "standard"))
    try:
        import cftime

        stamps = cftime.num2date(np.asarray(var.values), units, calendar=calendar, only_use_cftime_datetimes=True)
    except (ValueError, TypeError, OverflowError) as exc:
        result.quarantine.append(
            QuarantinedRow(
                source, None, name, f"time axis not understood (units '{units}', calendar '{calendar}'): {exc}"
            )
        )
        return None
    window = date_window()
    days = np.full(len(stamps), np.datetime64("NaT"), dtype="datetime64[ns]")
    missing_day = outside = 0
    for k, t in enumerate(np.atleast_1d(stamps)):
        try:
            d = dt.date(t.year, t.month, t.day)
        except (ValueError, AttributeError):
            missing_day += 1
            continue
        if date_problem(d, window):
            outside += 1
            continue
        days[k] = np.datetime64(d, "ns")
    if missing_day:
        result.messages.append(
            f"{source}: {missing_day} time steps of calendar '{calendar}' fall on days that do not exist in the "
            "Gregorian calendar; left out"
        )
    if outside:
        lo, hi = window
        result.quarantine.append(
            QuarantinedRow(source, None, name, f"{outside} time steps outside the accepted window {lo}..{hi}; left out")
        )
    keep = ~np.isnat(days)
    ds = ds.assign_coords(
        {name: (var.dims, days, {k: v for k, v in var.attrs.items() if k not in ("units", "calendar")})}
    )
    return ds.isel({var.dims[0]: np.flatnonzero(keep)}) if not keep.all() else ds


def _basins_window(ds: xr.Dataset, basins: dict[str, Basin], margin_cells: int = 2) -> xr.Dataset:
    """`ds` (standardised, ascending lat/lon) cut to the basins' bounding box plus `margin_cells` cells, so that only
    that part is ever loaded; the weights of the basins' cells are unchanged (their edges are interior)."""
    if not basins or ds.sizes.get("lat", 0) < 2 or ds.sizes.get("lon", 0) < 2:
        return ds
    bounds = np.array([b.geometry.bounds for b in basins.values()])
    lat, lon = ds["lat"].values, ds["lon"].values
    ilat = np.flatnonzero((lat >= bounds[:, 1].min()) & (lat <= bounds[:, 3].max()))
    ilon = np.flatnonzero((lon >= bounds[:, 0].min()) & (lon <= bounds[:, 2].max()))
    la0 = max(0, (ilat[0] if len(ilat) else np.searchsorted(lat, bounds[:, 1].min())) - margin_cells)
    la1 = min(len(lat), (ilat[-1] + 1 if len(ilat) else np.searchsorted(lat, bounds[:, 3].max())) + margin_cells)
    lo0 = max(0, (ilon[0] if len(ilon) else np.searchsorted(lon, bounds[:, 0].min())) - margin_cells)
    lo1 = min(len(lon), (ilon[-1] + 1 if len(ilon) else np.searchsorted(lon, bounds[:, 2].max())) + margin_cells)
    if la1 - la0 < 2 or lo1 - lo0 < 2:
        return ds
    return ds.isel(lat=slice(la0, la1), lon=slice(lo0, lo1))


def find_polygons(path: Path) -> Path | None:
    """Basin polygons beside a grid file or folder: `*.geojson` there, or a `basins/` folder next to it."""
    folder = path if path.is_dir() else path.parent
    if list(folder.glob("*.geojson")):
        return folder if path.is_dir() or len(list(folder.glob("*.geojson"))) > 1 else next(folder.glob("*.geojson"))
    if (folder / "basins").is_dir():
        return folder / "basins"
    return None


@register
class Gridded:
    name = "gridded"
    description = "CF NetCDF grids (e.g. ERA5-Land sd, t2m, tp) averaged over basin polygons (*.geojson beside it)"

    def detect(self, path: Path) -> bool:
        path = Path(path)
        if path.is_dir():
            return bool(list(path.glob("*.nc"))) and find_polygons(path) is not None
        return path.suffix.lower() in (".nc", ".nc4", ".netcdf")

    def read(self, path: Path) -> AdapterResult:
        path = Path(path)
        result = AdapterResult()
        polygons = find_polygons(path)
        if polygons is None:
            result.quarantine.append(
                QuarantinedRow(str(path), None, None, "no basin polygons (*.geojson beside it or a basins/ folder)")
            )
            return result
        files = sorted(path.glob("*.nc")) if path.is_dir() else [path]
        for f in files:
            result.extend(basin_means(f, polygons))
        return result
