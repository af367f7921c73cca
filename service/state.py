"""What the application keeps between requests (`app.state.tasqyn`): the database engine, the caches of the
observation store, forecast files, backtest reports and basin polygons, and the generation of the published data.

Everything here is presentation plumbing: the rules of what a reader sees are records.published.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from forecasting.basins import read_basins
from forecasting.storage import NETCDF_ENGINE, NETCDF_LOCK
from forecasting.variables import VARIABLE_NAMES, qc_name
from records.db import BasinLevel, ForecastRun, ReviewAction, StationLevel, Threshold, init_db
from records.published import StationInfo, newest_days, station_infos
from service.cache import DatasetCache, ResponseCache
from service.settings import Settings

log = logging.getLogger("tasqyn.service")
STORE_VARIABLES = ("discharge_m3s", "water_level_cm", "precip_mm")  # served with their QC flags
DB_RETRY_S = 2.0  # while the database is down, try to reach it at most this often


class ServiceUnavailable(Exception):
    """The database or a file the answer needs is not available (answered with 503)."""


def short_error(exc: BaseException) -> str:
    """The first line of an error, without the driver's traceback (for logs and 503 answers)."""
    msg = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (msg[0] if msg else type(exc).__name__)[:300]


@dataclass
class LoadedStore:
    """The parts of the observation store the service serves, loaded once per modification of the file."""

    data: xr.Dataset
    stations: dict[str, StationInfo]
    variables: dict[str, list[str]]  # station -> the canonical variables it has values of
    newest: dict[str, dt.date | None]  # station -> its newest discharge or level day (records.published.newest_days)


@dataclass
class ServiceState:
    """The application's state between requests (app.state.tasqyn)."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    cache: ResponseCache
    datasets: DatasetCache = field(default_factory=DatasetCache)
    db_ready: bool = False
    last_init_attempt: float = 0.0
    init_error: str | None = None
    last_auto_publish: float = 0.0
    auto_publish_lock: threading.Lock = field(default_factory=threading.Lock)
    _json_files: dict[str, tuple[int, Any]] = field(default_factory=dict)
    _basins: dict[tuple[str, Callable[[Any], Any]], tuple[tuple[tuple[str, int], ...], dict[str, Any]]] = field(
        default_factory=dict
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- database -------------------------------------------------------------------------------------------

    def ensure_db(self) -> None:
        """Run the migrations once the database is reachable (retried at most every DB_RETRY_S while it is down)."""
        if self.db_ready:
            return
        now = time.monotonic()
        if now - self.last_init_attempt < DB_RETRY_S and self.init_error:
            raise ServiceUnavailable("the database is unavailable; try again shortly")
        self.last_init_attempt = now
        try:
            init_db(self.engine)
        except Exception as exc:  # noqa: BLE001 (any driver error means: not available yet)
            self.init_error = short_error(exc)
            log.warning("the database is unavailable: %s", self.init_error)
            raise ServiceUnavailable("the database is unavailable; try again shortly") from exc
        self.db_ready, self.init_error = True, None

    def read_generation(self) -> tuple[Any, ...]:
        """What identifies the published data (with a session of its own): a new or published run, a review
        action, new levels or thresholds, a changed store or backtest report all change it."""
        self.ensure_db()
        with self.session_factory() as session:
            return read_generation(session, self.settings)

    # --- files ----------------------------------------------------------------------------------------------

    def store(self) -> LoadedStore | None:
        """The observation store as served (None if nothing was ingested); 503 when it cannot be read."""
        path = self.settings.home.observations
        if not path.exists():
            return None
        try:
            return self.datasets.get(path, _load_store)  # type: ignore[return-value]
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("the observation store %s cannot be read: %s", path, short_error(exc))
            raise ServiceUnavailable("the observation store cannot be read; try again shortly") from exc

    def stations(self) -> dict[str, StationInfo]:
        loaded = self.store()
        return loaded.stations if loaded is not None else {}

    def forecast_ds(self, run: ForecastRun) -> xr.Dataset:
        """The forecast dataset of `run` (one loaded copy per file); 503 if the file is gone."""
        if not run.forecast_path:
            raise ServiceUnavailable(f"run {run.run_id} has no forecast file recorded")
        path = Path(run.forecast_path)
        if not path.is_absolute():
            path = self.settings.home.root / path
        try:
            return self.datasets.get(path)  # type: ignore[return-value]
        except FileNotFoundError as exc:
            raise ServiceUnavailable(f"the forecast file of run {run.run_id} is missing") from exc

    def json_file(self, path: Path) -> Any | None:
        """A JSON file parsed once per modification (None if absent or unreadable)."""
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return None
        hit = self._json_files.get(str(path))
        if hit and hit[0] == mtime:
            return hit[1]
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        self._json_files[str(path)] = (mtime, data)
        return data

    def backtest_skill(self, station_id: str) -> dict[str, Any] | None:
        """The station's entry of the newest backtest report that has it (`<home>/backtest/*.json`), with the
        report's path (relative to the home) and test years; None without one."""
        home = self.settings.home
        for name, _mtime in backtest_reports(home.backtest_dir):
            path = Path(name)
            report = self.json_file(path)
            stations = report.get("stations") if isinstance(report, dict) else None
            st = stations.get(station_id) if isinstance(stations, dict) else None
            if isinstance(st, dict) and st:
                return {"report": str(path.relative_to(home.root)), "test_years": report.get("test_years"), **st}
        return None

    def basin_geometries(self, convert: Callable[[Any], Any]) -> dict[str, Any]:
        """The basin polygons (forecasting.basins.read_basins) by basin id, each shapely geometry through
        `convert`; read again only when a file changes; a file that cannot be read is left out (logged)."""
        path = self.settings.basin_polygons
        if path is None:
            return {}
        try:
            files = sorted(path.glob("*.geojson")) if path.is_dir() else [path] if path.exists() else []
            stamp = tuple((str(p), p.stat().st_mtime_ns) for p in files)
        except OSError:
            return {}
        key = (str(path), convert)
        with self._lock:
            hit = self._basins.get(key)
        if hit and hit[0] == stamp:
            return hit[1]
        errors: list[str] = []
        out = {bid: convert(b.geometry) for bid, b in read_basins(path, errors).items()} if files else {}
        for msg in errors:
            log.warning("basin polygons left out: %s", msg)
        with self._lock:
            self._basins[key] = (stamp, out)
        return out

    def regions_of(self, basin_id: str) -> frozenset[str]:
        """The regions of a basin's stations (for keys and users limited to a region)."""
        return frozenset(s.region for s in self.stations().values() if s.basin_id == basin_id and s.region)


