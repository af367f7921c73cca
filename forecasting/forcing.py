"""The forecast-forcing store: weather forecasts (NWP) per station or basin, and how forecasts pick a run.

Layout (one `xarray.Dataset` per source model, `<home>/store/forcing/<source>.nc`):
- dims `station`, `forecast_reference_time` (the run's start, UTC, CF standard_name forecast_reference_time) and
  `lead` (int days from the run's local issue day to the valid local day: 0 = the issue day itself; the local day
  is taken in the configured time zone, Asia/Almaty by default);
- variables `precip_mm` (daily sum, mm), and where given `tmin_c`, `tmax_c`, `tmean_c` (degC), with CF attributes;
- `source_file(forecast_reference_time)` (the file a run came from), attrs `source` (the model: ecmwf-ifs,
  graphcast, wrf-kazhydromet, ...).
Merging is idempotent (the same run ingested twice changes nothing); a value a later ingest changes is written to
`store/forcing_revisions.csv` (what was known when). Files are written atomically under the home's `forcing` lock.

A forecast issued on local day t (at `config.issue_hour` local time) uses the newest run whose
forecast_reference_time is at or before that moment, if it is no older than `config.nwp_max_age_hours`; its
forecast of day t+j is the run's lead j + (t - the run's local day). `station_forcing` gives these as the
`features.nwp_column` columns of a station frame, with which run was used (or why none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from forecasting.canonical import QuarantinedRow
from forecasting.config import DEFAULTS, ForecastConfig
from forecasting.features import NWP_MAX_DAY, inputs_frame, nwp_column

FORCING_VARIABLES: tuple[str, ...] = ("precip_mm", "tmin_c", "tmax_c", "tmean_c")
CF_ATTRS: dict[str, dict[str, str]] = {
    "precip_mm": {
        "units": "mm",
        "long_name": "forecast precipitation, daily sum over the valid local day",
        "standard_name": "lwe_thickness_of_precipitation_amount",
        "cell_methods": "time: sum",
    },
    "tmin_c": {
        "units": "degC",
        "long_name": "forecast daily minimum 2 m air temperature",
        "standard_name": "air_temperature",
        "cell_methods": "time: minimum",
    },
    "tmax_c": {
        "units": "degC",
        "long_name": "forecast daily maximum 2 m air temperature",
        "standard_name": "air_temperature",
        "cell_methods": "time: maximum",
    },
    "tmean_c": {
        "units": "degC",
        "long_name": "forecast daily mean 2 m air temperature",
        "standard_name": "air_temperature",
        "cell_methods": "time: mean",
    },
}
RUN_COLUMNS = ["station_id", "forecast_reference_time", "lead", "variable", "value", "source", "source_file", "row"]
REVISION_COLUMNS = ["station_id", "forecast_reference_time", "lead", "variable", "old_value", "new_value", "source"]


@dataclass
class ForcingResult:
    """What a forcing adapter read: long rows (RUN_COLUMNS; forecast_reference_time UTC, lead in days from the
    run's local issue day), quarantined rows and messages."""

    runs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RUN_COLUMNS))
    quarantine: list[QuarantinedRow] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def extend(self, other: ForcingResult) -> None:
        if len(other.runs):
            self.runs = other.runs.copy() if self.runs.empty else pd.concat([self.runs, other.runs], ignore_index=True)
        self.quarantine.extend(other.quarantine)
        self.messages.extend(other.messages)

    @property
    def sources(self) -> list[str]:
        return sorted(str(s) for s in self.runs["source"].unique()) if len(self.runs) else []


def local_midnight_utc(day: pd.Timestamp, time_zone: str = DEFAULTS.time_zone) -> pd.Timestamp:
    """00:00 local time of `day` as a naive UTC timestamp (how a run dated by its issue day is stored)."""
    return pd.Timestamp(day).normalize().tz_localize(time_zone).tz_convert("UTC").tz_localize(None)


def local_day(frt: pd.Timestamp | pd.DatetimeIndex, time_zone: str = DEFAULTS.time_zone):
    """The local day (naive midnight) of UTC run time(s)."""
    t = pd.DatetimeIndex(np.atleast_1d(pd.to_datetime(frt))).tz_localize("UTC").tz_convert(time_zone)
    out = t.tz_localize(None).normalize()
    return out[0] if np.ndim(frt) == 0 and not isinstance(frt, pd.DatetimeIndex) else out


