"""Station endpoints of the API: the stations with their levels, one station's metadata, its forecast (JSON, CSV)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from records.accounts import Principal
from records.db import StationLevel, Threshold
from records.published import (
    StationForecastView,
    StationLevelView,
    ThresholdView,
    forecast_csv,
    observed_period,
    station_forecast_view,
    station_levels,
    thresholds_of,
    visible_run,
)
from service import schemas
from service.deps import IssueDateQ, ReaderDep, SessionDep, StateDep
from service.responses import CSV, ERRORS, JSON, cached_response, dump, run_or_404
from service.state import ServiceState, ServiceUnavailable

router = APIRouter(prefix="/api/v1", tags=["api v1"])


def known_station(state: ServiceState, principal: Principal, station_id: str, session: Session | None = None) -> str:
    """The station's basin if the station exists (in the store, else in a published level) and the reader may read
    it; 404 / 403 otherwise."""
    info = state.stations().get(station_id)
    basin = info.basin_id if info is not None else None
    if basin is None and session is not None:
        basin = session.scalars(
            select(StationLevel.basin_id).where(StationLevel.station_id == station_id).limit(1)
        ).first()
    if basin is None:
        empty = " (the observation store is empty: ingest data first)" if state.store() is None else ""
        raise HTTPException(404, f"unknown station {station_id!r}{empty}")
    if not principal.can_read_basin(basin):
        raise HTTPException(403, f"this key or user is not allowed to read basin {basin!r}")
    return basin


@router.get("/stations", response_model=list[StationLevelView], responses=ERRORS)
def stations(
    request: Request, state: StateDep, session: SessionDep, principal: ReaderDep, issue_date: IssueDateQ = None
) -> Response:
    """Every station of the forecast with its level (null with a `state` and `reason` when it has no current one)."""

    def build() -> tuple[bytes, str]:
        run = run_or_404(session, principal, issue_date)
        rows = station_levels(session, run, state.stations(), principal, include_unforecast=False)
        return dump(sorted(rows, key=lambda r: r.station_id)), JSON

    return cached_response(request, state, principal, build)


def _thresholds_db(session: Session, station_id: str) -> list[ThresholdView]:
    """The station's thresholds in the newest threshold set."""
    version = session.scalar(select(Threshold.version).order_by(Threshold.version.desc()).limit(1))
    if version is None:
        return []
    rows = session.scalars(
        select(Threshold).where(Threshold.station_id == station_id, Threshold.version == version)
    ).all()
    order = {"warning": 0, "danger": 1, "extreme": 2}
    return [
        ThresholdView(kind=r.kind, value=r.value, units=r.units, source=r.source, years=r.years, version=r.version)
        for r in sorted(rows, key=lambda r: order.get(r.kind, 9))
    ]


@router.get("/stations/{station_id}", response_model=schemas.StationOut, responses=ERRORS)
def station(station_id: str, request: Request, state: StateDep, session: SessionDep, principal: ReaderDep) -> Response:
    """Station metadata, its thresholds with their source, and the model's backtest skill at the station."""
    basin = known_station(state, principal, station_id, session)

    def build() -> tuple[bytes, str]:
        loaded = state.store()
        info = loaded.stations.get(station_id) if loaded is not None else None
        thresholds = _thresholds_db(session, station_id)
        if not thresholds:
            run = visible_run(session, principal)
            if run is not None:
                try:
                    ds = state.forecast_ds(run)
                    if station_id in set(map(str, ds["station"].values)):
                        thresholds = thresholds_of(ds, station_id, run.threshold_version)
                except ServiceUnavailable:
                    pass
        note = None
        if not thresholds:
            note = "no thresholds: no official marks and too short a discharge record to derive return periods"
        start, end = observed_period(loaded.data, station_id) if loaded is not None and info else (None, None)
        out = schemas.StationOut(
            station_id=station_id,
            name=info.name if info else station_id,
            river=info.river if info else "",
            country=info.country if info else "",
            basin_id=basin,
            lat=info.lat if info else None,
            lon=info.lon if info else None,
            area_km2=info.area_km2 if info else None,
            period_start=start,
            period_end=end,
            variables=loaded.variables.get(station_id, []) if loaded is not None else [],
            thresholds=thresholds,
            threshold_note=note,
            skill=state.backtest_skill(station_id),
        )
        return dump(out), JSON

    return cached_response(request, state, principal, build)


def forecast_view(
    state: ServiceState, session: Session, principal: Principal, station_id: str, issue_date, observation_days: int
) -> StationForecastView:
    """The station's forecast in the run the reader sees (404 with the reason when there is none)."""
    run = run_or_404(session, principal, issue_date)
    loaded = state.store()
    view = station_forecast_view(
        session,
        run,
        state.forecast_ds(run),
        station_id,
        loaded.stations if loaded is not None else {},
        loaded.data if loaded is not None else None,
        observation_days,
        state.backtest_skill(station_id),
    )
    if view is None:
        raise HTTPException(404, f"station {station_id!r} is not in the forecast of {run.issue_date}")
    return view


@router.get(
    "/stations/{station_id}/forecast",
    response_model=StationForecastView,
    responses={**ERRORS, 200: {"content": {"text/csv": {}}, "description": "the forecast (CSV with ?format=csv)"}},
)
def station_forecast(
    station_id: str,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: ReaderDep,
    issue_date: IssueDateQ = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",  # noqa: A002
) -> Response:
    """A station's forecast: quantiles, exceedance probabilities and level per lead, thresholds, recent
    observations; with its issue date, review status, data age, forecast age, state and model."""
    known_station(state, principal, station_id, session)

    def build() -> tuple[bytes, str]:
        view = forecast_view(state, session, principal, station_id, issue_date, state.settings.observation_days)
        if format == "csv":
            return forecast_csv(view).encode("utf-8"), CSV
        return dump(view), JSON

    resp = cached_response(request, state, principal, build)
    if format == "csv":
        resp.headers["Content-Disposition"] = f'attachment; filename="forecast-{station_id}.csv"'
    return resp


@router.get("/stations/{station_id}/forecast.csv", responses=ERRORS, response_class=Response)
def station_forecast_csv(
    station_id: str,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: ReaderDep,
    issue_date: IssueDateQ = None,
) -> Response:
    """The station's forecast as CSV (one row per lead; records.published.forecast_csv)."""
    return station_forecast(station_id, request, state, session, principal, issue_date, "csv")
