"""Benchmark: ingest the 10 real stations (about 150,000 station-days) into a fresh home, then read one back.

    .venv/bin/python bench/ingest.py [DATA_DIR] [--repeat N] [--profile]

Prints the time of `flows.ingest.run_ingest` (adapter, store build, QC of the whole store, atomic NetCDF write,
logs) into a new temporary home, and of `forecasting.storage.read_station` for one station and all variables.
Targets (issue 3): ingest < 5 s, read one station < 50 ms on the 2-core development machine. Library imports are
timed separately with a 3-day warm-up ingest (paid once per process, not per ingest). Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("TASQYN_REAL_DATA", ROOT.parent / "shared" / "data" / "real"))
INGEST_TARGET_S = 5.0
READ_TARGET_S = 0.050


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=str(DEFAULT_DATA), help="station-CSV folder (default: real data)")
    parser.add_argument("--repeat", type=int, default=3, help="ingest runs, each into a fresh home (median shown)")
    parser.add_argument("--station", default="PROTVA_SZ", help="station read back")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one ingest")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    t0 = time.perf_counter()
    from flows.ingest import run_ingest
    from forecasting import sources
    from forecasting.home import Home
    from forecasting.storage import read_station

    sources.available()  # register the adapters
    ingest_times: list[float] = []
    ingest_cpu: list[float] = []
    with tempfile.TemporaryDirectory(prefix="tasqyn-bench-") as tmp:
        # Warm-up: a 3-day station through the same path pays the lazy imports (xarray backends, netCDF4, dask).
        tiny = Path(tmp) / "tiny"
        tiny.mkdir()
        (tiny / "X1.csv").write_text("date,discharge_m3s\n2024-03-01,1.5\n2024-03-02,1.6\n2024-03-03,1.7\n")
        run_ingest(tiny, "station-csv", Home(Path(tmp) / "warmup"))
        read_station(Home(Path(tmp) / "warmup").observations, "X1")
        t_import = time.perf_counter() - t0

        for k in range(args.repeat):
            home = Home(Path(tmp) / f"home{k}")
            t0, c0 = time.perf_counter(), time.process_time()
            report = run_ingest(args.data, "station-csv", home)
            ingest_times.append(time.perf_counter() - t0)
            ingest_cpu.append(time.process_time() - c0)
        station_days = _station_days(home)
        size_mb = home.observations.stat().st_size / 1e6

        read_station(home.observations, args.station)  # first open warms the OS cache and netCDF library
        read_times, read_cpu = [], []
        for _ in range(20):
            t0, c0 = time.perf_counter(), time.process_time()
            one = read_station(home.observations, args.station)
            read_times.append(time.perf_counter() - t0)
            read_cpu.append(time.process_time() - c0)
        n_vars = len([v for v in one.data_vars if not v.endswith(("_qc", "_src", "_row"))])

        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            run_ingest(args.data, "station-csv", Home(Path(tmp) / "profiled"))
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(30)

    ingest_s = statistics.median(ingest_times)
    read_s = statistics.median(read_times)
    print(f"data: {args.data}")
    print(
        f"stored: {len(report.stations)} stations, {station_days} station-days, {report.kept} values, "
        f"{report.flagged} flagged by QC, store {size_mb:.1f} MB"
    )
    print(f"imports and warm-up (once per process): {t_import:.2f} s")
    print(
        f"ingest into a fresh home (adapter + store + QC + NetCDF write): median {ingest_s:.2f} s "
        f"of {len(ingest_times)} runs ({', '.join(f'{t:.2f}' for t in ingest_times)}), CPU "
        f"{statistics.median(ingest_cpu):.2f} s; target < {INGEST_TARGET_S} s"
    )
    print(
        f"read one station ({args.station}, {n_vars} variables with flags and provenance): median "
        f"{read_s * 1000:.1f} ms of {len(read_times)} reads, CPU {statistics.median(read_cpu) * 1000:.1f} ms; "
        f"target < {READ_TARGET_S * 1000:.0f} ms"
    )
    print(f"load average (other processes share the 2 cores): {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    ok = ingest_s < INGEST_TARGET_S and read_s < READ_TARGET_S
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


def _station_days(home) -> int:
    """Days with at least one observed variable, summed over stations."""
    import numpy as np

    from forecasting.storage import open_store
    from forecasting.store import data_variables

    ds = open_store(home.observations)
    any_obs = np.zeros((ds.sizes["station"], ds.sizes["time"]), dtype=bool)
    for var in data_variables(ds):
        any_obs |= ~np.isnan(ds[var].values)
    return int(any_obs.sum())


if __name__ == "__main__":
    sys.exit(main())
