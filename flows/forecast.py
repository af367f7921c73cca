"""The daily forecast flow: ingest what is new, QC, forecast every station, risk, write, record, publish.

Small Prefect tasks composed in one flow (deployment `daily-forecast`, 09:00 Asia/Almaty). A station with stale
data is still forecast and marked stale; a station that cannot be forecast is reported (status failed), never
dropped. Re-running an issue date is idempotent: a new run with the same forecast, which becomes the publication
of that date. A failed run is recorded as failed and leaves the previous publication in place.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pandas as pd
import xarray as xr
from prefect import flow, get_run_logger, task

import flows  # noqa: F401  (environment: no telemetry)
from flows.ingest import inbox_sources
from forecasting.config import DEFAULTS, ForecastConfig, local_today
from forecasting.home import Home
from forecasting.storage import store_snapshot
from forecasting.store import station_table


def forecast_path(home: Home, issue_date: dt.date, run_id: str) -> Path:
    """Where the forecast dataset of a run lives; one file per run, never overwritten."""
    return home.forecasts_dir / issue_date.isoformat() / f"forecast-{run_id}.nc"


@task(name="ingest-new", retries=1, retry_delay_seconds=5)
def ingest_new(home: Home, sources: list[str]) -> list[str]:
    """Ingest new files (default: the inbox); returns one summary line per source (failures are lines too)."""
    from flows.ingest import run_ingest

    lines = []
    for src in sources:
        try:
            lines.append(run_ingest(src, None, home).summary())
        except Exception as exc:  # a bad file never stops the forecast from the data already stored
            lines.append(f"{src}: not ingested: {type(exc).__name__}: {exc}")
    return lines


@task(name="load-usable-store")
def load_usable(home: Home, store_path: Path | None = None, variables: list[str] | None = None) -> xr.Dataset:
    """The QC'd store (BAD values masked, short gaps filled) with the station metadata: the canonical `variables`
    (default all) of every station of the store at `store_path` (default the home's). The daily flow reads only the
    discharge here (the thresholds derived from it); the forecast reads each station itself (flows.parallel)."""
    from forecasting import qc
    from forecasting.storage import read_store_part

    path = store_path or home.observations
    ds = read_store_part(path, variables=variables)
    if ds is None:
        raise FileNotFoundError(f"the store {path} is empty; run 'tasqyn ingest' first")
    return qc.usable(ds)


@task(name="forecast-stations")
def forecast_stations(
    home: Home, store_path: Path, issue_date: dt.date, config: ForecastConfig, workers: int | None = None
) -> xr.Dataset:
    """Forecast every station of the store at `store_path` (a snapshot of the home's, forecasting.storage
    .store_snapshot) as of `issue_date`, in worker processes (flows.parallel: `workers`, default one per core for a
    large network, this process for a small one); each worker loads the models it needs once and reads only the
    stations it forecasts. The result equals make_forecast on the whole QC'd store."""
    import time

    from flows.logging_setup import current_level
    from flows.parallel import forecast_all

    logger = get_run_logger()
    forcing = _nwp_forcing(home)
    t0 = time.perf_counter()
    spent: dict[str, float] = {}
    fc = forecast_all(
        store_path,
        home.models_dir,
        pd.Timestamp(issue_date),
        config,
        forcing=forcing,
        workers=workers,
        log=(str(home.root), current_level()),
        stats=spent,
    )
    used = int(spent.get("workers", 1))
    logger.info(
        f"forecast {fc.sizes.get('station', 0)} stations in {time.perf_counter() - t0:.1f} s ({used} "
        f"process{'es' if used > 1 else ''}; summed over them: reading {spent.get('read_s', 0):.1f} s, loading "
        f"models {spent.get('models_s', 0):.1f} s, forecasting {spent.get('forecast_s', 0):.1f} s)"
    )
    return fc


def _nwp_forcing(home: Home) -> dict:
    """The forcing store for the NWP models (flows.nwp); {} (forecast without NWP, said per station) when it is
    empty or cannot be read: a missing weather forecast never blocks the daily run."""
    from flows.nwp import load_forcing

    try:
        return load_forcing(home)
    except Exception as exc:
        get_run_logger().warning(f"forcing store not read, forecasting without NWP: {type(exc).__name__}: {exc}")
        return {}


@task(name="thresholds")
def current_thresholds(home: Home, store: xr.Dataset, thresholds_file: str | None) -> tuple[pd.DataFrame, dict]:
    from forecasting.thresholds import station_thresholds

    return station_thresholds(store, thresholds_file)


@task(name="write-forecast", retries=2, retry_delay_seconds=2)
def write_forecast(fc: xr.Dataset, path: Path) -> Path:
    from forecasting.storage import write_netcdf_atomic

    if path.exists():
        raise FileExistsError(f"{path} exists; forecasts are never overwritten")
    return write_netcdf_atomic(fc, path)


@flow(name="daily-forecast")
def forecast_flow(
    issue_date: str | None = None,
    home: str | None = None,
    leads: int | None = None,
    ingest: bool = True,
    sources: list[str] | None = None,
    publish: bool = False,
    alert_probability: float | None = None,
    stale_after_days: int | None = None,
    thresholds_file: str | None = None,
    database_url: str | None = None,
    workers: int | None = None,
) -> dict:
    """Forecast every station as of `issue_date` (default: today in Asia/Almaty) and record the run.

    `publish`: publish at once, marked `unreviewed` (the demo, or a service without reviewers); otherwise the run
    is a draft that a hydrologist approves. `leads` (the last lead day), `alert_probability` and
    `stale_after_days` default to forecasting.config.DEFAULTS. `workers`: forecast worker processes (default: one
    per core for a large network; flows.parallel). Returns a summary dict (run_id, path, counts, stations by
    status).
    """
    from flows.outreach import after_publication
    from forecasting.risk import add_risk
    from records.db import database_url as db_url
    from records.db import open_database, session_scope
    from records.publication import (
        fail_abandoned_runs,
        fail_run,
        latest_threshold_version,
        load_thresholds,
        publish_forecast,
        record_run,
        save_thresholds,
    )

    logger = get_run_logger()
    h = Home.from_env(home).ensure()
    config = DEFAULTS.with_(
        leads=tuple(range(1, leads + 1)) if leads else None,
        alert_probability=alert_probability,
        stale_after_days=stale_after_days,
    )
    issue = dt.date.fromisoformat(issue_date) if issue_date else local_today(config.time_zone)
    run_id = f"{issue.isoformat()}-{uuid.uuid4().hex[:8]}"
    engine, factory = open_database(db_url(h, database_url))
    with session_scope(factory) as s:
        for dead in fail_abandoned_runs(s, h.forecasts_dir):  # runs whose process was killed while running
            logger.warning(f"run {dead} was left running by a process that is gone: marked failed")
        record_run(s, run_id, issue, status="running")
    try:
        notes: list[str] = []
        if ingest:
            notes += ingest_new(h, sources if sources is not None else inbox_sources(h))
        with store_snapshot(h) as snap:  # every process of the run reads the same store, whatever an ingest does
            if snap is None:
                raise FileNotFoundError(f"the store {h.observations} is empty; run 'tasqyn ingest' first")
            usable = load_usable(h, snap, ["discharge_m3s"])  # metadata and discharge (thresholds), not the rest
            fc = forecast_stations(h, snap, issue, config, workers)
        table, th_notes = current_thresholds(h, usable, thresholds_file)
        with session_scope(factory) as s:
            stored_version = latest_threshold_version(s)
            stored = load_thresholds(s, stored_version) if stored_version is not None else None
            from forecasting.thresholds import next_version

            version, changed = next_version(table, stored, stored_version)
            if changed:
                version = save_thresholds(s, table, valid_from=issue)
        fc = add_risk(fc, table, config.alert_probability, threshold_version=version)
        meta = station_table(usable)
        basin_of = {str(k): str(v) for k, v in meta["basin"].items()}
        basin_names = _basin_names(meta)
        fc.attrs["run_id"] = run_id
        path = write_forecast(fc, forecast_path(h, issue, run_id))
        with session_scope(factory) as s:
            run = publish_forecast(
                s,
                fc,
                run_id,
                review_status="unreviewed" if publish else "draft",
                publish=publish,
                forecast_path=str(path),
                basin_of=basin_of,
                basin_names=basin_names,
            )
            counts = {
                "n_stations": run.n_stations,
                "n_forecast": run.n_forecast,
                "n_stale": run.n_stale,
                "n_failed": run.n_failed,
            }
        outreach = after_publication(h, db_url(h, database_url), run_id) if publish else {}  # never raises
        status = pd.Series(fc["status"].values.astype(str), index=fc["station"].values.astype(str))
        for sid, msg in zip(status.index, fc["message"].values.astype(str), strict=True):
            if status[sid] != "ok":
                logger.warning(f"{sid}: {status[sid]}: {msg}")
        for sid, why in th_notes.items():
            logger.warning(f"{sid}: {why}")
        logger.info(f"run {run_id}: {counts}")
        return {
            "run_id": run_id,
            "issue_date": issue.isoformat(),
            "path": str(path),
            "published": publish,
            **counts,
            "status": status.to_dict(),
            "threshold_version": version,
            "notes": notes,
            "threshold_notes": th_notes,
            "outreach": outreach,
        }
    except Exception as exc:
        with session_scope(factory) as s:
            fail_run(s, run_id, issue, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        engine.dispose()


def _basin_names(meta: pd.DataFrame) -> dict[str, str]:
    """A basin's display name: the river of a single-station basin, else the basin id as given (e.g. Есіл)."""
    names = {}
    for basin, grp in meta.groupby("basin"):
        rivers = sorted({r for r in grp["river"] if r})
        names[str(basin)] = rivers[0] if len(grp) == 1 and rivers else str(basin)
    return names
