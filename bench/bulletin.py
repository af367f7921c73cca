"""Benchmark: the daily bulletin of a 400-station synthetic network (25 basins) in PDF and XLSX.

    .venv/bin/python bench/bulletin.py [--stations 400] [--lang ru] [--keep DIR]

Builds a store of N synthetic stations (tests/dashboard_support.synthetic_registry), publishes a synthetic forecast
of 7 leads (tests/synthetic.py), then times: building the content (records.bulletin.bulletin_for: database, forecast
file, observations), rendering the PDF, rendering the XLSX; prints pages, sizes and seconds. Target: PDF and XLSX
(content included) in under 15 s on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=400)
    ap.add_argument("--lang", default="ru")
    ap.add_argument("--keep", type=Path, default=None, help="write the PDF and XLSX into this folder")
    args = ap.parse_args()

    from pypdf import PdfReader

    from bulletins.files import home_bulletin
    from bulletins.pdf import render_pdf
    from bulletins.xlsx import render_xlsx
    from forecasting.home import Home
    from tests.dashboard_support import publish_synthetic, session_factory, settings_for, synthetic_registry

    tmp = Path(tempfile.mkdtemp(prefix="tasqyn-bench-bulletin-"))
    try:
        t0 = time.perf_counter()
        home = synthetic_registry(Home(tmp / "home"), args.stations)
        settings = settings_for(home)
        issue = dt.date(2024, 3, 31)
        growth = {f"SYN{i:04d}": 1.0 + 0.04 * (i % 7) for i in range(args.stations)}
        run_id = publish_synthetic(home, settings, issue_date=issue, growth=growth)
        print(f"network of {args.stations} stations published in {time.perf_counter() - t0:.1f} s (setup, not timed)")

        factory = session_factory(settings)
        t1 = time.perf_counter()
        with factory() as s:
            content = home_bulletin(home.root, s, issue)
        t_content = time.perf_counter() - t1
        t2 = time.perf_counter()
        pdf = render_pdf(content, args.lang)
        t_pdf = time.perf_counter() - t2
        t3 = time.perf_counter()
        xlsx = render_xlsx(content, args.lang)
        t_xlsx = time.perf_counter() - t3
        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        n_rows = sum(max(len(st.leads), 1) for st in content.stations)
        total = t_content + t_pdf + t_xlsx
        print(f"run {run_id}: {len(content.stations)} stations in {len(content.basins)} basins, lang {args.lang}")
        print(f"content (database, forecast file, observations): {t_content:6.2f} s")
        print(f"PDF:  {t_pdf:6.2f} s, {pages} A4 pages, {len(pdf) / 1024:.0f} KiB")
        print(f"XLSX: {t_xlsx:6.2f} s, {n_rows} station-lead rows, {len(xlsx) / 1024:.0f} KiB")
        print(f"total (content + PDF + XLSX): {total:.2f} s  [target < 15 s: {'ok' if total < 15 else 'MISSED'}]")
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            (args.keep / f"bulletin-{args.stations}.pdf").write_bytes(pdf)
            (args.keep / f"bulletin-{args.stations}.xlsx").write_bytes(xlsx)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
