"""Benchmark at national scale: the synthetic network of N gauges (default 1,000): ingest, read, train, forecast.

    .venv/bin/python bench/scale.py [--stations 1000] [--network DIR] [--keep DIR] [--tracemalloc]
        [--phases ingest,read,train,forecast] [--train-workers 1,2] [--train-basins N] [--forecast-workers 1,2]
        [--model-home DIR]

Builds the synthetic network (bench/synthetic_network.py; or reuses a station-CSV folder given by --network),
then runs each phase in a fresh child process and prints its wall time, CPU time and peak memory (the child's
peak resident set from resource.getrusage, and the largest peak of its own worker processes; with --tracemalloc
also the peak of Python-tracked allocations, which include numpy arrays but slow the phase down). With --keep DIR
an existing `DIR/home` (store, models) is reused: phases that are not asked for are skipped.

Phases:
- ingest: flows.ingest.run_ingest of the whole folder (read, store build, QC, NetCDF write) into `home`;
- read: one station read back;
- train: flows.train.train_flow with 1 and with 2 local worker processes (--train-workers), each into its own home
  `home-train-w<N>` whose store is a hard link to `home`'s; the Prefect API is started before the clock starts;
  --train-basins N trains only the first N basins (no global model then); the speed-up is printed;
- forecast: the daily forecast of every station as of the network's last day with the models of the last training
  home (flows.parallel.forecast_all: models loaded, stations read, QC'd and forecast), with 1 and 2 worker
  processes (--forecast-workers); then the whole daily flow (`tasqyn forecast --no-ingest`) with the default.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _child(fn: Callable[..., dict], args: tuple, trace: bool, conn: Any) -> None:
    """Run `fn(*args)` in this process and send back (result, seconds, cpu seconds, peak RSS MB, traced MB)."""
    try:
        if trace:
            import tracemalloc

            tracemalloc.start()
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn(*args)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        traced = None
        if trace:
            import tracemalloc

            traced = tracemalloc.get_traced_memory()[1] / 2**20
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest worker's peak
        result.setdefault("children_peak_mb", children)
        conn.send(("ok", result, wall, cpu, peak, traced))
    except BaseException as exc:  # noqa: BLE001  (reported by the parent)
        conn.send(("error", f"{type(exc).__name__}: {exc}", 0.0, 0.0, 0.0, None))
    finally:
        conn.close()


def measure(name: str, fn: Callable[..., dict], *args: Any, trace: bool = False) -> dict:
    """Run one phase in a fresh process (spawned: nothing inherited from earlier phases) and print its numbers."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, args, trace, child))
    proc.start()
    child.close()
    status, result, wall, cpu, peak, traced = parent.recv()
    proc.join()
    if status != "ok":
        print(f"{name:<28} FAILED: {result}")
        return {"phase": name, "error": result}
    extra = f", traced peak {traced:,.0f} MB" if traced is not None else ""
    if result.get("children_peak_mb", 0) > 1:
        extra += f", largest worker {result['children_peak_mb']:,.0f} MB"
    print(
        f"{name:<28} {wall:8.1f} s wall {cpu:8.1f} s CPU   peak RSS {peak:,.0f} MB{extra}   {result.get('note', '')}",
        flush=True,
    )
    return {"phase": name, "seconds": wall, "cpu_seconds": cpu, "peak_rss_mb": peak, "traced_mb": traced, **result}


# --- phases (module-level functions: they run in spawned children) -------------------------------------------


def phase_ingest(network: str, home: str) -> dict:
    """Ingest the whole station-CSV folder into a fresh home."""
    from flows.ingest import run_ingest
    from forecasting.home import Home

    report = run_ingest(network, "station-csv", Home(Path(home)))
    size = (Path(home) / "store" / "observations.nc").stat().st_size
    return {
        "stations": len(report.stations),
        "kept": report.kept,
        "quarantined": report.quarantined,
        "store_mb": size / 2**20,
        "note": f"{len(report.stations)} stations, {report.kept:,} values kept, "
        f"{report.quarantined:,} quarantined, store {size / 2**20:,.0f} MB",
    }


