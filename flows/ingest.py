"""Ingest: read a source with its adapter, merge into the store, QC, write atomically, log and quarantine."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task

from forecasting import locks, sources
from forecasting.confirmations import read_confirmations
from forecasting.home import Home
from forecasting.ingest import IngestError, IngestReport, ingest
from forecasting.storage import StoreCorrupt, StoreWriteError, append_csv, open_store, write_quarantine, write_store


def run_ingest(source: str | Path, fmt: str | None = None, home: Home | None = None) -> IngestReport:
    """Ingest one source (file or folder, or 'sample') into the home's store. Plain function (no Prefect).
    The reader reports every file of a folder it finishes to forecasting.progress (a listener shows it).

    Raises forecasting.ingest.IngestError (one type, a message naming the source) when the source cannot be
    ingested at all: missing, of no known format, a reader failure, the store unwritable; bad rows never raise.

    The source is read first (no lock); then, holding the home's store lock (forecasting.locks), the store is
    opened, merged, QC'd and written, and the revision and ingest logs appended: concurrent ingests on one home
    wait for each other instead of overwriting each other's data.
    """
    home = (home or Home.from_env()).ensure()
    src = str(source)
    try:
        return _run_ingest(src, fmt, home)
    except IngestError:
        raise
    except (sources.AmbiguousFormat, KeyError) as exc:
        raise IngestError(str(exc).strip("'\"")) from exc
    except FileNotFoundError as exc:
        raise IngestError(f"{src}: not found ({exc.strerror or exc})") from exc
    except (locks.LockTimeout, StoreWriteError) as exc:
        raise IngestError(f"{src}: not ingested: {exc}", transient=isinstance(exc, locks.LockTimeout)) from exc
    except StoreCorrupt as exc:
        raise IngestError(f"{src}: not ingested: {exc}") from exc
    except OSError as exc:
        raise IngestError(f"{src}: not ingested: {type(exc).__name__}: {exc}", transient=True) from exc
    except Exception as exc:  # noqa: BLE001 - an adapter's bug must not stop the other sources of the command
        raise IngestError(
            f"{src}: the {fmt or 'format'} reader failed ({type(exc).__name__}: {exc}); nothing of this source was "
            "stored; please report it with the file"
        ) from exc


def _run_ingest(src: str, fmt: str | None, home: Home) -> IngestReport:
    if src != "sample" and not Path(src).exists():
        raise IngestError(f"{src}: no such file or folder")
    if fmt is None:
        fmt = "sample" if src == "sample" else sources.detect_format(Path(src))
    adapter = sources.get_adapter(fmt)
    pending = [adapter.read(Path(src))]  # handed over to ingest(), which drops the long table once it is built
    release_free_memory()  # the reader's per-file tables, freed, would otherwise stay in the heap of the process
    with home.lock(locks.STORE):
        store = open_store(home.observations)
        new_store, revisions, report = ingest(pending.pop(), store, src, fmt, confirmations=read_confirmations(home))
        store = None  # the old store's arrays are not needed for the write
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        if report.ok and new_store is not None:
            write_store(home, new_store)
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


def release_free_memory() -> None:
    """Give the memory freed in this process back to the system (glibc's malloc_trim; nothing elsewhere): after the
    reader of a 1,000-station folder, about a gigabyte of freed small tables would stay in the heap, fragmented,
    while the store is built beside the table."""
    import contextlib
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)


def _is_transient(task, task_run, state) -> bool:
    """Retry I/O trouble (a share that dropped), not a missing file or a file in a format we cannot read."""
    exc = state.result(raise_on_failure=False)
    if isinstance(exc, IngestError):
        return exc.transient
    return isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError | IsADirectoryError)


@task(name="ingest-source", retries=2, retry_delay_seconds=5, retry_condition_fn=_is_transient)
def ingest_source_task(src: str, fmt: str | None, home: Home) -> IngestReport:
    """One source; Prefect retries transient failures (a file still being written, a share unavailable)."""
    return run_ingest(src, fmt, home)


def inbox_sources(home: Home) -> list[str]:
    """Entries of $TASQYN_HOME/inbox (where exports are dropped for the scheduled runs), in name order; not
    inbox/nwp, the weather-forecast runs that the ingest-nwp deployment (flows/nwp.py) takes."""
    inbox = home.root / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    return [str(p) for p in sorted(inbox.iterdir()) if not p.name.startswith(".") and p.name != "nwp"]


@flow(name="ingest")
def ingest_flow(sources: list[str] | None = None, fmt: str | None = None, home: str | None = None) -> list[dict]:
    """Deployment `ingest`: ingest `sources` (default: every entry of $TASQYN_HOME/inbox; 'inbox' stands for it).

    A source that fails is reported and the others go on. Returns one summary dict per source.
    """
    logger = get_run_logger()
    h = Home.from_env(home)
    expanded: list[str] = []
    for s in sources or ["inbox"]:
        expanded.extend(inbox_sources(h) if s == "inbox" else [s])
    out = []
    for src in expanded:
        state = ingest_source_task(src, fmt, h, return_state=True)
        if state.is_completed():
            rep = state.result()
            logger.info(rep.summary())
            out.append({"source": src, "ok": rep.ok, "summary": rep.summary()})
        else:
            logger.error(f"{src}: ingest failed: {state.message}")
            out.append({"source": src, "ok": False, "summary": str(state.message)})
    return out
