"""Bulletin files in the home: `<home>/bulletins/<issue_date>/bulletin-<issue_date>-<run_id>-r<revision>-<lang>.<ext>`.

A file is written once (atomically, by a hard link that fails if the name exists): running the writer again for
the same run and revision keeps what is there; a rerun of the date (another run id) or a review action on the
published run (another revision) makes new files beside the old ones. Nothing is overwritten.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import xarray as xr
from sqlalchemy.orm import Session

from bulletins import FORMATS, render
from bulletins.i18n import LANGS
from forecasting.storage import read_netcdf
from records.accounts import ANONYMOUS, Principal
from records.bulletin import Bulletin, ForecastLoader, bulletin_for
from records.db import ForecastRun
from records.published import station_infos


def bulletin_dir(root: Path, issue_date: dt.date) -> Path:
    return Path(root) / "bulletins" / issue_date.isoformat()


def bulletin_path(root: Path, bulletin: Bulletin, lang: str, fmt: str) -> Path:
    return bulletin_dir(root, bulletin.issue_date) / f"{bulletin.file_stem(lang)}.{fmt}"


def write_once(path: Path, data: bytes) -> bool:
    """Write `data` to `path` unless it exists (atomic: readers never see a partial file). True if written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return False
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


def write_bulletins(
    root: Path, bulletin: Bulletin, langs: Iterable[str] = LANGS, formats: Iterable[str] = FORMATS
) -> dict[str, list[Path]]:
    """Write the bulletin in every language and format into the home `root`; returns {"written": [...],
    "kept": [...]} (kept: the file of this run and revision existed already)."""
    out: dict[str, list[Path]] = {"written": [], "kept": []}
    for lang in langs:
        for fmt in formats:
            path = bulletin_path(root, bulletin, lang, fmt)
            if path.exists():
                out["kept"].append(path)
                continue
            (out["written"] if write_once(path, render(bulletin, fmt, lang)) else out["kept"]).append(path)
    return out


def forecast_loader(root: Path) -> ForecastLoader:
    """A loader of a run's forecast dataset from its recorded path (relative paths: under the home `root`)."""

    def load(run: ForecastRun) -> xr.Dataset:
        if not run.forecast_path:
            raise FileNotFoundError(f"run {run.run_id} has no forecast file recorded")
        path = Path(run.forecast_path)
        return read_netcdf(path if path.is_absolute() else Path(root) / path)

    return load


def home_bulletin(
    root: Path,
    session: Session,
    issue_date: dt.date | None = None,
    principal: Principal = ANONYMOUS,
) -> Bulletin:
    """The bulletin of the published run of `issue_date` (None: the newest) from the home `root`: its store
    (observations, station names), forecast files and spring outlooks. Raises records.bulletin.BulletinNotFound."""
    from forecasting.home import Home
    from forecasting.storage import open_store

    store = open_store(Home(Path(root)).observations)
    return bulletin_for(session, issue_date, principal, station_infos(store), forecast_loader(root), store, Path(root))