def phase_read_station(home: str, station: str) -> dict:
    """Read one station (all variables) back from the store."""
    from forecasting.home import Home
    from forecasting.storage import read_station

    t0 = time.perf_counter()
    ds = read_station(Home(Path(home)).observations, station)
    ms = (time.perf_counter() - t0) * 1000
    return {"read_ms": ms, "note": f"{station}: {ds.sizes.get('time', 0)} days in {ms:.0f} ms (wall includes imports)"}


def _start_prefect() -> None:
    """Start Prefect's temporary API (a no-op flow) so that its start-up is not timed with the work."""
    from prefect import flow

    import flows  # noqa: F401  (no telemetry)

    @flow(name="bench-warm-up")
    def warm() -> int:
        return 1

    warm()


def phase_train(home: str, workers: int, basins: list[str] | None) -> dict:
    """Train the basins of `home` (all, or `basins`) with `workers` local processes; the flow's wall time is timed
    after the Prefect API has started."""
    from flows.train import train_flow

    _start_prefect()
    t0 = time.perf_counter()
    out = train_flow(home, basins=basins, workers=workers)
    flow_s = time.perf_counter() - t0
    task_s = sum(r["seconds"] for r in out["trained"].values())
    n_st = sum(len(r["stations"]) for b, r in out["trained"].items() if not b.startswith("_"))
    return {
        "flow_seconds": flow_s,
        "task_seconds": task_s,
        "trained": len(out["trained"]),
        "failed": len(out["failed"]),
        "note": f"{len(out['trained'])} models ({n_st} stations), {len(out['failed'])} failed; flow {flow_s:,.0f} s, "
        f"tasks {task_s:,.0f} s of work ({task_s / max(flow_s, 1e-9):.2f} tasks busy on average)",
    }


def phase_forecast(home: str, issue: str, workers: int) -> dict:
    """flows.parallel.forecast_all of every station (models loaded in the workers, stations read per chunk)."""
    from flows.parallel import forecast_all
    from forecasting.config import DEFAULTS
    from forecasting.home import Home

    h = Home(Path(home))
    t0 = time.perf_counter()
    spent: dict[str, float] = {}
    fc = forecast_all(h.observations, h.models_dir, issue, DEFAULTS, workers=workers, stats=spent)
    secs = time.perf_counter() - t0
    status = fc["status"].values.astype(str)
    counts = {k: int((status == k).sum()) for k in ("ok", "stale", "fallback", "failed")}
    busy = spent["read_s"] + spent["models_s"] + spent["forecast_s"]
    return {
        "forecast_seconds": secs,
        "stations": len(status),
        **counts,
        **spent,
        "note": f"{len(status)} stations in {secs:.1f} s ({workers} worker{'s' if workers > 1 else ''}): "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + f"; process time: reading {spent['read_s']:.1f} s, loading models {spent['models_s']:.1f} s, forecasting "
        f"{spent['forecast_s']:.1f} s ({spent['forecast_s'] / max(len(status), 1) * 1000:.0f} ms per station), "
        f"start-up and combining {max(secs * workers - busy, 0.0):.1f} s",
    }


def phase_daily_flow(home: str, issue: str) -> dict:
    """The whole daily flow as an operator runs it: `tasqyn forecast --no-ingest --issue-date ISSUE`."""
    import subprocess

    cmd = [str(ROOT / ".venv" / "bin" / "tasqyn"), "forecast", "--no-ingest", "--issue-date", issue, "--home", home]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    secs = time.perf_counter() - t0
    last = (proc.stdout.strip().splitlines() or [proc.stderr.strip()[-300:]])[0]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "flow_seconds": secs,
        "exit": proc.returncode,
        "children_peak_mb": peak,
        "note": f"exit {proc.returncode}: {last}",
    }


