"""The JSON API, version 1 (`/api/v1`), as fixed in ../shared/ARCHITECTURE.md "HTTP API (version 1)".

Public readers see the latest *published* run (or the published run of `?issue_date=`); the review roles (admin,
hydrologist) also see draft runs when they ask for an issue date. Levels shown are the effective ones (a
reviewer's override where one was set). Every forecast response carries `issue_date`, `review_status` and
`data_age_days` (days from the newest observation used to the issue date).

Errors are JSON `{"detail": "..."}`: 404 unknown station or basin, or no forecast for the issue date; 422 a malformed
date or parameter; 503 the database (or the store) is unavailable, with the reason.
Responses of the public data are cached in memory per generation of the published data (service.cache).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import xarray as xr
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from forecasting import flags as qcflags
from forecasting.basins import read_basins
from forecasting.explain import as_percent
from forecasting.home import Home
from forecasting.risk import KINDS, LEVEL_LABELS
from forecasting.storage import NETCDF_ENGINE, NETCDF_LOCK
from forecasting.store import station_table
from forecasting.variables import STATION_NUMBER_FIELDS, VARIABLE_NAMES, qc_name
from service import schemas
from service.cache import DatasetCache, ResponseCache
from service.db import (
    BasinLevel,
    ForecastRun,
    StationLevel,
    Threshold,
    latest_published_run,
    latest_run_for_date,
    published_run_for_date,
)
from service.settings import Settings

REVIEW_ROLES = ("admin", "hydrologist")
JSON = "application/json"
CSV = "text/csv; charset=utf-8"
GEOJSON = "application/geo+json"
log = logging.getLogger("tasqyn.service")


class ServiceUnavailable(Exception):
    """The database or a file the answer needs is not available (answered with 503)."""


@dataclass
class ServiceState:
    """What the application keeps between requests (app.state.tasqyn)."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    cache: ResponseCache
    datasets: DatasetCache = field(default_factory=DatasetCache)
    db_ready: bool = False
    last_init_attempt: float = 0.0
    init_error: str | None = None
    _json_files: dict[str, tuple[int, Any]] = field(default_factory=dict)
    _auth: Any = None

    def ensure_db(self) -> None:
        """Run the migrations once the database is reachable (retried at most every 2 s while it is down)."""
        if self.db_ready:
            return
        now = time.monotonic()
        if now - self.last_init_attempt < 2.0 and self.init_error:
            raise ServiceUnavailable(f"the database is unavailable: {self.init_error}")
        self.last_init_attempt = now
        from service.db import init_db

        try:
            init_db(self.engine)
        except Exception as exc:  # noqa: BLE001 (any driver error means: not available yet)
            self.init_error = _short(exc)
            raise ServiceUnavailable(f"the database is unavailable: {self.init_error}") from exc
        self.db_ready, self.init_error = True, None

    @property
    def auth_config(self) -> Any:
        return getattr(self, "_auth", None)

    def read_generation(self) -> tuple[Any, ...]:
        """The generation of the published data, read with a session of its own."""
        self.ensure_db()
        with self.session_factory() as session:
            return read_generation(session, self.settings.home)

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


def _short(exc: BaseException) -> str:
    msg = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (msg[0] if msg else type(exc).__name__)[:300]


# --- dependencies ------------------------------------------------------------------------------------------------


async def get_state(request: Request) -> ServiceState:
    return request.app.state.tasqyn


async def get_settings(state: Annotated[ServiceState, Depends(get_state)]) -> Settings:
    return state.settings


async def get_home(settings: Annotated[Settings, Depends(get_settings)]) -> Home:
    return settings.home


def get_session(state: Annotated[ServiceState, Depends(get_state)]) -> Iterator[Session]:
    """A database session for the request (the schema is created on first use if the database was down)."""
    state.ensure_db()
    session = state.session_factory()
    try:
        yield session
    finally:
        session.close()


def get_principal(request: Request) -> Any:
    """The reader (service.auth.require_read: anonymous readers pass when the setting allows it)."""
    from service.auth import require_read

    return require_read(request)


StateDep = Annotated[ServiceState, Depends(get_state)]
SessionDep = Annotated[Session, Depends(get_session)]
HomeDep = Annotated[Home, Depends(get_home)]
PrincipalDep = Annotated[Any, Depends(get_principal)]
IssueDateQ = Annotated[
    dt.date | None, Query(description="issue date YYYY-MM-DD (default: the latest published forecast)")
]