def build_forcing(runs: pd.DataFrame, source: str) -> xr.Dataset:
    """The forcing dataset of one source from long rows (one value per station, run, lead, variable)."""
    runs = runs[runs["source"] == source]
    sids = sorted(str(s) for s in runs["station_id"].unique())
    frts = pd.DatetimeIndex(sorted(pd.to_datetime(runs["forecast_reference_time"]).unique()))
    leads = np.arange(0, int(max(runs["lead"].max(), NWP_MAX_DAY)) + 1) if len(runs) else np.arange(NWP_MAX_DAY + 1)
    ds = xr.Dataset(
        coords={
            "station": ("station", np.array(sids, dtype=object)),
            "forecast_reference_time": (
                "forecast_reference_time",
                frts.values.astype("datetime64[ns]"),
                {"standard_name": "forecast_reference_time", "long_name": "start of the NWP run (UTC)"},
            ),
            "lead": (
                "lead",
                leads.astype(np.int32),
                {"units": "days", "long_name": "days from the local issue day of the run to the valid local day"},
            ),
        },
        attrs={"title": "Tasqyn forecast forcing (NWP)", "source": source, "Conventions": "CF-1.10"},
    )
    si = pd.Index(sids).get_indexer(runs["station_id"].astype(str))
    fi = frts.get_indexer(pd.to_datetime(runs["forecast_reference_time"]))
    li = runs["lead"].to_numpy(dtype=int)
    for var in FORCING_VARIABLES:
        m = (runs["variable"] == var).to_numpy()
        if not m.any():
            continue
        arr = np.full((len(sids), len(frts), len(leads)), np.nan)
        arr[si[m], fi[m], li[m]] = runs["value"].to_numpy(dtype=float)[m]
        ds[var] = (("station", "forecast_reference_time", "lead"), arr, dict(CF_ATTRS[var]))
    files = runs.groupby("forecast_reference_time")["source_file"].first()
    ds["source_file"] = (
        ("forecast_reference_time",),
        np.array([str(files.get(t, "")) for t in frts], dtype=object),
    )
    return ds


def merge_forcing(old: xr.Dataset | None, new: xr.Dataset) -> tuple[xr.Dataset, pd.DataFrame]:
    """Merge a newly read run set into the stored one of the same source: new values win, unchanged values
    change nothing (idempotent), changed values are returned as revisions (REVISION_COLUMNS)."""
    if old is None or not old.sizes.get("station"):
        return new, pd.DataFrame(columns=REVISION_COLUMNS)
    merged = xr.merge([old.drop_vars("source_file"), new.drop_vars("source_file")], join="outer", compat="override")
    merged = merged.reindex(
        station=sorted(set(old["station"].values) | set(new["station"].values)),
        forecast_reference_time=sorted(
            set(old["forecast_reference_time"].values) | set(new["forecast_reference_time"].values)
        ),
        lead=sorted(set(old["lead"].values) | set(new["lead"].values)),
    )
    revisions = []
    for var in FORCING_VARIABLES:
        if var not in new and var not in old:
            continue
        o = old[var].reindex_like(merged) if var in old else xr.full_like(merged["lead"], np.nan, dtype=float)
        n = new[var].reindex_like(merged) if var in new else xr.full_like(o, np.nan)
        value = n.where(n.notnull(), o)
        changed = o.notnull() & n.notnull() & ~np.isclose(o.fillna(0).values, n.fillna(0).values, rtol=1e-9)
        if bool(changed.any()):
            idx = np.argwhere(changed.values)
            for si, fi, li in idx:
                revisions.append(
                    {
                        "station_id": str(merged["station"].values[si]),
                        "forecast_reference_time": pd.Timestamp(merged["forecast_reference_time"].values[fi]),
                        "lead": int(merged["lead"].values[li]),
                        "variable": var,
                        "old_value": float(o.values[si, fi, li]),
                        "new_value": float(n.values[si, fi, li]),
                        "source": str(new.attrs.get("source", "")),
                    }
                )
        merged[var] = value.transpose("station", "forecast_reference_time", "lead")
        merged[var].attrs = dict(CF_ATTRS[var])
    files_old = pd.Series(old["source_file"].values, index=pd.DatetimeIndex(old["forecast_reference_time"].values))
    files_new = pd.Series(new["source_file"].values, index=pd.DatetimeIndex(new["forecast_reference_time"].values))
    files = files_new.combine_first(files_old).reindex(pd.DatetimeIndex(merged["forecast_reference_time"].values))
    merged["source_file"] = (("forecast_reference_time",), np.array(files.fillna("").astype(str), dtype=object))
    merged.attrs = dict(old.attrs) | dict(new.attrs)
    return merged, pd.DataFrame(revisions, columns=REVISION_COLUMNS)


