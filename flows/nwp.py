"""Weather forecasts (NWP) into the forcing store, and the `ingest-nwp` deployment.

`run_ingest_nwp(source, fmt, home)` reads a file or folder with a forcing adapter (`nwp-csv`, `nwp-grid`), merges
each source model's runs into `<home>/store/forcing/<source>.nc` holding the home's `forcing` lock
(forecasting.locks), writes atomically, appends changed values to `store/forcing_revisions.csv` and every ingest
to `store/forcing_ingest_log.csv`, and quarantines bad rows to `<home>/quarantine/`. Re-ingesting the same run
changes nothing (idempotent).

The flow `ingest_nwp_flow` (deployment `ingest-nwp`) ingests what a sync job or Kazhydromet's own model dropped in
`$TASQYN_HOME/inbox/nwp/` (GRIB2 or NetCDF grids averaged over the basin polygons of `<home>/basins/`, or nwp-csv
series). Optionally (`fetch_opendata=True`, or $TASQYN_ECMWF_OPENDATA=1) it first downloads the latest ECMWF open
data run with the `ecmwf-opendata` client into the inbox: off by default, never used in tests. The daily forecast
(flows/forecast.py) then uses the newest run issued by its issue time (forecasting.forcing.station_forcing); a
missing or too old run makes it fall back to the models without NWP, said per station, never blocking the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger

import flows  # noqa: F401  (environment: no telemetry)
from forecasting.canonical import QuarantinedRow
from forecasting.config import DEFAULTS, ForecastConfig
from forecasting.home import Home

FORCING_FORMATS = ("nwp-csv", "nwp-grid")
OPENDATA_ENV = "TASQYN_ECMWF_OPENDATA"


def forcing_dir(home: Home) -> Path:
    """Where the forcing store lives: `<home>/store/forcing/` (one NetCDF per source model)."""
    return home.store_dir / "forcing"


def nwp_inbox(home: Home) -> Path:
    """`<home>/inbox/nwp/`: where NWP runs are dropped for the `ingest-nwp` deployment."""
    return home.root / "inbox" / "nwp"


@dataclass
class NwpIngestReport:
    """What one NWP ingest did (the same shape as the observation ingest's report for the CLI)."""

    source: str
    fmt: str
    runs: int = 0  # runs (source model x forecast_reference_time) read
    values: int = 0
    revised: int = 0
    sources: list[str] = field(default_factory=list)
    latest_run: str = ""
    messages: list[str] = field(default_factory=list)
    quarantine: list[QuarantinedRow] = field(default_factory=list)
    quarantine_file: str | None = None

    @property
    def ok(self) -> bool:
        return self.values > 0

    @property
    def quarantined(self) -> int:
        return len(self.quarantine)

    def summary(self) -> str:
        models = ", ".join(self.sources) or "none"
        return (
            f"{self.source} ({self.fmt}): {self.runs} NWP runs of {models}, {self.values} values kept, "
            f"{self.revised} revised, {self.quarantined} quarantined; latest run {self.latest_run or '-'}"
        )


def read_forcing_source(source: str | Path, fmt: str, home: Home, config: ForecastConfig = DEFAULTS):
    """Read a forcing file or folder with its adapter (nwp-grid uses the basin polygons of <home>/basins)."""
    if fmt == "nwp-csv":
        from forecasting.sources.nwp_csv import read_nwp_csv_folder

        return read_nwp_csv_folder(Path(source), config.time_zone)
    if fmt == "nwp-grid":
        from forecasting.sources.nwp_grid import read_nwp_grid_source

        return read_nwp_grid_source(Path(source), home.root / "basins", station_points(home), config.time_zone)
    raise KeyError(f"unknown forcing format '{fmt}'; known: {', '.join(FORCING_FORMATS)}")


def station_points(home: Home) -> dict[str, tuple[float, float]]:
    """(lat, lon) of the stations of the observation store, for the nearest grid cell of a station without a basin
    polygon ({} when the store is empty)."""
    from forecasting.storage import open_store
    from forecasting.store import station_table

    ds = open_store(home.observations)
    if ds is None:
        return {}
    t = station_table(ds)
    return {
        str(s): (float(r["lat"]), float(r["lon"]))
        for s, r in t.iterrows()
        if pd.notna(r.get("lat")) and pd.notna(r.get("lon"))
    }


def run_ingest_nwp(
    source: str | Path, fmt: str | None = None, home: Home | None = None, config: ForecastConfig = DEFAULTS
) -> NwpIngestReport:
    """Ingest one NWP file or folder into the forcing store (see module docstring). Plain function."""
    from forecasting import locks
    from forecasting.forcing import forcing_from_result, merge_forcing
    from forecasting.storage import append_csv, read_netcdf, write_netcdf_atomic, write_quarantine

    home = (home or Home.from_env()).ensure()
    src = str(source)
    if not Path(src).exists():
        raise FileNotFoundError(f"{src}: no such file or folder")
    fmt = fmt or _detect(Path(src))
    result = read_forcing_source(src, fmt, home, config)
    report = NwpIngestReport(src, fmt, messages=list(result.messages), quarantine=list(result.quarantine))
    new = forcing_from_result(result)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    folder = forcing_dir(home)
    with home.lock(locks.FORCING):
        for name, ds in new.items():
            path = folder / f"{_safe(name)}.nc"
            old = read_netcdf(path) if path.exists() else None
            merged, revisions = merge_forcing(old, ds)
            write_netcdf_atomic(merged, path)
            if len(revisions):
                append_csv(home.store_dir / "forcing_revisions.csv", revisions.assign(ingested_at=stamp, file=src))
            report.revised += len(revisions)
        qfile = write_quarantine(home.quarantine_dir, src.rstrip("/"), report.quarantine)
        report.quarantine_file = str(qfile) if qfile else None
        report.sources = sorted(new)
        report.values = len(result.runs)
        report.runs = int(result.runs.groupby(["source", "forecast_reference_time"]).ngroups) if len(result.runs) else 0
        if len(result.runs):
            report.latest_run = f"{pd.Timestamp(result.runs['forecast_reference_time'].max()):%Y-%m-%dT%H:%MZ}"
        append_csv(
            home.store_dir / "forcing_ingest_log.csv",
            pd.DataFrame(
                [
                    {
                        "ingested_at": stamp,
                        "source": src,
                        "format": fmt,
                        "models": ",".join(report.sources),
                        "runs": report.runs,
                        "values": report.values,
                        "revised": report.revised,
                        "quarantined": report.quarantined,
                        "latest_run": report.latest_run,
                    }
                ]
            ),
        )
    return report


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "unknown"


def _detect(path: Path) -> str:
    from forecasting.sources import get_adapter

    hits = [f for f in FORCING_FORMATS if get_adapter(f).detect(path)]
    if len(hits) != 1:
        raise KeyError(f"{path}: give --format ({' or '.join(FORCING_FORMATS)}); recognised: {hits or 'none'}")
    return hits[0]


def load_forcing(home: Home) -> dict:
    """The forcing store (source -> dataset), {} when nothing was ingested."""
    from forecasting.forcing import read_forcing_store

    return read_forcing_store(forcing_dir(home))


def fetch_ecmwf_opendata(target: Path, steps: list[int] | None = None) -> Path:  # pragma: no cover (network)
    """Download the latest ECMWF open-data IFS run (tp, 2t; 3-hourly to 144 h then 6-hourly to 240 h) as GRIB2
    into `target` with the `ecmwf-opendata` client. Needs a network and the optional package; never in tests."""
    from ecmwf.opendata import Client  # optional dependency

    steps = steps or [*range(0, 145, 3), *range(150, 241, 6)]
    target.mkdir(parents=True, exist_ok=True)
    out = target / f"ecmwf-ifs_{datetime.now(UTC):%Y%m%dT%H%M}.grib2"
    Client(source="ecmwf").retrieve(type="fc", param=["tp", "2t"], step=steps, target=str(out))
    return out


@flow(name="ingest-nwp")
def ingest_nwp_flow(home: str | None = None, fmt: str | None = None, fetch_opendata: bool | None = None) -> dict:
    """Deployment `ingest-nwp`: ingest the NWP runs in $TASQYN_HOME/inbox/nwp/ into the forcing store.

    Each file is ingested on its own (a bad file is reported, the others go on; re-ingesting is idempotent).
    Returns {"files": [summaries], "latest_run": newest run time in the store per source model}."""
    logger = get_run_logger()
    h = Home.from_env(home).ensure()
    inbox = nwp_inbox(h)
    inbox.mkdir(parents=True, exist_ok=True)
    if fetch_opendata if fetch_opendata is not None else os.environ.get(OPENDATA_ENV) == "1":
        try:
            fetch_ecmwf_opendata(inbox)
        except Exception as exc:  # the inbox is ingested anyway
            logger.warning(f"ECMWF open data not fetched: {type(exc).__name__}: {exc}")
    files = []
    for p in sorted(inbox.iterdir()):
        if p.name.startswith(".") or p.is_dir():
            continue
        try:
            rep = run_ingest_nwp(p, fmt, h)
            logger.info(rep.summary())
            for m in rep.messages:
                logger.warning(m)
            files.append({"file": str(p), "ok": rep.ok, "summary": rep.summary()})
        except Exception as exc:  # one bad file never stops the others
            logger.error(f"{p}: not ingested: {type(exc).__name__}: {exc}")
            files.append({"file": str(p), "ok": False, "summary": f"{type(exc).__name__}: {exc}"})
    latest = {
        name: f"{pd.Timestamp(ds['forecast_reference_time'].values.max()):%Y-%m-%dT%H:%MZ}"
        for name, ds in load_forcing(h).items()
        if ds.sizes.get("forecast_reference_time")
    }
    return {"files": files, "latest_run": latest}