router = APIRouter(prefix="/api/v1", tags=["api v1"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": schemas.ErrorOut, "description": "unknown id, or no forecast for the issue date"},
    422: {"model": schemas.ErrorOut, "description": "malformed date or parameter"},
    503: {"model": schemas.ErrorOut, "description": "the database is unavailable"},
}


# --- helpers -----------------------------------------------------------------------------------------------------


def _is_reviewer(principal: Any) -> bool:
    return getattr(principal, "role", None) in REVIEW_ROLES


def _can_read_basin(principal: Any, basin_id: str) -> bool:
    fn = getattr(principal, "can_read_basin", None)
    return True if fn is None else bool(fn(basin_id))


def _check_basin(principal: Any, basin_id: str) -> None:
    if not _can_read_basin(principal, basin_id):
        raise HTTPException(403, f"this key or user is not allowed to read basin {basin_id!r}")


def read_generation(session: Session, home: Home) -> tuple[Any, ...]:
    """What identifies the published data: latest published run, newest review action, level rows, thresholds,
    and the modification times of the store and the backtest reports."""
    row = session.execute(
        text(
            "SELECT (SELECT id FROM forecast_runs WHERE published_at IS NOT NULL AND status = 'success' "
            "ORDER BY issue_date DESC, published_at DESC, id DESC LIMIT 1), "
            "(SELECT max(id) FROM review_actions), (SELECT max(id) FROM station_levels), "
            "(SELECT max(id) FROM basin_levels), (SELECT max(id) FROM thresholds)"
        )
    ).one()
    try:
        store_mtime = home.observations.stat().st_mtime_ns
    except OSError:
        store_mtime = None
    return (*tuple(row), store_mtime, tuple(backtest_reports(home)))


def cached_response(
    request: Request,
    state: ServiceState,
    session: Session,
    principal: Any,
    build: Callable[[], tuple[bytes, str]],
    cacheable: bool = True,
) -> Response:
    """Serve `build()`'s body from the response cache when the published data did not change."""
    if not cacheable or _is_reviewer(principal):
        body, media = build()
        return Response(body, media_type=media)
    gen = state.cache.generation(lambda: read_generation(session, state.settings.home))
    scope = getattr(principal, "basins", None)
    key = (gen, request.url.path, request.url.query, tuple(sorted(scope)) if scope else None)
    hit = state.cache.get(key)
    if hit is not None:
        return Response(hit[0], media_type=hit[1], headers={"X-Cache": "hit"})
    body, media = build()
    state.cache.put(key, body, media)
    return Response(body, media_type=media, headers={"X-Cache": "miss"})


def _dump(model: BaseModel | list[BaseModel] | dict) -> bytes:
    if isinstance(model, list):
        return ("[" + ",".join(m.model_dump_json() for m in model) + "]").encode()
    if isinstance(model, dict):
        return json.dumps(model, ensure_ascii=False, default=str, allow_nan=False).encode()
    return model.model_dump_json().encode()


def _run_for(session: Session, principal: Any, issue_date: dt.date | None) -> ForecastRun:
    """The run to show: the latest publication, or that of `issue_date` (reviewers also see drafts)."""
    if issue_date is None:
        run = latest_published_run(session)
        if run is None:
            raise HTTPException(404, "no forecast has been published yet (run 'tasqyn forecast' and publish it)")
        return run
    run = published_run_for_date(session, issue_date)
    if run is None and _is_reviewer(principal):
        run = latest_run_for_date(session, issue_date)
    if run is None:
        raise HTTPException(404, f"no published forecast for issue date {issue_date.isoformat()}")
    return run


def _store(state: ServiceState) -> xr.Dataset | None:
    path = state.settings.home.observations
    if not path.exists():
        return None
    try:
        return state.datasets.get(path, _load_store)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ServiceUnavailable(f"the observation store {path} cannot be read: {exc}") from exc


STORE_VARIABLES = ("discharge_m3s", "water_level_cm", "precip_mm")  # served with their QC flags


def _load_store(path: Path) -> xr.Dataset:
    """The parts of the observation store the API serves (values and their QC flags; not the provenance
    variables), loaded into memory once per modification of the file, with which variables each station has."""
    with NETCDF_LOCK, xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
        keep = [n for v in STORE_VARIABLES for n in (v, qc_name(v)) if n in ds.data_vars]
        out = ds[keep].load()
        have = {v: np.isfinite(ds[v].values).any(axis=1) for v in VARIABLE_NAMES if v in ds.data_vars}
    out.attrs["_tasqyn_variables"] = have
    return out


def observation_store(request: Request) -> xr.Dataset | None:
    """The cached observation store of the application (None if nothing was ingested); for the dashboard too."""
    return _store(request.app.state.tasqyn)


def station_records(store: xr.Dataset | None) -> dict[str, dict[str, Any]]:
    """Station metadata of the observation store by station id: forecasting.store.station_table (text '' when
    unknown, the basin defaulting to the station) with numbers as floats or None. Made once per loaded store; the
    API and the dashboard read it (do not modify the records)."""
    if store is None:
        return {}
    records = store.attrs.get("_tasqyn_station_records")
    if not isinstance(records, dict):
        table = station_table(store)
        records = {
            sid: {k: (_finite(v) if k in STATION_NUMBER_FIELDS else v) for k, v in row.items()}
            for sid, row in zip(table.index, table.to_dict("records"), strict=True)
        }
        store.attrs["_tasqyn_station_records"] = records
    return records


def _station_meta(store: xr.Dataset | None, station_id: str) -> dict[str, Any] | None:
    return station_records(store).get(station_id)


def _station_index(store: xr.Dataset) -> dict[str, int]:
    idx = store.attrs.get("_tasqyn_station_index")
    if not isinstance(idx, dict):
        idx = {str(s): i for i, s in enumerate(store["station"].values)}
        store.attrs["_tasqyn_station_index"] = idx
    return idx


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _date_or_none(v: Any) -> dt.date | None:
    if v is None:
        return None
    ts = pd.Timestamp(v)
    return None if pd.isna(ts) else ts.date()


def _data_age(issue: dt.date, newest: dt.date | None) -> int | None:
    return None if newest is None else (issue - newest).days


def _forecast_ds(state: ServiceState, run: ForecastRun) -> xr.Dataset:
    if not run.forecast_path:
        raise ServiceUnavailable(f"run {run.run_id} has no forecast file recorded")
    path = Path(run.forecast_path)
    if not path.is_absolute():
        path = state.settings.home.root / path
    try:
        return state.datasets.get(path)
    except FileNotFoundError as exc:
        raise ServiceUnavailable(f"the forecast file of run {run.run_id} is missing: {path}") from exc


def _observations(store: xr.Dataset, station_id: str, start: dt.date | None, end: dt.date | None) -> list[dict]:
    i = _station_index(store)[station_id]
    times = pd.DatetimeIndex(store["time"].values)
    lo = 0 if start is None else int(times.searchsorted(pd.Timestamp(start), "left"))
    hi = len(times) if end is None else int(times.searchsorted(pd.Timestamp(end), "right"))
    cols = {v: store[v].values[i, lo:hi] for v in ("discharge_m3s", "water_level_cm", "precip_mm") if v in store}
    qc = store["discharge_m3s_qc"].values[i, lo:hi] if "discharge_m3s_qc" in store else None
    out = []
    for k, t in enumerate(times[lo:hi]):
        rec: dict[str, Any] = {"date": t.date()}
        anything = False
        for v, arr in cols.items():
            f = _finite(arr[k])
            rec[v] = f
            anything |= f is not None
        if not anything:
            continue
        rec["flags"] = qcflags.describe(int(qc[k])) if qc is not None and qc[k] else []
        out.append(rec)
    return out


def _newest_obs(store: xr.Dataset | None, station_id: str | None = None) -> dt.date | None:
    if store is None or "discharge_m3s" not in store or store.sizes.get("time", 0) == 0:
        return None
    v = store["discharge_m3s"].values
    if station_id is not None:
        v = v[_station_index(store)[station_id]][None, :]
    ok = np.isfinite(v).any(axis=0)
    if not ok.any():
        return None
    return pd.Timestamp(store["time"].values[np.flatnonzero(ok)[-1]]).date()


def _thresholds_db(session: Session, station_id: str, version: int | None) -> list[schemas.ThresholdOut]:
    if version is None:
        version = session.scalar(select(func.max(Threshold.version)))
    if version is None:
        return []
    rows = session.scalars(
        select(Threshold).where(Threshold.station_id == station_id, Threshold.version == version)
    ).all()
    order = {k: i for i, k in enumerate(KINDS)}
    return [
        schemas.ThresholdOut(
            kind=r.kind, value=r.value, units=r.units, source=r.source, years=r.years, version=r.version
        )
        for r in sorted(rows, key=lambda r: order.get(r.kind, 9))
    ]


def _thresholds_ds(ds: xr.Dataset, i: int, version: int | None) -> list[schemas.ThresholdOut]:
    if "threshold_value" not in ds:
        return []
    out = []
    for j, kind in enumerate(ds["threshold"].values.astype(str)):
        v = _finite(ds["threshold_value"].values[i, j])
        if v is None:
            continue
        years = str(ds["threshold_years"].values[i, j]) if "threshold_years" in ds else ""
        out.append(
            schemas.ThresholdOut(
                kind=kind,
                value=v,
                units=str(ds["threshold_units"].values[i, j]),
                source=str(ds["threshold_source"].values[i, j]),
                years=years or None,
                version=version,
            )
        )
    return out


def _basin_out(b: BasinLevel, run: ForecastRun, name: str | None = None) -> schemas.BasinOut:
    level = b.effective_level
    return schemas.BasinOut(
        basin_id=b.basin_id,
        name=name or b.name or b.basin_id,
        level=level,
        level_label=LEVEL_LABELS.get(level, "normal"),
        first_date=b.first_date if level > 0 else None,
        probability=b.probability,
        n_stations=b.n_stations,
        issue_date=run.issue_date,
        review_status=run.review_status,
        data_age_days=_data_age(run.issue_date, run.data_cutoff),
        overridden=b.override_level is not None,
    )


def _station_level_out(s: StationLevel, meta: dict[str, Any] | None) -> schemas.StationLevelOut:
    level = s.effective_level
    meta = meta or {}
    return schemas.StationLevelOut(
        station_id=s.station_id,
        name=meta.get("name") or s.station_id,
        river=meta.get("river") or "",
        lat=meta.get("lat"),
        lon=meta.get("lon"),
        level=level,
        level_label=LEVEL_LABELS.get(level, "normal"),
        first_date=s.first_date if level > 0 else None,
        probability=s.probability,
        trend=s.trend,
        status=s.status,
        stale=s.stale,
        message=s.message,
        overridden=s.override_level is not None,
        override_reason=s.override_reason,
    )


def _basins(session: Session, run: ForecastRun, principal: Any) -> list[BasinLevel]:
    rows = session.scalars(select(BasinLevel).where(BasinLevel.run_id == run.id).order_by(BasinLevel.basin_id)).all()
    return [b for b in rows if _can_read_basin(principal, b.basin_id)]


# --- endpoints ---------------------------------------------------------------------------------------------------


@functools.cache
def _package_version() -> str:
    """The installed version of tasqyn (looked up once per process)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tasqyn")
    except PackageNotFoundError:
        return "unknown"


@router.get("/health", response_model=schemas.HealthOut, responses={503: _ERRORS[503]})
def health(state: StateDep, session: SessionDep) -> schemas.HealthOut:
    """Service status: the latest published issue date and the age of the newest observation."""
    session.execute(text("SELECT 1"))
    run = latest_published_run(session)
    store = _store(state)
    newest = _newest_obs(store)
    ver = _package_version()
    return schemas.HealthOut(
        status="ok" if run is not None and newest is not None else "degraded",
        database="ok",
        latest_issue_date=run.issue_date if run else None,
        review_status=run.review_status if run else None,
        newest_observation=newest,
        observation_age_days=(dt.datetime.now(dt.UTC).date() - newest).days if newest else None,
        n_stations=int(store.sizes.get("station", 0)) if store is not None else 0,
        version=ver,
    )


def _basin_names(store: xr.Dataset | None) -> dict[str, str]:
    """Display names of single-station basins whose stored name is just the id: '<river> (<station name>)'."""
    if store is None:
        return {}
    names: dict[str, list[str]] = {}
    for sid, m in station_records(store).items():
        names.setdefault(m["basin"], []).append(m.get("river") or m.get("name") or sid)
    return {b: v[0] for b, v in names.items() if len(v) == 1 and v[0]}


@router.get(
    "/basins",
    response_model=list[schemas.BasinOut],
    responses={**_ERRORS, 200: {"description": "one object per basin (GeoJSON with ?format=geojson)"}},
)
def basins(
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    issue_date: IssueDateQ = None,
    format: Annotated[str, Query(pattern="^(json|geojson)$")] = "json",  # noqa: A002
) -> Response:
    """Every basin with its level (0-3), label, first day at that level, probability and the issue date."""
    if format == "geojson":
        return basins_geojson(request, state, session, principal, issue_date)

    def build() -> tuple[bytes, str]:
        run = _run_for(session, principal, issue_date)
        names = _basin_names(_store(state))
        return _dump([_basin_out(b, run, _name(b, names)) for b in _basins(session, run, principal)]), JSON

    return cached_response(request, state, session, principal, build)


def _name(b: BasinLevel, names: dict[str, str]) -> str:
    return b.name if b.name and b.name != b.basin_id else names.get(b.basin_id, b.basin_id)


@router.get("/basins.geojson", responses=_ERRORS, response_class=Response)
def basins_geojson(
    request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep, issue_date: IssueDateQ = None
) -> Response:
    """The basins as a GeoJSON FeatureCollection: the basin polygon where one is known, else the mean position of
    its stations as a Point, else a null geometry (a station without coordinates, like the Protva's)."""

    def build() -> tuple[bytes, str]:
        run = _run_for(session, principal, issue_date)
        store = _store(state)
        names = _basin_names(store)
        polys = _polygons(state)
        pos: dict[str, list[tuple[float, float]]] = {}
        for m in station_records(store).values():
            if m.get("lat") is not None and m.get("lon") is not None:
                pos.setdefault(m["basin"], []).append((m["lon"], m["lat"]))
        feats = []
        for b in _basins(session, run, principal):
            props = json.loads(_basin_out(b, run, _name(b, names)).model_dump_json())
            geom = polys.get(b.basin_id)
            if geom is None and pos.get(b.basin_id):
                pts = pos[b.basin_id]
                geom = {
                    "type": "Point",
                    "coordinates": [
                        round(sum(p[0] for p in pts) / len(pts), 6),
                        round(sum(p[1] for p in pts) / len(pts), 6),
                    ],
                }
            feats.append({"type": "Feature", "id": b.basin_id, "properties": props, "geometry": geom})
        return _dump({"type": "FeatureCollection", "features": feats}), GEOJSON

    return cached_response(request, state, session, principal, build)


def _polygons(state: ServiceState) -> dict[str, dict]:
    return basin_geometries(state.settings.basin_polygons, _geojson_geometry)


def _geojson_geometry(geom: Any) -> dict:
    from shapely.geometry import mapping

    return json.loads(json.dumps(mapping(geom)))  # tuples -> lists


_basin_cache: dict[tuple[str, Callable[[Any], Any]], tuple[tuple[tuple[str, int], ...], dict[str, Any]]] = {}
_basin_lock = threading.Lock()


def basin_geometries(path: Path | None, convert: Callable[[Any], Any]) -> dict[str, Any]:
    """The basin polygons of a GeoJSON file or folder (forecasting.basins.read_basins), each geometry (shapely)
    through `convert`, by basin id; read again only when a file changes. A file that cannot be read is left out
    (logged) and the others are kept; {} without a path. For the API's GeoJSON and the dashboard's map."""
    if path is None:
        return {}
    path = Path(path)
    try:
        files = sorted(path.glob("*.geojson")) if path.is_dir() else [path] if path.exists() else []
        stamp = tuple((str(p), p.stat().st_mtime_ns) for p in files)
    except OSError:
        return {}
    key = (str(path), convert)
    with _basin_lock:
        hit = _basin_cache.get(key)
    if hit and hit[0] == stamp:
        return hit[1]
    errors: list[str] = []
    out = {bid: convert(b.geometry) for bid, b in read_basins(path, errors).items()} if files else {}
    for msg in errors:
        log.warning("basin polygons left out: %s", msg)
    with _basin_lock:
        _basin_cache[key] = (stamp, out)
    return out


@router.get("/basins/{basin_id}", response_model=schemas.BasinDetailOut, responses=_ERRORS)
def basin(
    basin_id: str,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    issue_date: IssueDateQ = None,
) -> Response:
    """One basin and its stations with their levels."""
    _check_basin(principal, basin_id)

    def build() -> tuple[bytes, str]:
        run = _run_for(session, principal, issue_date)
        b = session.scalars(
            select(BasinLevel).where(BasinLevel.run_id == run.id, BasinLevel.basin_id == basin_id)
        ).first()
        if b is None:
            raise HTTPException(404, f"unknown basin {basin_id!r} (not in the forecast of {run.issue_date})")
        store = _store(state)
        rows = session.scalars(
            select(StationLevel)
            .where(StationLevel.run_id == run.id, StationLevel.basin_id == basin_id)
            .order_by(StationLevel.station_id)
        ).all()
        base = _basin_out(b, run, _name(b, _basin_names(store)))
        out = schemas.BasinDetailOut(
            **base.model_dump(), stations=[_station_level_out(s, _station_meta(store, s.station_id)) for s in rows]
        )
        return _dump(out), JSON

    return cached_response(request, state, session, principal, build)


@router.get("/stations", response_model=list[schemas.StationLevelOut], responses=_ERRORS)
def stations(
    request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep, issue_date: IssueDateQ = None
) -> Response:
    """Every station of the forecast with its level."""

    def build() -> tuple[bytes, str]:
        run = _run_for(session, principal, issue_date)
        store = _store(state)
        rows = session.scalars(
            select(StationLevel).where(StationLevel.run_id == run.id).order_by(StationLevel.station_id)
        ).all()
        rows = [s for s in rows if _can_read_basin(principal, s.basin_id)]
        return _dump([_station_level_out(s, _station_meta(store, s.station_id)) for s in rows]), JSON

    return cached_response(request, state, session, principal, build)


def _known_station(state: ServiceState, session: Session, station_id: str, principal: Any) -> dict[str, Any]:
    store = _store(state)
    meta = _station_meta(store, station_id)
    if meta is None:
        row = session.scalars(select(StationLevel).where(StationLevel.station_id == station_id).limit(1)).first()
        if row is None:
            empty = " (the observation store is empty: ingest data first)" if store is None else ""
            raise HTTPException(404, f"unknown station {station_id!r}{empty}")
        meta = {"basin": row.basin_id}
    _check_basin(principal, meta["basin"])
    return meta


@router.get("/stations/{station_id}", response_model=schemas.StationOut, responses=_ERRORS)
def station(
    station_id: str, request: Request, state: StateDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    """Station metadata, its thresholds with their source, and the model's backtest skill at the station."""
    meta = _known_station(state, session, station_id, principal)

    def build() -> tuple[bytes, str]:
        store = _store(state)
        thresholds = _thresholds_db(session, station_id, None)
        note = None
        if not thresholds:
            run = latest_published_run(session)
            if run is not None:
                try:
                    ds = _forecast_ds(state, run)
                    idx = {str(s): i for i, s in enumerate(ds["station"].values)}
                    if station_id in idx:
                        thresholds = _thresholds_ds(ds, idx[station_id], run.threshold_version)
                except ServiceUnavailable:
                    pass
        if not thresholds:
            note = "no thresholds: no official marks and too short a discharge record to derive return periods"
        start = end = None
        variables: list[str] = []
        if store is not None and station_id in _station_index(store):
            i = _station_index(store)[station_id]
            times = store["time"].values
            have = store.attrs.get("_tasqyn_variables", {})
            variables = [v for v, mask in have.items() if bool(mask[i])]
            if "discharge_m3s" in store:
                ok = np.flatnonzero(np.isfinite(store["discharge_m3s"].values[i]))
                if ok.size:
                    start, end = _date_or_none(times[ok[0]]), _date_or_none(times[ok[-1]])
        out = schemas.StationOut(
            station_id=station_id,
            name=meta.get("name") or station_id,
            river=meta.get("river") or "",
            country=meta.get("country") or "",
            basin_id=meta["basin"],
            lat=meta.get("lat"),
            lon=meta.get("lon"),
            area_km2=meta.get("area_km2"),
            period_start=start,
            period_end=end,
            variables=variables,
            thresholds=thresholds,
            threshold_note=note,
            skill=backtest_skill(state, station_id),
        )
        return _dump(out), JSON

    return cached_response(request, state, session, principal, build)


def backtest_reports(home: Home) -> list[tuple[str, int]]:
    """The backtest reports of `home` (`<home>/backtest/*.json`, as `tasqyn backtest --out` writes them) with their
    modification times (ns), newest first."""
    out = []
    for path in home.backtest_dir.glob("*.json"):
        try:
            out.append((str(path), path.stat().st_mtime_ns))
        except OSError:  # removed meanwhile
            continue
    return sorted(out, key=lambda pm: (pm[1], pm[0]), reverse=True)


def backtest_skill(state: ServiceState, station_id: str) -> dict[str, Any] | None:
    """The model's skill at a station from the newest backtest report that has the station: the station's entry
    with the report's path (relative to the home) and test years. The one reading of the backtest skill, for the
    API's station and the dashboard's station page."""
    home = state.settings.home
    for name, _mtime in backtest_reports(home):
        path = Path(name)
        report = state.json_file(path)
        stations = report.get("stations") if isinstance(report, dict) else None
        st = stations.get(station_id) if isinstance(stations, dict) else None
        if isinstance(st, dict) and st:
            return {"report": str(path.relative_to(home.root)), "test_years": report.get("test_years"), **st}
    return None


def _forecast_payload(
    state: ServiceState, session: Session, principal: Any, station_id: str, issue_date: dt.date | None
) -> schemas.ForecastOut:
    run = _run_for(session, principal, issue_date)
    level_row = session.scalars(
        select(StationLevel).where(StationLevel.run_id == run.id, StationLevel.station_id == station_id)
    ).first()
    ds = _forecast_ds(state, run)
    idx = {str(s): i for i, s in enumerate(ds["station"].values)}
    if station_id not in idx:
        raise HTTPException(404, f"station {station_id!r} is not in the forecast of {run.issue_date}")
    i = idx[station_id]
    qlev = [float(q) for q in ds["quantile"].values]
    qkeys = [f"{q:g}" for q in qlev]
    dq = ds["discharge_m3s"].transpose("station", "lead", "quantile").values[i]
    wl = ds["water_level_cm"].transpose("station", "lead", "quantile").values[i] if "water_level_cm" in ds else None
    p = ds["p_exceed"].transpose("station", "lead", "threshold").values[i] if "p_exceed" in ds else None
    lv = ds["level"].transpose("station", "lead").values[i] if "level" in ds else None
    dc = (
        ds["driver_contribution"].transpose("station", "lead", "driver").values[i]
        if "driver_contribution" in ds
        else None
    )
    driver_names = [str(d) for d in ds["driver"].values] if dc is not None else []
    kinds = [str(k) for k in ds["threshold"].values] if "threshold" in ds.coords else list(KINDS)
    valid = pd.DatetimeIndex(ds["valid_date"].values)
    leads = []
    for k, lead in enumerate(ds["lead"].values):
        leads.append(
            schemas.LeadOut(
                lead=int(lead),
                valid_date=valid[k].date(),
                quantiles={key: _finite(dq[k, j]) for j, key in enumerate(qkeys)},
                p_exceed={kind: (_finite(p[k, j]) if p is not None else None) for j, kind in enumerate(kinds)},
                level=int(lv[k]) if lv is not None else 0,
                water_level_quantiles=(
                    {key: _finite(wl[k, j]) for j, key in enumerate(qkeys)} if wl is not None else None
                ),
                drivers=_drivers_out(dc[k], driver_names) if dc is not None else None,
            )
        )
    last_obs = _date_or_none(ds["last_obs_date"].values[i]) if "last_obs_date" in ds else run.data_cutoff
    store = _store(state)
    obs: list[dict] = []
    if store is not None and station_id in _station_index(store):
        end = run.issue_date
        obs = _observations(store, station_id, end - dt.timedelta(days=state.settings.observation_days - 1), end)

    def sval(name: str) -> str | None:
        return str(ds[name].values[i]) if name in ds else None

    model_level = int(ds["station_level"].values[i]) if "station_level" in ds else 0
    level = level_row.effective_level if level_row is not None else model_level
    prob = level_row.probability if level_row is not None else _finite(ds["level_probability"].values[i])
    first = level_row.first_date if level_row is not None else _date_or_none(ds["first_date"].values[i])
    return schemas.ForecastOut(
        station_id=station_id,
        issue_date=run.issue_date,
        review_status=run.review_status,
        data_age_days=_data_age(run.issue_date, last_obs),
        run_id=run.run_id,
        model_version=sval("model_version"),
        model_name=sval("model_name"),
        status=sval("status"),
        message=(level_row.message if level_row is not None else None) or (sval("message") or None),
        level=level,
        level_label=LEVEL_LABELS.get(level, "normal"),
        first_date=first if level > 0 else None,
        probability=prob,
        trend=(level_row.trend if level_row is not None else sval("trend")) or None,
        overridden=level_row is not None and level_row.override_level is not None,
        override_reason=level_row.override_reason if level_row is not None else None,
        threshold_version=run.threshold_version,
        alert_probability=run.alert_probability,
        thresholds=_thresholds_ds(ds, i, run.threshold_version),
        observations=[schemas.ObservationOut(**o) for o in obs],
        leads=leads,
    )


def _drivers_out(row: np.ndarray, names: list[str]) -> dict[str, float | None] | None:
    """Driver contributions (log change) of one lead as percentages, or None when the model gave none."""
    if not np.isfinite(row).any():
        return None
    return {n: (round(float(as_percent(v)), 1) if np.isfinite(v) else None) for n, v in zip(names, row, strict=True)}


def _forecast_csv(f: schemas.ForecastOut) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    qkeys = list(f.leads[0].quantiles) if f.leads else []
    kinds = list(f.leads[0].p_exceed) if f.leads else list(KINDS)
    has_levels = any(any(v is not None for v in (ld.water_level_quantiles or {}).values()) for ld in f.leads)
    w.writerow(
        ["station_id", "issue_date", "review_status", "data_age_days", "model_version", "lead", "valid_date"]
        + [f"q{k}_m3s" for k in qkeys]
        + [f"p_{k}" for k in kinds]
        + ["level"]
        + [f"h{k}_cm" for k in (qkeys if has_levels else [])]
    )
    for ld in f.leads:
        levels = ld.water_level_quantiles or {}
        w.writerow(
            [f.station_id, f.issue_date, f.review_status, f.data_age_days, f.model_version, ld.lead, ld.valid_date]
            + [_csvnum(ld.quantiles[k]) for k in qkeys]
            + [_csvnum(ld.p_exceed[k]) for k in kinds]
            + [ld.level]
            + [_csvnum(levels.get(k)) for k in (qkeys if has_levels else [])]
        )
    return buf.getvalue().encode("utf-8")


def _csvnum(v: float | None) -> str:
    return "" if v is None else f"{v:.6g}"


@router.get(
    "/stations/{station_id}/forecast",
    response_model=schemas.ForecastOut,
    responses={**_ERRORS, 200: {"content": {"text/csv": {}}, "description": "the forecast (CSV with ?format=csv)"}},
)
def station_forecast(
    station_id: str,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    issue_date: IssueDateQ = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",  # noqa: A002
) -> Response:
    """A station's forecast: quantiles, exceedance probabilities and level per lead, thresholds, recent
    observations; with its issue date, review status and data age."""
    _known_station(state, session, station_id, principal)

    def build() -> tuple[bytes, str]:
        payload = _forecast_payload(state, session, principal, station_id, issue_date)
        if format == "csv":
            return _forecast_csv(payload), CSV
        return _dump(payload), JSON

    resp = cached_response(request, state, session, principal, build)
    if format == "csv":
        resp.headers["Content-Disposition"] = f'attachment; filename="forecast-{station_id}.csv"'
    return resp


@router.get("/stations/{station_id}/forecast.csv", responses=_ERRORS, response_class=Response)
def station_forecast_csv(
    station_id: str,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    issue_date: IssueDateQ = None,
) -> Response:
    """The station's forecast as CSV (one row per lead)."""
    return station_forecast(station_id, request, state, session, principal, issue_date, "csv")


@router.get("/stations/{station_id}/observations", response_model=schemas.ObservationsOut, responses=_ERRORS)
def station_observations(
    station_id: str,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: PrincipalDep,
    start: Annotated[dt.date | None, Query(description="first day YYYY-MM-DD (default: a year before end)")] = None,
    end: Annotated[dt.date | None, Query(description="last day YYYY-MM-DD (default: the newest observation)")] = None,
) -> Response:
    """Observed daily values (discharge m3/s, water level cm, precipitation mm) with their QC flags."""
    _known_station(state, session, station_id, principal)
    if start is not None and end is not None and start > end:
        raise HTTPException(422, f"start {start} is after end {end}")
    store = _store(state)
    if store is None or station_id not in _station_index(store):
        raise HTTPException(404, f"no observations of station {station_id!r} in the store")

    def build() -> tuple[bytes, str]:
        e = end or _newest_obs(store, station_id)
        s = start or (e - dt.timedelta(days=364) if e else None)
        obs = _observations(store, station_id, s, e) if e else []
        return _dump(schemas.ObservationsOut(station_id=station_id, start=s, end=e, observations=obs)), JSON

    return cached_response(request, state, session, principal, build)