def forcing_from_result(result: ForcingResult) -> dict[str, xr.Dataset]:
    """One forcing dataset per source model of an adapter result."""
    return {s: build_forcing(result.runs, s) for s in result.sources}


@dataclass
class StationForcing:
    """The NWP inputs of one station for a set of issue days: `columns` (features.nwp_column columns by issue
    day; NaN where no run was used) and `runs` (by issue day: source, run_time (UTC), age_hours, reason ('' when
    a run is used, else why not))."""

    columns: pd.DataFrame
    runs: pd.DataFrame

    def used(self) -> np.ndarray:
        return (self.runs["reason"] == "").to_numpy()


def issue_moment_utc(days: pd.DatetimeIndex, config: ForecastConfig = DEFAULTS) -> pd.DatetimeIndex:
    """The UTC moment of the daily run on each local issue day (config.issue_hour local time)."""
    local = pd.DatetimeIndex(days).normalize() + pd.Timedelta(hours=config.issue_hour)
    return local.tz_localize(config.time_zone).tz_convert("UTC").tz_localize(None)


def station_forcing(
    forcing: dict[str, xr.Dataset] | None,
    station: str,
    issue_days: pd.DatetimeIndex,
    config: ForecastConfig = DEFAULTS,
    variables: tuple[str, ...] = ("precip_mm", "tmean_c"),
) -> StationForcing:
    """For each issue day, the newest run (of the preferred sources, `config.nwp_sources`, else any) issued at or
    before the daily run's moment that forecasts `station`, unless older than `config.nwp_max_age_hours`; its
    daily values for days t+0..t+NWP_MAX_DAY as frame columns. tmean_c is taken from (tmin_c + tmax_c) / 2 where
    only those are given."""
    days = pd.DatetimeIndex(issue_days).normalize()
    cols = {nwp_column(v, j): np.full(len(days), np.nan) for v in variables for j in range(NWP_MAX_DAY + 1)}
    info = pd.DataFrame(
        {"source": "", "run_time": pd.NaT, "age_hours": np.nan, "reason": "no NWP run in the forcing store"},
        index=days,
    )
    info["run_time"] = pd.to_datetime(info["run_time"])
    moment = issue_moment_utc(days, config)
    best_time = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[ns]")
    best_src = np.array([""] * len(days), dtype=object)
    order = [s for s in config.nwp_sources if forcing and s in forcing] or sorted(forcing or {})
    for src in order:
        ds = forcing[src]
        if station not in set(ds["station"].values.astype(str)):
            continue
        frt = pd.DatetimeIndex(ds["forecast_reference_time"].values)
        if not len(frt):
            continue
        pos = frt.searchsorted(moment, side="right") - 1  # newest run at or before the issue moment
        ok = pos >= 0
        cand = np.where(ok, frt.values[np.clip(pos, 0, None)], np.datetime64("NaT"))
        if config.nwp_sources:  # preference: a fresh run of an earlier source wins over a newer one of a later
            fresh_before = ~np.isnat(best_time) & (
                (moment.values - best_time) <= np.timedelta64(int(config.nwp_max_age_hours * 3600), "s")
            )
            take = ok & ~fresh_before
        else:
            take = ok & (np.isnat(best_time) | (cand > best_time))
        best_time = np.where(take, cand, best_time)
        best_src = np.where(take, src, best_src)
    for src in set(best_src) - {""}:
        ds = forcing[src]
        sel = ds.sel(station=station)
        frt = pd.DatetimeIndex(ds["forecast_reference_time"].values)
        rows = np.flatnonzero(best_src == src)
        run_idx = frt.get_indexer(pd.DatetimeIndex(best_time[rows]))
        run_day = local_day(pd.DatetimeIndex(best_time[rows]), config.time_zone)
        shift = (days[rows] - run_day).days.to_numpy()
        leads = ds["lead"].values
        data = {}
        for v in variables:
            if v in sel:
                data[v] = sel[v].values
            elif v == "tmean_c" and "tmin_c" in sel and "tmax_c" in sel:
                data[v] = (sel["tmin_c"].values + sel["tmax_c"].values) / 2.0
        for v, arr in data.items():
            for j in range(NWP_MAX_DAY + 1):
                li = j + shift
                okl = (li >= 0) & (li <= leads.max())
                vals = np.full(len(rows), np.nan)
                vals[okl] = arr[run_idx[okl], np.searchsorted(leads, li[okl])]
                cols[nwp_column(v, j)][rows] = vals
        age = (moment[rows] - pd.DatetimeIndex(best_time[rows])).total_seconds() / 3600.0
        info.iloc[rows, info.columns.get_loc("source")] = src
        info.iloc[rows, info.columns.get_loc("run_time")] = pd.DatetimeIndex(best_time[rows])
        info.iloc[rows, info.columns.get_loc("age_hours")] = age.to_numpy()
        too_old = age.to_numpy() > config.nwp_max_age_hours
        reasons = np.where(
            too_old,
            [
                f"newest NWP run ({src} {pd.Timestamp(t):%Y-%m-%dT%H:%MZ}) is {a:.0f} h old at the issue time "
                f"(max {config.nwp_max_age_hours:g} h)"
                for t, a in zip(best_time[rows], age.to_numpy(), strict=True)
            ],
            "",
        )
        info.iloc[rows, info.columns.get_loc("reason")] = reasons
    columns = pd.DataFrame(cols, index=days)
    unused = (info["reason"] != "").to_numpy()
    columns.loc[unused, :] = np.nan
    return StationForcing(columns, info)