def _load_store(path: Path) -> LoadedStore:
    with NETCDF_LOCK, xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
        keep = [n for v in STORE_VARIABLES for n in (v, qc_name(v)) if n in ds.data_vars]
        data = ds[keep].load()
        ids = [str(s) for s in ds["station"].values]
        have = {v: np.isfinite(ds[v].values).any(axis=1) for v in VARIABLE_NAMES if v in ds.data_vars}
    variables = {sid: [v for v, mask in have.items() if bool(mask[i])] for i, sid in enumerate(ids)}
    return LoadedStore(data=data, stations=station_infos(data), variables=variables, newest=newest_days(data))


def backtest_reports(folder: Path) -> list[tuple[str, int]]:
    """The backtest reports in `folder` (`tasqyn backtest --out`) with their modification times, newest first."""
    out = []
    for path in folder.glob("*.json"):
        try:
            out.append((str(path), path.stat().st_mtime_ns))
        except OSError:  # removed meanwhile
            continue
    return sorted(out, key=lambda pm: (pm[1], pm[0]), reverse=True)


def read_generation(session: Session, settings: Settings) -> tuple[Any, ...]:
    """The generation of what the service shows (see ServiceState.read_generation)."""
    row = session.execute(
        select(
            select(func.max(ForecastRun.id)).scalar_subquery(),
            select(func.max(ForecastRun.published_at)).scalar_subquery(),
            select(func.max(ReviewAction.id)).scalar_subquery(),
            select(func.max(StationLevel.id)).scalar_subquery(),
            select(func.max(BasinLevel.id)).scalar_subquery(),
            select(func.max(Threshold.id)).scalar_subquery(),
        )
    ).one()
    try:
        store_mtime = settings.home.observations.stat().st_mtime_ns
    except OSError:
        store_mtime = None
    return (*tuple(row), store_mtime, tuple(backtest_reports(settings.home.backtest_dir)))
