"""Training as a Prefect flow: one task per basin, so one failing basin is reported while the others finish.

The basins train in parallel worker processes on this machine by default (Prefect's ProcessPoolTaskRunner, one
process per core or `workers`, one LightGBM thread each), or on a Dask cluster when an address is given
(`--dask-address` or $TASQYN_DASK_ADDRESS) through prefect-dask's DaskTaskRunner (docs/OPERATIONS.md: a
`dask scheduler` and `dask worker`s on other machines). Each task reads only its basin's stations from the store of
the home directory (workers elsewhere need the same home path, e.g. a shared mount), trains the basin and saves it
in the model registry. One more task, submitted first because it takes longest, trains the global model
(`GLOBAL_MODEL`), which the daily forecast averages with each basin's model, on all stations pooled, or on at most
`GLOBAL_MAX_STATIONS` of them spread over the basins in a large network (a station outside it is forecast by its
basin's model alone). After training, one task per basin fits how its CURRENT model combines with the CURRENT global
model (weights and spread per lead on their shared held-out years, forecasting.model_registry.fit_pairing) and saves
it beside the basin model: every basin when a new global model was trained, else the basins trained.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from prefect import flow, task
from prefect.futures import as_completed

import flows  # noqa: F401  (environment: no telemetry)
from forecasting.home import Home

DASK_ENV = "TASQYN_DASK_ADDRESS"
GLOBAL_MAX_ENV = "TASQYN_GLOBAL_MAX_STATIONS"
# The global model pools every station's rows: 1,000 stations of 40 years would be 14 million rows per lead, about
# 50 minutes on one core and several GB; a sample spread over the basins gives the pooled model its breadth.
GLOBAL_MAX_STATIONS = 150


def basin_stations(home: Home, basins: list[str] | None = None) -> dict[str, list[str]]:
    """Basin id -> station ids of the store (a station without a basin is its own basin)."""
    from forecasting.storage import read_station_metadata
    from forecasting.store import station_table

    ds = read_station_metadata(home.observations)
    if ds is None:
        raise FileNotFoundError(f"the store {home.observations} is empty; run 'tasqyn ingest' first")
    table = station_table(ds)
    out: dict[str, list[str]] = {}
    for sid, b in table["basin"].items():
        out.setdefault(str(b), []).append(str(sid))
    if basins:
        unknown = [b for b in basins if b not in out]
        if unknown:
            raise KeyError(f"unknown basin(s) {', '.join(unknown)}; known: {', '.join(sorted(out))}")
        out = {b: out[b] for b in basins}
    return out


def train_basin(home_root: str, basin: str, stations: list[str], leads: list[int], num_threads: int = 1) -> dict:
    """Train one basin from the store and save it in the registry; returns a summary (raises on failure)."""
    from forecasting import qc
    from forecasting.model_registry import fit_basin_model, save_model
    from forecasting.models.lgbm import LGBMParams
    from forecasting.storage import read_store_part
    from forecasting.store import station_frame, station_table

    t0 = time.perf_counter()
    home = Home(Path(home_root))
    ds = read_store_part(home.observations, stations)  # only this basin's stations (one chunk each on disk)
    if ds is None:
        raise FileNotFoundError(f"the store {home.observations} is empty")
    ds = qc.usable(ds)
    table = station_table(ds)
    frames = {s: station_frame(ds, s) for s in stations}
    attrs = {s: {"area_km2": table.loc[s, "area_km2"]} for s in stations}
    nwp_frames, variables, desc = nwp_training_frames(home, frames)
    bm = fit_basin_model(
        basin, frames, attrs, leads, LGBMParams(num_threads=num_threads), None, nwp_frames, variables, desc
    )
    folder = save_model(home.models_dir, bm)
    return {
        "basin": basin,
        "version": bm.version,
        "stations": stations,
        "fallback": bm.fallback,
        "path": str(folder),
        "seconds": round(time.perf_counter() - t0, 2),
        "validation": bm.model.validation if bm.model is not None else {},
        "nwp": desc if bm.nwp_model is not None else {},
    }


def nwp_training_frames(home: Home, frames: dict) -> tuple[dict | None, tuple[str, ...], dict]:
    """Training forcing for the NWP model set from the home's forcing store (flows.nwp): the archived run of each
    day where there is one, else the observed future degraded by the error model fitted on the stored runs (the
    default error model when fewer than forcing_error.MIN_PAIRS runs are stored). (None, (), {}) when the store has
    no run for these stations: only the plain models are trained."""
    from flows.nwp import load_forcing
    from forecasting.forcing import archive_pairs, forcing_variables, training_description, training_forcing
    from forecasting.models.forcing_error import ForcingErrorModel

    store = load_forcing(home)
    variables = forcing_variables(store, list(frames))
    if "precip_mm" not in variables:
        return None, (), {}
    pairs = archive_pairs(store, frames)
    err = ForcingErrorModel.fit(pairs, "forcing store") if len(pairs) else ForcingErrorModel.default()
    nwp_frames = training_forcing(frames, variables, "degraded", store, err)
    return (
        nwp_frames,
        variables,
        training_description("archive runs, else degraded", variables, err),
    )


train_basin_task = task(train_basin, name="train-basin", retries=0)


def pair_basin(home_root: str, basin: str, global_version: str | None = None) -> dict:
    """Fit how the basin's CURRENT model combines with the global model (its CURRENT version, or `global_version`)
    on the held-out years both share (forecasting.model_registry.fit_pairing) and save it beside the basin model.
    Returns a summary: the global version and, per lead, the weight of the global model and the spread."""
    from forecasting import qc
    from forecasting.model_registry import GLOBAL_MODEL, fit_pairing, load_model, save_pairing
    from forecasting.storage import read_store_part
    from forecasting.store import station_frame

    home = Home(Path(home_root))
    bm = load_model(home.models_dir, basin)
    gm = load_model(home.models_dir, GLOBAL_MODEL, global_version)
    shared = [s for s in bm.stations if gm.model is not None and s in gm.model.stations]
    if not shared or bm.model is None:
        return {"basin": basin, "global_version": gm.version, "stations": []}
    ds = read_store_part(home.observations, shared)
    if ds is None:
        raise FileNotFoundError(f"the store {home.observations} is empty")
    ds = qc.usable(ds)
    frames = {s: station_frame(ds, s) for s in shared}
    nwp_frames = nwp_training_frames(home, frames)[0] if bm.nwp_model and gm.nwp_model else None
    bm.ensembles[gm.version] = fit_pairing(bm, gm, frames, nwp_frames)
    save_pairing(home.models_dir, bm, gm.version)
    return {
        "basin": basin,
        "global_version": gm.version,
        "stations": shared,
        "fits": {part: fit.to_dict() for part, fit in bm.ensembles[gm.version].items()},
    }


pair_basin_task = task(pair_basin, name="pair-basin", retries=0)


def global_sample(groups: dict[str, list[str]], limit: int) -> list[str]:
    """The stations the global model pools: all of them, or at most `limit` taken in turn from each basin (basins
    in name order, each basin's stations in store order), so that every basin is represented before any gives two."""
    everyone = [s for sids in groups.values() for s in sids]
    if limit <= 0 or len(everyone) <= limit:
        return everyone
    queues = [list(groups[b]) for b in sorted(groups)]
    picked: list[str] = []
    while len(picked) < limit:
        for q in queues:
            if q and len(picked) < limit:
                picked.append(q.pop(0))
    order = {s: i for i, s in enumerate(everyone)}
    return sorted(picked, key=order.__getitem__)


@flow(name="train", log_prints=False)
def _train(home_root: str, groups: dict[str, list[str]], leads: list[int]) -> dict:
    """One task per basin (one LightGBM thread each: the task runner gives the parallelism); each basin is logged
    and reported (forecasting.progress, kind "basin") as it finishes."""
    from prefect import get_run_logger

    from forecasting import progress
    from forecasting.model_registry import GLOBAL_MODEL

    logger = get_run_logger()
    share_temporary_api()
    futures = {train_basin_task.submit(home_root, b, s, leads): b for b, s in groups.items()}
    trained, failed = {}, {}
    for done, fut in enumerate(as_completed(list(futures)), start=1):
        b = futures[fut]
        fut.wait()  # a distributed future's state is final only after wait()
        state = fut.state
        if state.is_completed():
            trained[b] = fut.result()
            logger.info(f"basin {b} trained in {trained[b]['seconds']} s ({done}/{len(futures)})")
        else:
            exc = fut.result(raise_on_failure=False)
            failed[b] = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(state.message)
            logger.warning(f"basin {b} failed ({done}/{len(futures)}): {failed[b]}")
        progress.report("basin", b, done, len(futures))
    to_pair = [b for b in trained if b != GLOBAL_MODEL]
    if GLOBAL_MODEL in trained:  # a new global model: every basin's CURRENT model (also one that failed to retrain)
        from forecasting.model_registry import list_basins

        to_pair = [b for b in list_basins(Home(Path(home_root)).models_dir) if b != GLOBAL_MODEL]
    paired = _pair_with_global(home_root, to_pair, logger)
    return {"trained": trained, "failed": failed, "paired": paired}


def _pair_with_global(home_root: str, basins: list[str], logger) -> dict:
    """After training: fit how each of `basins` (their CURRENT models) combines with the CURRENT global model (one
    task per basin; a failure leaves that basin on the default weights, logged)."""
    from forecasting.model_registry import GLOBAL_MODEL, current_version

    home = Home(Path(home_root))
    if not basins or current_version(home.models_dir, GLOBAL_MODEL) is None:
        return {}
    futures = {pair_basin_task.submit(home_root, b): b for b in basins}
    out = {}
    for fut in as_completed(list(futures)):
        b = futures[fut]
        fut.wait()
        if fut.state.is_completed():
            out[b] = fut.result()
        else:
            exc = fut.result(raise_on_failure=False)
            logger.warning(f"basin {b}: not paired with the global model ({exc}); the default weights stand")
    if out:
        logger.info(f"{len(out)} basin(s) paired with the global model")
    return out


def share_temporary_api() -> None:
    """Without a Prefect server (no PREFECT_API_URL: a `tasqyn` command), Prefect runs a temporary API server for
    this process; worker processes started after this call report their task runs to it (through PREFECT_API_URL in
    the environment they inherit) instead of each starting a server of its own (about 12 s each)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import get_current_settings

    if get_current_settings().api.url or os.environ.get("PREFECT_API_URL"):
        return
    with get_client(sync_client=True) as client:
        os.environ["PREFECT_API_URL"] = str(client.api_url)


def train_flow(
    home: str | Path | None = None,
    basins: list[str] | None = None,
    dask_address: str | None = None,
    leads: list[int] | None = None,
    workers: int | None = None,
) -> dict:
    """Train the basins of the store (all, or `basins`) and save them in the model registry.

    Returns {"trained": {basin: summary}, "failed": {basin: error}}; a failing basin never stops the others.
    Training all basins also trains the global model (key GLOBAL_MODEL) on all stations, or on at most
    $TASQYN_GLOBAL_MAX_STATIONS (default GLOBAL_MAX_STATIONS) spread over the basins.
    Runs in `workers` local processes (default: one per core) unless a Dask scheduler address is given (or set in
    $TASQYN_DASK_ADDRESS): then on that cluster's workers."""
    from prefect.task_runners import ProcessPoolTaskRunner

    from flows.logging_setup import configure_logging, current_level
    from flows.parallel import available_cores
    from forecasting.ids import id_problem
    from forecasting.model_registry import GLOBAL_MODEL

    h = Home.from_env(home).ensure()
    groups = basin_stations(h, basins)
    invalid = {b: f"basin id {b[:80]!r} is not a valid id ({p}); not trained" for b in groups if (p := id_problem(b))}
    groups = {b: s for b, s in groups.items() if b not in invalid}
    if not basins and len(groups) > 1:  # the global model, stations pooled (first: it takes longest)
        limit = int(os.environ.get(GLOBAL_MAX_ENV, GLOBAL_MAX_STATIONS))
        groups = {GLOBAL_MODEL: global_sample(groups, limit), **groups}
    leads = list(leads or range(1, 8))
    address = dask_address or os.environ.get(DASK_ENV)
    if not groups:
        return {"trained": {}, "failed": invalid}
    if address:
        from prefect_dask import DaskTaskRunner

        runner = DaskTaskRunner(address=address)
    else:
        n = min(workers or available_cores(), len(groups))
        runner = ProcessPoolTaskRunner(
            max_workers=max(1, n), initializer=configure_logging, initargs=(str(h.root), current_level())
        )
    out = _train.with_options(task_runner=runner)(str(h.root), groups, leads)
    out["failed"].update(invalid)
    return out


@flow(name="weekly-retrain")
def retrain_flow(
    home: str | None = None,
    basins: list[str] | None = None,
    dask_address: str | None = None,
    workers: int | None = None,
) -> dict:
    """Deployment `weekly-retrain`: retrain every basin (or `basins`) on everything known, in local worker processes
    or on Dask.

    The new versions become CURRENT; older versions stay in the registry so old forecasts remain reproducible.
    """
    return train_flow(home=home, basins=basins, dask_address=dask_address, workers=workers)