def observed_future(df: pd.DataFrame, variables: tuple[str, ...] = ("precip_mm", "tmean_c")) -> pd.DataFrame:
    """The observed weather of days t+j as if it had been forecast on day t (the `perfect` forcing: an upper
    bound, never an operational input). Columns features.nwp_column(variable, j), j = 0..NWP_MAX_DAY."""
    inp = inputs_frame(df)
    series = {"precip_mm": inp["p"], "tmean_c": inp["t"]}
    out = {}
    for v in variables:
        s = series[v]
        for j in range(NWP_MAX_DAY + 1):
            out[nwp_column(v, j)] = s.shift(-j).to_numpy()
    return pd.DataFrame(out, index=inp.index)


def archive_pairs(forcing: dict[str, xr.Dataset], frames: dict[str, pd.DataFrame], config: ForecastConfig = DEFAULTS):
    """Forecast/observation pairs of every archived run for the error model: columns station_id, run (issue
    day), day (j = valid day - issue day), variable, forecast, observed."""
    out = []
    for sid, df in frames.items():
        inp = inputs_frame(df)
        obs = {"precip_mm": inp["p"], "tmean_c": inp["t"]}
        days = pd.DatetimeIndex(sorted({d for ds in forcing.values() for d in _run_days(ds, sid, config)}))
        if not len(days):
            continue
        sf = station_forcing(forcing, sid, days, config.with_(nwp_max_age_hours=1e9))
        for v, s in obs.items():
            for j in range(1, NWP_MAX_DAY + 1):
                col = nwp_column(v, j)
                if col not in sf.columns:
                    continue
                f = sf.columns[col].to_numpy()
                o = s.reindex(days + pd.Timedelta(days=j)).to_numpy()
                ok = ~np.isnan(f) & ~np.isnan(o)
                if ok.any():
                    out.append(
                        pd.DataFrame(
                            {
                                "station_id": sid,
                                "run": days[ok],
                                "day": j,
                                "variable": v,
                                "forecast": f[ok],
                                "observed": o[ok],
                            }
                        )
                    )
    cols = ["station_id", "run", "day", "variable", "forecast", "observed"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=cols)


def _run_days(ds: xr.Dataset, sid: str, config: ForecastConfig) -> list[pd.Timestamp]:
    if sid not in set(ds["station"].values.astype(str)) or "precip_mm" not in ds:
        return []
    has = np.isfinite(ds["precip_mm"].sel(station=sid).values).any(axis=1)
    return list(local_day(pd.DatetimeIndex(ds["forecast_reference_time"].values[has]), config.time_zone))


