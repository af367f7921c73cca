"""Ingest: read a source with its adapter, merge into the store, QC, write atomically, log and quarantine."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from forecasting import sources
from forecasting.home import Home
from forecasting.ingest import IngestReport, ingest
from forecasting.storage import append_csv, open_store, write_netcdf_atomic, write_quarantine


def run_ingest(source: str | Path, fmt: str | None = None, home: Home | None = None) -> IngestReport:
    """Ingest one source (file or folder, or 'sample') into the home's store. Plain function (no Prefect)."""
    home = (home or Home.from_env()).ensure()
    src = str(source)
    if fmt is None:
        fmt = "sample" if src == "sample" else sources.detect_format(Path(src))
    adapter = sources.get_adapter(fmt)
    result = adapter.read(Path(src))
    store = open_store(home.observations)
    new_store, revisions, report = ingest(result, store, src, fmt)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    if report.ok and new_store is not None:
        write_netcdf_atomic(new_store, home.observations)
        if len(revisions):
            append_csv(home.revisions, revisions.assign(ingested_at=stamp))
    qfile = write_quarantine(home.quarantine_dir, src.rstrip("/"), report.quarantine)
    report.quarantine_file = str(qfile) if qfile else None
    append_csv(
        home.ingest_log,
        pd.DataFrame(
            [
                {
                    "ingested_at": stamp,
                    "source": src,
                    "format": fmt,
                    "stations": len(report.stations),
                    "kept": report.kept,
                    "flagged": report.flagged,
                    "quarantined": report.quarantined,
                    "revised": report.revised,
                    "quarantine_file": report.quarantine_file or "",
                }
            ]
        ),
    )
    return report
