"""Training as a Prefect flow: one task per basin, so one failing basin is reported while the others finish.

In-process by default (Prefect's ThreadPoolTaskRunner); on a Dask cluster when an address is given
(`--dask-address` or $TASQYN_DASK_ADDRESS) through prefect-dask's DaskTaskRunner. Each task reads the store from
the home directory itself (workers need the same home path), trains the basin and saves it in the model registry.
When all basins are trained, one more task trains the global model on all stations (`GLOBAL_MODEL`), which the
daily forecast averages with each basin's model.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

import flows  # noqa: F401  (environment: no telemetry)
from forecasting.home import Home

DASK_ENV = "TASQYN_DASK_ADDRESS"


def basin_stations(home: Home, basins: list[str] | None = None) -> dict[str, list[str]]:
    """Basin id -> station ids of the store (a station without a basin is its own basin)."""
    from forecasting.storage import open_store
    from forecasting.store import station_table

    ds = open_store(home.observations)
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
    from forecasting.storage import open_store
    from forecasting.store import station_frame, station_table

    t0 = time.perf_counter()
    home = Home(Path(home_root))
    ds = open_store(home.observations)
    if ds is None:
        raise FileNotFoundError(f"the store {home.observations} is empty")
    ds = qc.usable(ds.sel(station=stations))
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
    from forecasting.forcing import archive_pairs, forcing_variables, training_forcing
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
        {"training": "archive runs, else degraded", "variables": list(variables), "error_model": err.to_dict()},
    )


train_basin_task = task(train_basin, name="train-basin", retries=0)


@flow(name="train", log_prints=False)
def _train(home_root: str, groups: dict[str, list[str]], leads: list[int]) -> dict:
    """One task per basin (one LightGBM thread each: the task runner gives the parallelism)."""
    futures = {b: train_basin_task.submit(home_root, b, s, leads) for b, s in groups.items()}
    trained, failed = {}, {}
    for b, fut in futures.items():
        fut.wait()
        state = fut.state
        if state.is_completed():
            trained[b] = fut.result()
        else:
            exc = fut.result(raise_on_failure=False)
            failed[b] = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(state.message)
    return {"trained": trained, "failed": failed}


def train_flow(
    home: str | Path | None = None,
    basins: list[str] | None = None,
    dask_address: str | None = None,
    leads: list[int] | None = None,
) -> dict:
    """Train the basins of the store (all, or `basins`) and save them in the model registry.

    Returns {"trained": {basin: summary}, "failed": {basin: error}}; a failing basin never stops the others.
    Training all basins also trains the global model (key GLOBAL_MODEL) on all stations.
    Runs in-process (two threads) unless a Dask scheduler address is given (or set in $TASQYN_DASK_ADDRESS)."""
    from forecasting.ids import id_problem
    from forecasting.model_registry import GLOBAL_MODEL

    h = Home.from_env(home).ensure()
    groups = basin_stations(h, basins)
    invalid = {b: f"basin id {b[:80]!r} is not a valid id ({p}); not trained" for b in groups if (p := id_problem(b))}
    groups = {b: s for b, s in groups.items() if b not in invalid}
    everyone = [s for sids in groups.values() for s in sids]
    if not basins and len(groups) > 1:  # the global model, all stations pooled (first: it takes longest)
        groups = {GLOBAL_MODEL: everyone, **groups}
    leads = list(leads or range(1, 8))
    address = dask_address or os.environ.get(DASK_ENV)
    if address:
        from prefect_dask import DaskTaskRunner

        runner = DaskTaskRunner(address=address)
    else:
        runner = ThreadPoolTaskRunner(max_workers=2)
    if not groups:
        return {"trained": {}, "failed": invalid}
    out = _train.with_options(task_runner=runner)(str(h.root), groups, leads)
    out["failed"].update(invalid)
    return out


@flow(name="weekly-retrain")
def retrain_flow(home: str | None = None, basins: list[str] | None = None, dask_address: str | None = None) -> dict:
    """Deployment `weekly-retrain`: retrain every basin (or `basins`) on everything known, in-process or on Dask.

    The new versions become CURRENT; older versions stay in the registry so old forecasts remain reproducible.
    """
    return train_flow(home=home, basins=basins, dask_address=dask_address)
