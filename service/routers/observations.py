"""`GET /api/v1/stations/{station_id}/observations`: observed daily values with their QC flags."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from records.published import newest_observation, observations_of
from service import schemas
from service.deps import ReaderDep, StateDep
from service.responses import ERRORS, JSON, cached_response, dump
from service.routers.stations import known_station

router = APIRouter(prefix="/api/v1", tags=["api v1"])
FIRST_DAY, LAST_DAY = dt.date(1800, 1, 1), dt.date(2200, 12, 31)  # no observation lies outside (pandas: 1677-2262)


def _clamped(day: dt.date | None) -> dt.date | None:
    """A requested day moved into FIRST_DAY..LAST_DAY: any date the schema allows is answered (0001-01-01 means
    from the first observation), and none reaches pandas outside its range."""
    return None if day is None else min(max(day, FIRST_DAY), LAST_DAY)


@router.get("/stations/{station_id}/observations", response_model=schemas.ObservationsOut, responses=ERRORS)
def station_observations(
    station_id: str,
    request: Request,
    state: StateDep,
    principal: ReaderDep,
    start: Annotated[
        dt.date | None, Query(description="first day YYYY-MM-DD, not after end (default: a year before end)")
    ] = None,
    end: Annotated[dt.date | None, Query(description="last day YYYY-MM-DD (default: the newest observation)")] = None,
) -> Response:
    """Observed daily values (discharge m3/s, water level cm, precipitation mm) with their QC flags."""
    known_station(state, principal, station_id)
    if start is not None and end is not None and start > end:
        raise HTTPException(422, f"start {start} is after end {end}")
    start, end = _clamped(start), _clamped(end)
    loaded = state.store()
    if loaded is None or station_id not in loaded.stations:
        raise HTTPException(404, f"no observations of station {station_id!r} in the store")

    def build() -> tuple[bytes, str]:
        e = end or newest_observation(loaded.data, station_id)
        s = start or (e - dt.timedelta(days=364) if e else None)
        obs = observations_of(loaded.data, station_id, s, e) if e else []
        return dump(schemas.ObservationsOut(station_id=station_id, start=s, end=e, observations=obs)), JSON

    return cached_response(request, state, principal, build)
