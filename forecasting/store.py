"""The canonical observation dataset: build it from adapter output, merge ingests, keep provenance and revisions.

Layout (an `xarray.Dataset`):
- dims `station` (str ids) and `time` (daily, local days in Asia/Almaty, no gaps in the index);
- one float64 variable per canonical variable (forecasting.variables), with CF attributes;
- `<var>_qc` (int16 flag bits, forecasting.flags) beside each variable;
- `<var>_src` (int16 index into `source_file`, -1 = none) and `<var>_row` (int32, 1-based line) for provenance;
- `water_level_cm_symbol` (str) where a source carries observation symbols (ice phenomena etc.);
- station metadata (name, river, basin, lat, lon, area_km2, thresholds) as coordinates on `station`.
All functions here are pure; reading and writing files is in forecasting.storage.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
import xarray as xr

from forecasting import flags
from forecasting.canonical import AdapterResult, QuarantinedRow
from forecasting.ids import ID_RULE, id_problem
from forecasting.validate import clean_metadata, date_problem, date_window, dates_outside
from forecasting.variables import STATION_NUMBER_FIELDS, STATION_TEXT_FIELDS, VARIABLES, qc_name

SYMBOL_VAR = "water_level_cm_symbol"
PERSISTENT_FLAGS = flags.DUPLICATE | flags.REVISED  # set at ingest, kept when QC is recomputed
REVISION_COLUMNS = ["station_id", "date", "variable", "old_value", "new_value", "old_source", "new_source"]


def src_name(var: str) -> str:
    return f"{var}_src"


def row_name(var: str) -> str:
    return f"{var}_row"


def data_variables(ds: xr.Dataset) -> list[str]:
    """The canonical observed variables present in `ds`, in canonical order."""
    return [v for v in VARIABLES if v in ds.data_vars]


def deduplicate(obs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[QuarantinedRow]]:
    """Resolve repeated (station, date, variable) rows.

    Identical repeats are dropped silently. Conflicting repeats: the first value is kept (and returned in
    `conflicts` to be flagged DUPLICATE), the others are quarantined with the line they came from.
    Returns (unique observations, conflicts[station_id, date, variable], quarantined rows).
    """
    key = ["station_id", "date", "variable"]
    dup_mask = obs.duplicated(key, keep=False)
    if not dup_mask.any():
        return obs, obs.iloc[0:0][key], []
    dups = obs[dup_mask]
    first = dups.groupby(key, sort=False).head(1)
    later = dups.drop(first.index)
    merged = later.merge(first[[*key, "value", "source_file", "source_row"]], on=key, suffixes=("", "_kept"))
    conflicting = ~np.isclose(merged["value"], merged["value_kept"], rtol=1e-9, atol=0.0)
    quarantine = [
        QuarantinedRow(
            str(r.source_file),
            int(r.source_row),
            str(r.variable),
            f"duplicate date {pd.Timestamp(r.date).date()} for station {r.station_id} with conflicting value "
            f"{r.value:g}; kept {r.value_kept:g} from {r.source_file_kept} line {int(r.source_row_kept)}",
            f"{r.station_id},{pd.Timestamp(r.date).date()},{r.variable},{r.value}",
        )
        for r in merged[conflicting].itertuples(index=False)
    ]
    conflicts = merged.loc[conflicting, key].drop_duplicates()
    unique = obs.drop(later.index)
    return unique, conflicts, quarantine


def drop_nonfinite(obs: pd.DataFrame) -> tuple[pd.DataFrame, list[QuarantinedRow]]:
    """Observations without the rows whose value is not a finite number (inf, NaN; e.g. '1e400' parsed to inf),
    which are quarantined: a non-finite number is never stored as a value (every adapter should catch them; this
    is the store's own guard)."""
    values = pd.to_numeric(obs["value"], errors="coerce").to_numpy(dtype="float64")
    bad = ~np.isfinite(values)
    if not bad.any():
        return obs, []
    quarantine = [
        QuarantinedRow(
            str(r.source_file),
            int(r.source_row),
            str(r.variable),
            f"value {r.value} of station {r.station_id} on {pd.Timestamp(r.date).date()} is not a finite number; "
            "not stored",
            f"{r.station_id},{pd.Timestamp(r.date).date()},{r.variable},{r.value}",
        )
        for r in obs[bad].itertuples(index=False)
    ]
    return obs[~bad], quarantine


def drop_invalid_ids(obs: pd.DataFrame) -> tuple[pd.DataFrame, list[QuarantinedRow]]:
    """Observations without the stations whose id breaks the id rule (forecasting.ids.ID_RULE): an id reaches the
    file system (model folders, exports), so such a station is quarantined whole, one entry per station and source
    file (its first line, and how many values). The store's own guard; adapters check ids where they read them."""
    ids = obs["station_id"].astype("str")
    uniq = pd.unique(ids)
    problems = {sid: id_problem(unicodedata.normalize("NFC", sid)) for sid in uniq}
    bad_ids = {sid for sid, p in problems.items() if p is not None}
    if not bad_ids:
        if any(unicodedata.normalize("NFC", sid) != sid for sid in uniq):
            obs = obs.assign(station_id=[unicodedata.normalize("NFC", sid) for sid in ids])
        return obs, []
    bad = ids.isin(bad_ids).to_numpy()
    quarantine = []
    for (sid, src), grp in obs[bad].groupby([ids[bad], obs.loc[bad, "source_file"]], sort=False):
        first = int(grp["source_row"].min())
        quarantine.append(
            QuarantinedRow(
                str(src),
                first,
                "station_id",
                f"station id {sid!r} is not a valid id ({problems[sid]}; ids are {ID_RULE}); its {len(grp)} values "
                "are not stored",
                str(sid)[:200],
            )
        )
    return obs[~bad], quarantine


def drop_dates_outside_window(obs: pd.DataFrame) -> tuple[pd.DataFrame, list[QuarantinedRow]]:
    """Observations without the rows dated outside the accepted window (forecasting.validate.date_window, default
    1850-01-01 .. today + 366 days), which are quarantined: a year 1700 or 2200 would stretch every station's time
    axis. The store's own guard; adapters check dates where they read them."""
    bad = dates_outside(obs["date"].to_numpy())
    if not bad.any():
        return obs, []
    window = date_window()
    quarantine = [
        QuarantinedRow(
            str(r.source_file),
            int(r.source_row),
            "date",
            f"station {r.station_id}: {date_problem(pd.Timestamp(r.date), window)}; not stored",
            f"{r.station_id},{pd.Timestamp(r.date).date()},{r.variable},{r.value}",
        )
        for r in obs[bad].itertuples(index=False)
    ]
    return obs[~bad], quarantine


BUILD_BLOCK_ROWS = 2_000_000  # rows of the long table handled at once by build_dataset (whole stations)


def _station_blocks(obs: pd.DataFrame, max_rows: int | None = None) -> list[tuple[int, int]]:
    """Positional slices of `obs` holding whole stations, each of at most `max_rows` rows (default BUILD_BLOCK_ROWS;
    a larger station is a block of its own); the whole table as one block when it is small or a station's rows are
    not contiguous."""
    max_rows = BUILD_BLOCK_ROWS if max_rows is None else max_rows
    n = len(obs)
    if n <= max_rows:
        return [(0, n)]
    ids = obs["station_id"].to_numpy()
    starts = np.r_[0, np.flatnonzero(ids[1:] != ids[:-1]) + 1]
    if len(starts) != len(pd.unique(ids[starts])):  # a station in several runs: one block
        return [(0, n)]
    return _pack_runs([*starts.tolist(), n], max_rows)


def _pack_runs(bounds: list[int], max_rows: int) -> list[tuple[int, int]]:
    """Consecutive runs (bounds[i]..bounds[i+1]) packed greedily into blocks of at most `max_rows` rows."""
    blocks: list[tuple[int, int]] = []
    a = bounds[0]
    for i in range(1, len(bounds)):
        if bounds[i] - a > max_rows and bounds[i - 1] > a:
            blocks.append((a, bounds[i - 1]))
            a = bounds[i - 1]
    blocks.append((a, bounds[-1]))
    return blocks


def build_dataset(result: AdapterResult) -> tuple[xr.Dataset, list[QuarantinedRow]]:
    """Turn adapter output into the canonical dataset. Returns (dataset, quarantined duplicate rows).

    A large table is handled in blocks of whole stations (duplicates are per station), so the memory it needs
    besides the table and the dataset stays that of one block."""
    obs = result.observations
    known = obs["variable"].isin(list(VARIABLES)).to_numpy()
    if not known.all():  # (a boolean selection copies the whole table even when it keeps every row)
        obs = obs[known]
    obs, quarantine = drop_nonfinite(obs)
    obs, bad_ids = drop_invalid_ids(obs)
    quarantine.extend(bad_ids)
    obs, bad_dates = drop_dates_outside_window(obs)
    quarantine.extend(bad_dates)
    blocks = _station_blocks(obs)
    kept = np.ones(len(obs), dtype=bool)
    conflict_parts, variables, sources_set = [], set(), set()
    for a, b in blocks:  # pass 1: duplicates, variables and sources of the kept rows
        block = obs.iloc[a:b]
        unique, conflicts, dups = deduplicate(block)
        if len(unique) != len(block):
            kept[a:b] = block.index.isin(unique.index)
        conflict_parts.append(conflicts)
        quarantine.extend(dups)
        variables.update(str(v) for v in pd.unique(unique["variable"]))
        sources_set.update(pd.unique(unique["source_file"]))
    conflicts = pd.concat(conflict_parts, ignore_index=True) if len(conflict_parts) > 1 else conflict_parts[0]
    station_ids = sorted(str(s) for s in pd.unique(obs["station_id"]))  # registry rows without data are not stored
    if len(obs):
        time = pd.date_range(obs["date"].min().normalize(), obs["date"].max().normalize(), freq="D")
    else:
        time = pd.DatetimeIndex([], dtype="datetime64[ns]")
    sources = sorted(sources_set)
    ds = empty_dataset(station_ids, time, sources)
    station_index, source_index = pd.Index(station_ids), pd.Index(sources)
    for var in VARIABLES:
        if var in variables:
            _add_variable(ds, var)
    symbols = None
    for a, b in blocks:  # pass 2: the values into the arrays
        block = obs.iloc[a:b]
        unique = block if kept[a:b].all() else block[kept[a:b]]
        if not len(unique):
            continue
        dates = unique["date"].dt.normalize()
        s_idx = station_index.get_indexer(unique["station_id"])
        # position on the daily axis by arithmetic (the axis has no gaps): no hash table of 10^7 dates
        t_idx = ((dates.to_numpy() - time.values[0]) // np.timedelta64(1, "D")).astype(np.int64)
        del dates
        src_idx = source_index.get_indexer(unique["source_file"])
        var_codes = unique["variable"].to_numpy()
        values, rows = unique["value"].to_numpy(), unique["source_row"].to_numpy()
        for var in VARIABLES:
            if var not in variables:
                continue
            m = var_codes == var
            if not m.any():
                continue
            ds[var].values[s_idx[m], t_idx[m]] = values[m]
            ds[src_name(var)].values[s_idx[m], t_idx[m]] = src_idx[m]
            ds[row_name(var)].values[s_idx[m], t_idx[m]] = rows[m]
        if "symbol" in unique.columns:
            sym = unique[unique["symbol"].notna() & (unique["symbol"].astype("str") != "")]
            if len(sym):
                if symbols is None:
                    symbols = np.full((len(station_ids), len(time)), "", dtype=object)
                symbols[
                    station_index.get_indexer(sym["station_id"]),
                    time.get_indexer(sym["date"].dt.normalize()),
                ] = sym["symbol"].astype("str").to_numpy()
    if len(conflicts):
        cs = station_index.get_indexer(conflicts["station_id"])
        ct = time.get_indexer(conflicts["date"].dt.normalize())
        for var in conflicts["variable"].unique():
            m = (conflicts["variable"] == var).to_numpy()
            ds[qc_name(var)].values[cs[m], ct[m]] |= flags.DUPLICATE
    if symbols is not None:
        ds[SYMBOL_VAR] = (("station", "time"), symbols, {"long_name": "observation symbol of the water level"})
    stations, bad_meta = check_station_ids(result.stations)
    ds = set_station_metadata(ds, stations)
    return ds, quarantine + bad_meta


def check_station_ids(stations: pd.DataFrame) -> tuple[pd.DataFrame, list[QuarantinedRow]]:
    """Station metadata with every basin id that breaks the id rule blanked (the station becomes its own basin),
    and every implausible number left out (forecasting.validate: latitude, longitude, area, thresholds out of
    order), each reported. The store's guard for the metadata of any adapter."""
    if stations.empty:
        return stations, []
    out = stations.copy()
    quarantine = []
    numeric = [f for f in STATION_NUMBER_FIELDS if f in out.columns]
    for sid, row in out[numeric].iterrows():
        _, problems = clean_metadata({f: row[f] for f in numeric})
        for field, why in problems:
            fields = [field]
            if field == "thresholds":  # the set of one unit, named in the reason
                fields = [f for f in numeric if f.endswith("m3s" if "in m3/s" in why else "_cm")]
            for f in fields:
                out.loc[sid, f] = np.nan
            quarantine.append(QuarantinedRow("station metadata", None, field, f"station {sid}: {why}", ""))
    if "basin" not in out:
        return out, quarantine
    for sid, basin in out["basin"].items():
        if basin is None or (isinstance(basin, float) and np.isnan(basin)) or basin == "":
            continue
        problem = id_problem(unicodedata.normalize("NFC", str(basin)))
        if problem is None:
            out.loc[sid, "basin"] = unicodedata.normalize("NFC", str(basin))
            continue
        out.loc[sid, "basin"] = None
        quarantine.append(
            QuarantinedRow(
                "station metadata",
                None,
                "basin",
                f"station {sid}: basin {str(basin)[:80]!r} is not a valid id ({problem}); the station is its own basin",
                str(basin)[:200],
            )
        )
    return out, quarantine


def empty_dataset(station_ids: list[str], time: pd.DatetimeIndex, sources: list[str] | None = None) -> xr.Dataset:
    ds = xr.Dataset(
        coords={
            "station": ("station", np.array(station_ids, dtype=object)),
            "time": ("time", time.values.astype("datetime64[ns]")),
            "source_file": ("source", np.array(sources or [], dtype=object)),
        },
        attrs={
            "title": "Tasqyn canonical observations",
            "Conventions": "CF-1.10",
            "comment": "daily values; time is the local day (Asia/Almaty); QC flags in <var>_qc; "
            "provenance in <var>_src (index into source_file) and <var>_row (1-based line)",
        },
    )
    ds["time"].attrs.update({"long_name": "local day (Asia/Almaty)", "standard_name": "time"})
    ds["station"].attrs.update({"long_name": "station identifier", "cf_role": "timeseries_id"})
    return ds


def _add_variable(ds: xr.Dataset, var: str) -> None:
    shape = (ds.sizes["station"], ds.sizes["time"])
    dims = ("station", "time")
    ds[var] = (dims, np.full(shape, np.nan), VARIABLES[var].cf_attrs())
    ds[var].attrs["ancillary_variables"] = f"{qc_name(var)} {src_name(var)} {row_name(var)}"
    ds[qc_name(var)] = (dims, np.zeros(shape, dtype=flags.FLAG_DTYPE), flags.cf_flag_attrs())
    ds[src_name(var)] = (
        dims,
        np.full(shape, -1, dtype=np.int16),
        {"long_name": f"source file of {var}", "comment": "index into source_file; -1 none"},
    )
    ds[row_name(var)] = (dims, np.zeros(shape, dtype=np.int32), {"long_name": f"source line of {var}"})


def set_station_metadata(ds: xr.Dataset, stations: pd.DataFrame) -> xr.Dataset:
    """Attach station metadata as coordinates (text fields '' when unknown, numbers NaN)."""
    stations = stations.copy()
    stations.index = stations.index.astype("str")
    meta = stations.reindex(ds["station"].values.astype(str))
    coords = {}
    for f in STATION_TEXT_FIELDS:
        col = meta[f] if f in meta else pd.Series(index=meta.index, dtype="object")
        coords[f] = ("station", np.array([("" if pd.isna(v) else str(v)) for v in col], dtype=object))
    for f in STATION_NUMBER_FIELDS:
        col = meta[f] if f in meta else pd.Series(index=meta.index, dtype="float64")
        coords[f] = ("station", pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64"))
    return ds.assign_coords(coords)


def station_table(ds: xr.Dataset) -> pd.DataFrame:
    """Station metadata of `ds` as a DataFrame indexed by station_id: the metadata coordinates it has, text fields
    '' when unknown (also where netCDF gave NaN for an empty string), numbers NaN; the basin defaults to the
    station. The one reading of station metadata (library, flows and service)."""
    data: dict[str, object] = {}
    for f in STATION_TEXT_FIELDS:
        if f in ds.coords:
            data[f] = np.array([_text(v) for v in ds[f].values], dtype=object)
    for f in STATION_NUMBER_FIELDS:
        if f in ds.coords:
            data[f] = ds[f].values
    df = pd.DataFrame(data, index=pd.Index(ds["station"].values.astype(str), name="station_id"))
    if "basin" in df:
        df["basin"] = [b if b else s for s, b in zip(df.index, df["basin"], strict=True)]
    else:
        df["basin"] = df.index
    return df


def _text(v: object) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def merge(old: xr.Dataset | None, new: xr.Dataset) -> tuple[xr.Dataset, pd.DataFrame]:
    """Merge a new ingest into the store.

    Never loses data: values only in `old` are kept; values only in `new` are added; a value present in both
    that differs is replaced by the new one, flagged REVISED, and listed in the returned revisions table
    (REVISION_COLUMNS). Re-merging identical data returns an identical dataset and no revisions.
    """
    if old is None or old.sizes.get("station", 0) == 0:
        return new, pd.DataFrame(columns=REVISION_COLUMNS)
    stations = sorted(set(old["station"].values.astype(str)) | set(new["station"].values.astype(str)))
    t0 = min(_tmin(old), _tmin(new))
    t1 = max(_tmax(old), _tmax(new))
    time = pd.date_range(t0, t1, freq="D") if t0 is not pd.NaT else pd.DatetimeIndex([])
    sources = list(old["source_file"].values.astype(str))
    new_sources = list(new["source_file"].values.astype(str))
    for s in new_sources:
        if s not in sources:
            sources.append(s)
    remap = np.array([sources.index(s) for s in new_sources] + [-1], dtype=np.int16)  # -1 maps to -1

    out = empty_dataset(stations, time, sources)
    revisions = []
    for var in VARIABLES:
        if var not in old and var not in new:
            continue
        _add_variable(out, var)
        a = _aligned(old, var, stations, time)
        b = _aligned(new, var, stations, time)
        va, vb = a[var], b[var]
        has_a, has_b = ~np.isnan(va), ~np.isnan(vb)
        changed = has_a & has_b & ~np.isclose(va, vb, rtol=1e-9, atol=0.0)
        take_b = has_b
        out[var].values[:] = np.where(take_b, vb, va)
        b_src = remap[b[src_name(var)]]
        out[src_name(var)].values[:] = np.where(take_b, b_src, a[src_name(var)])
        out[row_name(var)].values[:] = np.where(take_b, b[row_name(var)], a[row_name(var)])
        qa = a[qc_name(var)] & PERSISTENT_FLAGS
        qb = b[qc_name(var)] & PERSISTENT_FLAGS
        q = np.where(take_b, qb | (qa & flags.REVISED), qa)
        q = np.where(changed, q | flags.REVISED, q)
        out[qc_name(var)].values[:] = q.astype(flags.FLAG_DTYPE)
        if changed.any():
            si, ti = np.nonzero(changed)
            src_a = a[src_name(var)][si, ti]
            revisions.append(
                pd.DataFrame(
                    {
                        "station_id": np.array(stations, dtype=object)[si],
                        "date": time[ti],
                        "variable": var,
                        "old_value": va[si, ti],
                        "new_value": vb[si, ti],
                        "old_source": [sources[k] if k >= 0 else "" for k in src_a],
                        "new_source": [sources[k] if k >= 0 else "" for k in b_src[si, ti]],
                    }
                )
            )
    if SYMBOL_VAR in old or SYMBOL_VAR in new:
        sa = _aligned_symbol(old, stations, time)
        sb = _aligned_symbol(new, stations, time)
        out[SYMBOL_VAR] = (
            ("station", "time"),
            np.where(sb != "", sb, sa),
            {"long_name": "observation symbol of the water level"},
        )
    out = set_station_metadata(out, merged_metadata(old, new))
    out.attrs.update({k: v for k, v in old.attrs.items() if k not in out.attrs})
    rev = pd.concat(revisions, ignore_index=True) if revisions else pd.DataFrame(columns=REVISION_COLUMNS)
    return out, rev


def merged_metadata(old: xr.Dataset, new: xr.Dataset) -> pd.DataFrame:
    """The station metadata of a merge of `new` into `old` (both stores' stations): a field of `new` wins where it
    is known; an empty text field or NaN in `new` does not erase what `old` knew."""
    meta = station_table(old)
    meta_new = station_table(new)
    meta_new = meta_new.replace("", np.nan)
    meta_new["basin"] = [b if b != s else np.nan for s, b in zip(meta_new.index, meta_new["basin"], strict=True)]
    meta_old = meta.copy()
    meta_old["basin"] = [b if b != s else np.nan for s, b in zip(meta_old.index, meta_old["basin"], strict=True)]
    return meta_new.combine_first(meta_old)


def touched_part(old: xr.Dataset, new: xr.Dataset) -> xr.Dataset:
    """The stations of `old` that `new` brings data for (all of `old`'s time axis and sources): what `merge` needs
    of the store to merge `new` when only those stations are merged (see `splice`)."""
    ids = pd.Index(old["station"].values.astype(str))
    pos = ids.get_indexer(new["station"].values.astype(str))
    return old.isel(station=np.sort(pos[pos >= 0]))


def splice(old: xr.Dataset, part: xr.Dataset, new: xr.Dataset) -> xr.Dataset:
    """The store `old` with the stations of `part` replaced or added: `part` is `merge(touched_part(old, new),
    new)` (QC'd), the stations `new` touched. The result is what `merge(old, new)` gives for every array (the
    untouched stations' rows are `old`'s, on the union time axis; source indices of `part` remapped to the union
    source list, `old`'s first), with the merged metadata of all stations (`merged_metadata(old, new)`). The QC
    flags of the untouched stations are `old`'s: QC works station by station, so rerunning it on them would give
    the same flags (days added at either end are missing values for them)."""
    stations = sorted(set(old["station"].values.astype(str)) | set(part["station"].values.astype(str)))
    t0 = min(_tmin(old), _tmin(part))
    t1 = max(_tmax(old), _tmax(part))
    time = pd.date_range(t0, t1, freq="D") if t0 is not pd.NaT else pd.DatetimeIndex([])
    sources = list(old["source_file"].values.astype(str))
    part_sources = list(part["source_file"].values.astype(str)) if "source_file" in part.coords else []
    for src in part_sources:
        if src not in sources:
            sources.append(src)
    position = {src: i for i, src in enumerate(sources)}
    remap = np.array([position[src] for src in part_sources] + [-1], dtype=np.int16)  # -1 stays -1
    out = empty_dataset(stations, time, sources)
    index = pd.Index(stations)
    part_rows = index.get_indexer(part["station"].values.astype(str))
    old_ids = old["station"].values.astype(str)
    keep = ~pd.Index(old_ids).isin(part["station"].values.astype(str))
    old_rows = index.get_indexer(old_ids[keep])
    keep_pos = np.flatnonzero(keep)

    def place(name: str, arr: np.ndarray) -> np.ndarray:
        """Copy `old`'s untouched rows and `part`'s rows of `name` into `arr` (filled with the missing value)."""
        for ds, rows, sel in ((old, old_rows, keep_pos), (part, part_rows, None)):
            if name not in ds.variables or ds.sizes["time"] == 0 or len(rows) == 0:
                continue
            t_at = time.get_indexer(pd.DatetimeIndex(ds["time"].values[[0, -1]]))
            values = ds[name].values if sel is None else ds[name].values[sel]
            if name.endswith("_src") and ds is part:
                values = remap[values]
            arr[rows, t_at[0] : t_at[1] + 1] = values
        return arr

    for var in VARIABLES:
        if var not in old and var not in part:
            continue
        _add_variable(out, var)  # arrays of the missing values, filled in place
        for name in (var, qc_name(var), src_name(var), row_name(var)):
            place(name, out[name].values)
    if SYMBOL_VAR in old or SYMBOL_VAR in part:
        out[SYMBOL_VAR] = (
            ("station", "time"),
            place(SYMBOL_VAR, np.full((len(stations), len(time)), "", dtype=object)),
            {"long_name": "observation symbol of the water level"},
        )
    out = set_station_metadata(out, merged_metadata(old, new))
    out.attrs.update({k: v for k, v in old.attrs.items() if k not in out.attrs})
    return out


def _tmin(ds: xr.Dataset) -> pd.Timestamp:
    return pd.Timestamp(ds["time"].values.min()) if ds.sizes["time"] else pd.Timestamp.max


def _tmax(ds: xr.Dataset) -> pd.Timestamp:
    return pd.Timestamp(ds["time"].values.max()) if ds.sizes["time"] else pd.Timestamp.min


def _aligned(ds: xr.Dataset, var: str, stations: list[str], time: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Arrays of `var` and its companions on the target grid (missing -> NaN / 0 / -1)."""
    shape = (len(stations), len(time))
    out = {
        var: np.full(shape, np.nan),
        qc_name(var): np.zeros(shape, dtype=flags.FLAG_DTYPE),
        src_name(var): np.full(shape, -1, dtype=np.int16),
        row_name(var): np.zeros(shape, dtype=np.int32),
    }
    if var not in ds or ds.sizes["time"] == 0:
        return out
    si = pd.Index(stations).get_indexer(ds["station"].values.astype(str))
    ti = time.get_indexer(pd.DatetimeIndex(ds["time"].values))
    for name in out:
        if name in ds:
            out[name][np.ix_(si, ti)] = ds[name].values
    return out


def _aligned_symbol(ds: xr.Dataset, stations: list[str], time: pd.DatetimeIndex) -> np.ndarray:
    out = np.full((len(stations), len(time)), "", dtype=object)
    if SYMBOL_VAR in ds and ds.sizes["time"]:
        si = pd.Index(stations).get_indexer(ds["station"].values.astype(str))
        ti = time.get_indexer(pd.DatetimeIndex(ds["time"].values))
        out[np.ix_(si, ti)] = ds[SYMBOL_VAR].values
    return out


def station_frame(ds: xr.Dataset, station_id: str, with_flags: bool = False) -> pd.DataFrame:
    """One station's variables as a DataFrame indexed by date (optionally with their `_qc` columns)."""
    one = ds.sel(station=station_id)
    cols = {v: one[v].values for v in data_variables(ds)}
    if with_flags:
        cols.update({qc_name(v): one[qc_name(v)].values for v in data_variables(ds)})
    return pd.DataFrame(cols, index=pd.DatetimeIndex(ds["time"].values, name="date"))
