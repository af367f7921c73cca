"""Benchmark: training and daily forecasting on the real stations, and a synthetic scale-up.

    .venv/bin/python bench/train_forecast.py [--data ../shared/data/real] [--scale 200] [--scale-train 20]

Prints: the time to train the 9 long real basins (leads 1-7, with conformal quantiles) sequentially and with two
workers (as `tasqyn train` runs in-process), the time of the daily forecast of all stations with the models loaded,
and for the scale-up (real stations replicated to --scale stations, last --scale-years years each) the time per
station of training (measured on --scale-train replicas) and of forecasting (all replicas). The machine's load
average is printed too: other processes share the two cores.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecasting import qc  # noqa: E402
from forecasting.forecast import make_forecast  # noqa: E402
from forecasting.model_registry import GLOBAL_MODEL, fit_basin_model, load_all, save_model  # noqa: E402
from forecasting.models.lgbm import LGBMParams  # noqa: E402
from forecasting.sources import get_adapter  # noqa: E402
from forecasting.store import build_dataset, station_frame, station_table  # noqa: E402

LEADS = list(range(1, 8))


def load(data: Path) -> xr.Dataset:
    ds, _ = build_dataset(get_adapter("station-csv").read(data))
    return qc.usable(qc.run_qc(ds))


def train_one(ds: xr.Dataset, sid: str, params: LGBMParams, stations: list[str] | None = None):
    """Train basin `sid` (its own station, or `stations`: the global model pools all of them)."""
    table = station_table(ds)
    sids = stations or [sid]
    frames = {s: station_frame(ds, s) for s in sids}
    return fit_basin_model(sid, frames, {s: {"area_km2": table.loc[s, "area_km2"]} for s in sids}, LEADS, params)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "real")
    ap.add_argument("--scale", type=int, default=200)
    ap.add_argument("--scale-train", type=int, default=20)
    ap.add_argument("--scale-years", type=int, default=5)
    ap.add_argument("--skip-sequential", action="store_true")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores shared with other processes)")
    t = time.perf_counter()
    ds = load(args.data)
    print(f"read + QC {ds.sizes['station']} stations: {time.perf_counter() - t:.1f} s")
    table = station_table(ds)
    long_ids = [s for s in table.index if int(ds["discharge_m3s"].sel(station=s).notnull().sum()) > 7 * 365]
    params = LGBMParams()

    if not args.skip_sequential:
        t = time.perf_counter()
        for sid in long_ids:
            train_one(ds, sid, params)
        seq = time.perf_counter() - t
        print(f"training {len(long_ids)} long basins, leads 1-7, sequential (1 thread): {seq:.1f} s")
        t = time.perf_counter()
        train_one(ds, GLOBAL_MODEL, params, long_ids)
        glob = time.perf_counter() - t
        print(f"training the global model on the {len(long_ids)} long stations (1 thread): {glob:.1f} s")
        print(f"sequential total, basins + global model: {seq + glob:.1f} s")
    t = time.perf_counter()
    jobs = [(GLOBAL_MODEL, list(table.index))] + [(s, None) for s in table.index]  # as `tasqyn train` runs
    with ThreadPoolExecutor(max_workers=2) as pool:
        models = list(pool.map(lambda j: train_one(ds, j[0], params, j[1]), jobs))
    par = time.perf_counter() - t
    print(f"training all {len(models) - 1} basins (incl. the short one) and the global model, two workers: {par:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        for bm in models:
            save_model(Path(tmp), bm)
        t = time.perf_counter()
        loaded = load_all(Path(tmp))
        t_load = time.perf_counter() - t
    issue = pd.Timestamp(ds["time"].values[-1])
    make_forecast(ds, loaded, issue, LEADS)  # warm-up
    t = time.perf_counter()
    fc = make_forecast(ds, loaded, issue, LEADS)
    t_fc = time.perf_counter() - t
    print(
        f"daily forecast of {fc.sizes['station']} stations (models loaded): {t_fc:.2f} s "
        f"(loading the models: {t_load:.2f} s); statuses: {dict(pd.Series(fc['status'].values).value_counts())}"
    )

    # synthetic scale-up: real stations replicated, last N years each
    n = args.scale
    end = pd.Timestamp("2005-12-31")
    start = end - pd.DateOffset(years=args.scale_years) + pd.Timedelta(days=1)
    sub = ds.sel(time=slice(start, end), station=long_ids)
    reps = []
    for i in range(n):
        src = long_ids[i % len(long_ids)]
        r = sub.sel(station=[src]).assign_coords(station=[f"{src}_r{i:03d}"], basin=("station", [f"{src}_r{i:03d}"]))
        reps.append(r)
    big = xr.concat(reps, dim="station")
    k = min(args.scale_train, n)
    t = time.perf_counter()
    trained = {}
    for sid in big["station"].values[:k]:
        trained[str(sid)] = train_one(big, str(sid), params)
    per_train = (time.perf_counter() - t) / k
    print(
        f"scale-up: training {k} replicas of {args.scale_years} years: {per_train:.2f} s per station "
        f"-> {per_train * n / 60:.1f} min for {n} stations on one core, about half with two workers (the global "
        "model adds about as much again)"
    )
    models_big = {}
    for i, sid in enumerate(big["station"].values):
        sid = str(sid)
        proto = trained[str(big["station"].values[i % len(long_ids) if k >= len(long_ids) else i % k])]
        bm = copy.copy(proto)
        bm.basin, bm.stations = sid, [sid]
        if proto.model is not None:
            m = copy.copy(proto.model)
            m.contexts = {sid: next(iter(proto.model.contexts.values()))}
            bm.model = m
        models_big[sid] = bm
    t = time.perf_counter()
    fc = make_forecast(big, models_big, end, LEADS)
    t_big = time.perf_counter() - t
    ok = int(np.sum(fc["status"].values == "ok"))
    print(f"scale-up: daily forecast of {n} stations: {t_big:.2f} s ({1000 * t_big / n:.0f} ms per station; {ok} ok)")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