def _train_home(base: Path, home: Path, workers: int) -> Path:
    """`base/home-train-w<N>`: a fresh home whose store is a hard link to `home`'s (models trained apart)."""
    import shutil

    out = base / f"home-train-w{workers}"
    if out.exists():
        shutil.rmtree(out)
    (out / "store").mkdir(parents=True)
    os.link(home / "store" / "observations.nc", out / "store" / "observations.nc")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=1000, help="gauges in the synthetic network")
    parser.add_argument("--network", type=Path, help="use this station-CSV folder instead of building one")
    parser.add_argument("--keep", type=Path, help="keep the network and the homes in this folder (reused)")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--phases", default="ingest,read,train,forecast", help="comma list of phases to run")
    parser.add_argument("--train-workers", default="1,2", help="worker process counts to train with")
    parser.add_argument("--train-basins", type=int, help="train only the first N basins (no global model)")
    parser.add_argument("--forecast-workers", default="1,2", help="worker process counts to forecast with")
    parser.add_argument("--model-home", type=Path, help="forecast with the models of this home (its store is used)")
    args = parser.parse_args()
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}

    with tempfile.TemporaryDirectory(prefix="tasqyn-scale-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; working in {base}")
        network = args.network
        if network is None and "ingest" in phases:
            from synthetic_network import write_network

            network = base / "network"
            t0 = time.perf_counter()
            info = write_network(network, args.stations, seed=args.seed)
            print(
                f"{'synthetic network':<28} {time.perf_counter() - t0:8.1f} s wall"
                f"   {info['stations']} stations, {info['basins']} basins, {info['station_days']:,} station-days, "
                f"{info['bytes'] / 2**20:,.0f} MB of CSV"
            )
        home = base / "home"
        results = []
        if "ingest" in phases:
            if (home / "store").exists():
                import shutil

                shutil.rmtree(home)
            ing = measure("ingest", phase_ingest, str(network), str(home), trace=args.tracemalloc)
            results.append(ing)
            if "error" not in ing:
                per = ing["seconds"] / max(ing["stations"], 1)
                print(f"ingest: {per * 1000:.0f} ms per station; peak memory {ing['peak_rss_mb']:,.0f} MB")
        store = home / "store" / "observations.nc"
        if not store.exists():
            print(f"no store in {home}: run the ingest phase first")
            return 1
        from forecasting.storage import read_station_metadata
        from forecasting.store import station_table

        meta = station_table(read_station_metadata(store))
        if "read" in phases:
            results.append(measure("read one station", phase_read_station, str(home), str(meta.index[0])))
        model_home = home if (home / "models").is_dir() and any((home / "models").iterdir()) else None
        model_home = args.model_home or model_home
        if "train" in phases:
            basins = sorted(meta["basin"].unique())[: args.train_basins] if args.train_basins else None
            times = {}
            for n in [int(w) for w in args.train_workers.split(",")]:
                th = _train_home(base, home, n)
                r = measure(f"train, {n} worker(s)", phase_train, str(th), n, basins, trace=args.tracemalloc)
                results.append(r)
                if "error" not in r:
                    times[n] = r["flow_seconds"]
                    model_home = th
            if len(times) > 1:
                lo, hi = min(times), max(times)
                print(
                    f"training speed-up with {hi} workers against {lo}: {times[lo] / times[hi]:.2f} x (target >= 1.8)"
                )
        if "forecast" in phases:
            if model_home is None:
                print("no trained models: run the train phase first (or give --keep with a trained home)")
                return 1
            import xarray as xr

            with xr.open_dataset(store) as ds:
                issue = str(ds["time"].values[-1])[:10]
            for n in [int(w) for w in args.forecast_workers.split(",")]:
                r = measure(f"forecast, {n} worker(s)", phase_forecast, str(model_home), issue, n)
                results.append(r)
                if "error" not in r:
                    total = r["peak_rss_mb"] + (n * r["children_peak_mb"] if n > 1 else 0)
                    print(
                        f"forecast of {r['stations']} stations with models loaded: {r['forecast_seconds']:.1f} s "
                        f"(target < 30 s with 2 workers); memory at most {total:,.0f} MB (parent + workers; "
                        "target < 4 GB)"
                    )
            results.append(measure("daily flow (tasqyn forecast)", phase_daily_flow, str(model_home), issue))
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
