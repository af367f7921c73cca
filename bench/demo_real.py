"""The real-data demo, whole: `tasqyn demo --no-serve --data ../shared/data/real` in a fresh home, timed.

Prints the time of each step the demo reports (ingest, train, backtest, forecast) and of the whole run, and what
the published run says of every station (level, or its state without one). The test suite runs the same demo on
four of the stations (tests/test_demo.py); this is the full run.

    .venv/bin/python bench/demo_real.py [--data ../shared/data/real] [--backtest]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "real")
    ap.add_argument("--backtest", action="store_true", help="also run the demo's backtest (several minutes)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tasqyn-demo-") as tmp:
        home = Path(tmp) / "home"
        cmd = [str(ROOT / ".venv" / "bin" / "tasqyn"), "demo", "--no-serve", "--data", str(args.data)]
        cmd += ["--home", str(home)] + ([] if args.backtest else ["--no-backtest"])
        env = {**os.environ, "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        t0 = time.perf_counter()
        last = t0
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                now = time.perf_counter()
                print(f"{now - t0:7.1f} s (+{now - last:5.1f})  {line.rstrip()}", flush=True)
                last = now
        total = time.perf_counter() - t0
        print(f"demo: exit {proc.returncode}, {total:.1f} s in all")
        if proc.returncode != 0:
            sys.exit(proc.returncode)
        from forecasting.storage import open_store
        from records.accounts import ANONYMOUS
        from records.db import open_database
        from records.published import station_infos, station_levels, visible_run

        _, factory = open_database(f"sqlite:///{home / 'tasqyn.db'}")
        infos = station_infos(open_store(home / "store" / "observations.nc"))
        with factory() as s:
            run = visible_run(s, ANONYMOUS)
            for row in station_levels(s, run, infos, ANONYMOUS, include_unforecast=False):
                what = row.level_label if row.level is not None else f"{row.state}: {row.reason}"
                print(f"  {row.station_id:28s} {what}")


if __name__ == "__main__":
    main()