def read_forcing_store(folder: Path) -> dict[str, xr.Dataset]:
    """Every source's forcing dataset in `folder` (<home>/store/forcing), by source name."""
    from forecasting.storage import read_netcdf

    folder = Path(folder)
    out = {}
    for p in sorted(folder.glob("*.nc")) if folder.exists() else []:
        ds = read_netcdf(p)
        out[str(ds.attrs.get("source") or p.stem)] = ds
    return out


def forcing_variables(forcing: dict[str, xr.Dataset] | None, stations: list[str] | None = None) -> tuple[str, ...]:
    """The NWP inputs an archive or store can feed (features.NWP_VARIABLES): precipitation if any run has it, mean
    temperature if any run has it (or tmin and tmax)."""
    out = []
    for var, alts in (("precip_mm", ("precip_mm",)), ("tmean_c", ("tmean_c", "tmin_c"))):
        for ds in (forcing or {}).values():
            sel = ds.sel(station=[s for s in ds["station"].values if stations is None or s in stations])
            if any(a in sel and bool(np.isfinite(sel[a].values).any()) for a in alts):
                out.append(var)
                break
    return tuple(out)


# Draws of degraded training forcing an NWP model is trained on: with one draw, the model's response to forecast rain
# depended on that draw (the Rottum with GraphCast, lead-1 skill 0.45 to 0.49 between seeds); more draws average it
# (three: 0.52-0.54 over seeds 0-2, with the gamma objective; five were not better: 0.49 / 0.51 at seeds 0 / 2, as
# three flood days make half of the lead-1 squared error there). Each draw adds the NWP columns once more to the
# training frames (memory) and its rows to the NWP models' training (time).
TRAINING_DRAWS = 3


def training_description(training: str, variables: tuple[str, ...], error_model=None) -> dict:
    """How an NWP model set's training forcing was made (kept in model.json `nwp.training` and the backtest report):
    `training` (its kind), `variables`, and with an error model its parameters and the number of draws."""
    desc: dict = {"training": training, "variables": list(variables)}
    if error_model is not None:
        desc["error_model"] = error_model.to_dict()
        desc["draws"] = TRAINING_DRAWS
    return desc


def training_forcing(
    frames: dict[str, pd.DataFrame],
    variables: tuple[str, ...],
    mode: str = "degraded",
    archive: dict[str, xr.Dataset] | None = None,
    error_model=None,
    seed: int = 0,
    config: ForecastConfig = DEFAULTS,
    draws: int = TRAINING_DRAWS,
) -> dict[str, pd.DataFrame]:
    """The stations' frames with training forcing as features.nwp_column columns: the archived run of each day
    where the archive has one (`archive`), else the observed future, degraded by `error_model`
    (forecasting.models.forcing_error; mode "degraded", the default) or as observed (mode "perfect": the trap of
    training on perfect rain, kept for comparison and for the upper-bound backtest).

    Degraded: `draws` independent draws of the errors, the first in the nwp_column columns, the others in
    nwp_column(variable, day, draw) columns (the model trains on every draw, see TRAINING_DRAWS)."""
    if mode not in ("degraded", "perfect"):
        raise ValueError(f"unknown training forcing mode '{mode}' (degraded or perfect)")
    from forecasting.models.forcing_error import ForcingErrorModel

    rng = np.random.default_rng(seed)
    rng_more = np.random.default_rng([seed, 1])  # the further draws; the first stays that of a single draw
    err = error_model or ForcingErrorModel.default()
    out = {}
    for sid in sorted(frames):
        df = frames[sid]
        observed = observed_future(df, variables)
        arch = None
        if archive:
            sf = station_forcing(archive, sid, pd.DatetimeIndex(df.index), config, variables)
            arch = sf.columns[list(observed.columns)]
        parts = []
        for d in range(max(1, draws) if mode == "degraded" else 1):
            fut = err.degrade(observed, rng if d == 0 else rng_more) if mode == "degraded" else observed
            if arch is not None:
                fut = arch.where(arch.notna(), fut.reindex(arch.index)).reindex(fut.index)
            names = {nwp_column(v, j): nwp_column(v, j, d) for v in variables for j in range(NWP_MAX_DAY + 1)}
            parts.append(fut.rename(columns=names) if d else fut)
        fut = pd.concat(parts, axis=1)
        out[sid] = pd.concat([df.drop(columns=[c for c in fut.columns if c in df]), fut], axis=1)
    return out
