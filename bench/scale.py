"""Benchmark at national scale: the synthetic network of N gauges (default 1,000) ingested into a fresh home.

    .venv/bin/python bench/scale.py [--stations 1000] [--network DIR] [--keep DIR] [--tracemalloc]

Builds the synthetic network (bench/synthetic_network.py; or reuses a station-CSV folder given by --network),
then runs each phase in a fresh child process and prints its wall time, CPU time and peak memory (the child's
peak resident set from resource.getrusage; with --tracemalloc also the peak of Python-tracked allocations, which
include numpy arrays but slow the phase down). Phases so far: ingest (flows.ingest.run_ingest of the whole
folder: read, store build, QC, NetCDF write) and reading one station back. Training and forecast timings are to
be added the same way: a module-level `phase_*` function returning a dict (with a printable `note`), run by
`measure(name, fn, *args)`.
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
    print(f"{name:<28} {wall:8.1f} s wall {cpu:8.1f} s CPU   peak RSS {peak:,.0f} MB{extra}   {result.get('note', '')}")
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=1000, help="gauges in the synthetic network")
    parser.add_argument("--network", type=Path, help="use this station-CSV folder instead of building one")
    parser.add_argument("--keep", type=Path, help="keep the network and the home in this folder")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tasqyn-scale-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        print(f"machine: {os.cpu_count()} cores; working in {base}")
        network = args.network
        if network is None:
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
        results = [measure("ingest", phase_ingest, str(network), str(home), trace=args.tracemalloc)]
        if "error" not in results[0]:
            first = sorted(p.stem for p in Path(network).glob("*.csv") if p.name != "stations.csv")[0]
            results.append(measure("read one station", phase_read_station, str(home), first, trace=args.tracemalloc))
        ing = results[0]
        if "error" not in ing:
            per = ing["seconds"] / max(ing["stations"], 1)
            print(f"ingest: {per * 1000:.0f} ms per station; peak memory {ing['peak_rss_mb']:,.0f} MB")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
