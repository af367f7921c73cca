"""The daily forecast of many stations in parallel worker processes.

`forecast_all(store_path, models_dir, issue_date, config, forcing, workers)` forecasts every station of the store
with `forecasting.forecast.make_forecast`, basin by basin:

- the stations are cut into chunks of whole basins (a basin larger than a chunk is split), the largest first;
- each worker process (spawned: nothing inherited from the parent's threads) opens the store once, without reading
  it, and reads only the stations of the chunk it is given (`forecasting.storage.store_part`: the store is chunked
  one station per chunk on disk), QCs them (`qc.usable`) and forecasts them;
- each worker loads a basin's model the first time one of its chunks needs it and keeps it (models are loaded once
  per worker; each basin's chunks go to one worker as far as the pool allows), and the global model once;
- the chunks' forecast datasets are put back together in the store's station order.

With `workers=1` the same chunks run in this process, one after the other (no pool). Either way every station is
forecast from its own frame, its basin's model, the global model and the forcing exactly as `make_forecast` on the
whole store would: the result is the same, value for value (tests/test_parallel_forecast.py). The store is never
read whole: a 1,000-station store is about 1 GB of arrays, of which a chunk reads a few MB.

Progress: `forecasting.progress.report("station", last station of the chunk, stations done, total)` after each
chunk; a listener (the command line's progress bar) sees it.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

WORKERS_ENV = "TASQYN_FORECAST_WORKERS"
# Below this many stations per worker process a pool costs more (start-up, imports: 2-4 s) than it saves.
MIN_STATIONS_PER_WORKER = 40
CHUNKS_PER_WORKER = 6  # chunks per worker: small enough to balance the load, large enough to amortise a read

_STATE: dict[str, Any] = {}  # per process: store path, open store, models dir and cache, forcing, config


def default_workers(n_stations: int, workers: int | None = None) -> int:
    """Worker processes for `n_stations`: `workers` if given (or $TASQYN_FORECAST_WORKERS), else one per core but
    no more than one per MIN_STATIONS_PER_WORKER stations (a small network runs in this process)."""
    if workers is None and os.environ.get(WORKERS_ENV):
        workers = int(os.environ[WORKERS_ENV])
    if workers is not None:
        return max(1, int(workers))
    return max(1, min(available_cores(), n_stations // MIN_STATIONS_PER_WORKER))


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells, else the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def plan_chunks(meta: pd.DataFrame, n_chunks: int) -> list[list[str]]:
    """Stations (index of `meta`, with a `basin` column) cut into about `n_chunks` chunks of whole basins, largest
    first; a basin larger than the target size is split. Each chunk lists its stations in `meta` order."""
    order = {str(s): i for i, s in enumerate(meta.index)}
    target = max(1, math.ceil(len(meta) / max(1, n_chunks)))
    by_basin: dict[str, list[str]] = {}
    for sid, basin in meta["basin"].items():
        by_basin.setdefault(str(basin), []).append(str(sid))
    pieces: list[list[str]] = []
    for sids in by_basin.values():
        pieces.extend(sids[k : k + target] for k in range(0, len(sids), target))
    pieces.sort(key=lambda p: (-len(p), order[p[0]]))
    chunks: list[list[str]] = []
    current: list[str] = []
    for piece in pieces:  # pack small basins together up to the target size
        if current and len(current) + len(piece) > target:
            chunks.append(current)
            current = []
        current = current + piece
    if current:
        chunks.append(current)
    return [sorted(c, key=order.__getitem__) for c in chunks]


def _init(store_path: str, models_dir: str, forcing: Mapping[str, xr.Dataset] | None, log: tuple | None) -> None:
    """Set up this process for chunks (the pool's initializer, or this process for workers=1)."""
    from forecasting.model_registry import list_basins

    if log is not None:  # a worker process: the one log format, to the home's log file
        from flows.logging_setup import configure_logging

        configure_logging(log[0], log[1])
    _close()
    _STATE.update(
        store_path=store_path,
        store=None,
        models_dir=models_dir,
        available=set(list_basins(Path(models_dir))),
        models={},
        forcing=dict(forcing or {}),
    )


def _close() -> None:
    from forecasting.storage import NETCDF_LOCK

    store = _STATE.get("store")
    if store is not None:
        with NETCDF_LOCK:
            store.close()
    _STATE.clear()


def _models_for(basins: set[str]) -> tuple[dict, dict[str, str]]:
    """The models of `basins` and the global model, loaded the first time this process needs them, and why the
    ones that cannot be loaded (a damaged model.json) are missing: their stations fall back with that reason, the
    others are forecast (without the global model, if that is the one)."""
    import logging

    from forecasting.model_registry import GLOBAL_MODEL, load_model

    cache, broken = _STATE["models"], _STATE.setdefault("broken", {})
    for b in sorted(basins | {GLOBAL_MODEL}):
        if b not in cache and b not in broken and b in _STATE["available"]:
            try:
                cache[b] = load_model(Path(_STATE["models_dir"]), b)
            except Exception as exc:  # one damaged model never stops the others' forecasts
                broken[b] = f"the model of basin {b} cannot be loaded ({type(exc).__name__}: {exc})"
                logging.getLogger(__name__).error(broken[b])
    wanted = basins | {GLOBAL_MODEL}
    return {b: cache[b] for b in wanted if b in cache}, {b: why for b, why in broken.items() if b in wanted}


def _forecast_chunk(
    stations: list[str], issue_date: str, config: Any, created_at: Any
) -> tuple[xr.Dataset, dict[str, float]]:
    """Forecast one chunk of stations in this process (read, QC, models, make_forecast); returns the forecast and
    the seconds spent reading (and QC), loading models and forecasting."""
    import time

    from forecasting import qc
    from forecasting.forecast import make_forecast
    from forecasting.storage import open_store_lazy, store_part
    from forecasting.store import station_table

    t0 = time.perf_counter()
    if _STATE.get("store") is None:
        _STATE["store"] = open_store_lazy(Path(_STATE["store_path"]))
    usable = qc.usable(store_part(_STATE["store"], stations))
    t1 = time.perf_counter()
    basins = {str(b) for b in station_table(usable)["basin"]}
    models, unavailable = _models_for(basins)
    t2 = time.perf_counter()
    forcing = _STATE["forcing"] or None
    fc = make_forecast(
        usable, models, issue_date, config=config, forcing=forcing, created_at=created_at, unavailable=unavailable
    )
    return fc, {"read_s": t1 - t0, "models_s": t2 - t1, "forecast_s": time.perf_counter() - t2}


def combine(parts: list[xr.Dataset], stations: list[str]) -> xr.Dataset:
    """The chunks' forecast datasets as one, in the order of `stations`; the NWP run attributes (nwp_source,
    nwp_run_time: comma lists) are the union of the chunks'."""
    if len(parts) == 1:
        fc = parts[0]
    else:
        fc = xr.concat(parts, dim="station", data_vars="minimal", coords="minimal", compat="equals", join="exact")
    pos = pd.Index(fc["station"].values.astype(str)).get_indexer(stations)
    fc = fc.isel(station=pos)
    attrs = dict(parts[0].attrs)
    for key in ("nwp_source", "nwp_run_time"):
        values = {v for p in parts for v in str(p.attrs.get(key, "")).split(",") if v}
        attrs[key] = ",".join(sorted(values))
    fc.attrs = attrs
    return fc


def forecast_all(
    store_path: Path,
    models_dir: Path,
    issue_date: str | pd.Timestamp,
    config: Any,
    forcing: Mapping[str, xr.Dataset] | None = None,
    workers: int | None = None,
    created_at: Any = None,
    log: tuple[str, str] | None = None,
    stats: dict[str, float] | None = None,
) -> xr.Dataset:
    """The forecast dataset of every station of the store at `store_path` (forecasting.forecast.make_forecast's
    output, FORMATS.md), made in `workers` processes (default_workers) or in this one (workers=1).

    `models_dir`: the model registry (CURRENT versions); `forcing`: the forcing store (source -> dataset) or None;
    `created_at`: the run's creation time (UTC datetime; default now), the same in every chunk; `log`: (home,
    level) for the workers' logging (flows.logging_setup.configure_logging); `stats`, if given, receives the
    workers, chunks and the seconds spent reading, loading models and forecasting (summed over the processes).
    Raises FileNotFoundError when the store does not exist."""
    from datetime import UTC, datetime

    from forecasting import progress
    from forecasting.storage import read_station_metadata
    from forecasting.store import station_table

    meta_ds = read_station_metadata(Path(store_path))
    if meta_ds is None:
        raise FileNotFoundError(f"the store {store_path} is empty; run 'tasqyn ingest' first")
    meta = station_table(meta_ds)
    stations = [str(s) for s in meta.index]
    created_at = created_at or datetime.now(UTC)
    issue = str(pd.Timestamp(issue_date).date())
    n = default_workers(len(stations), workers)
    chunks = plan_chunks(meta, n * CHUNKS_PER_WORKER if n > 1 else 1)
    total, done = len(stations), 0
    parts: list[xr.Dataset] = []
    spent = {"workers": float(n), "chunks": float(len(chunks)), "read_s": 0.0, "models_s": 0.0, "forecast_s": 0.0}

    def collect(result: tuple[xr.Dataset, dict[str, float]], chunk: list[str]) -> None:
        nonlocal done
        parts.append(result[0])
        for key, secs in result[1].items():
            spent[key] += secs
        done += len(chunk)
        progress.report("station", chunk[-1], done, total)

    if n == 1:
        saved = dict(_STATE)
        _init(str(store_path), str(models_dir), forcing, None)
        try:
            for chunk in chunks:
                collect(_forecast_chunk(chunk, issue, config, created_at), chunk)
        finally:
            _close()
            _STATE.update(saved)
        if stats is not None:
            stats.update(spent)
        return combine(parts, stations)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=n,
        mp_context=ctx,
        initializer=_init,
        initargs=(str(store_path), str(models_dir), dict(forcing or {}), log),
    ) as pool:
        pending = {pool.submit(_forecast_chunk, chunk, issue, config, created_at): chunk for chunk in chunks}
        while pending:
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in finished:
                chunk = pending.pop(fut)
                collect(fut.result(), chunk)
    if stats is not None:
        stats.update(spent)
    return combine(parts, stations)
