"""Values QC holds as unconfirmed (forecasting.confirmations): listed for hydrologists, confirmed by them.

`GET /api/v1/unconfirmed` (hydrologist, admin) lists the held values (station, variable, day, value, units,
reason), newest first, of the basins the reviewer may read; `POST /api/v1/stations/{station_id}/observations/confirm`
with `{"variable": "discharge_m3s", "date": "YYYY-MM-DD", "value": 412.0, "note": "..."}` confirms one: it is
usable from the next forecast on. The value must be the stored one, so a value changed meanwhile is never
confirmed unseen. The confirmation is logged with the reviewer's name.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from forecasting.confirmations import ConfirmationError, confirm, list_unconfirmed
from service.deps import ReviewerDep, StateDep
from service.routers.stations import known_station

router = APIRouter(prefix="/api/v1", tags=["review"])


class UnconfirmedOut(BaseModel):
    station_id: str
    variable: Literal["discharge_m3s", "water_level_cm"]
    date: dt.date
    value: float
    units: str
    reason: str


class ConfirmIn(BaseModel):
    variable: Literal["discharge_m3s", "water_level_cm"]
    date: dt.date
    value: float = Field(description="the stored value, m3/s or cm")
    note: str = Field("", max_length=2000, description="how it was checked")


class ConfirmOut(BaseModel):
    station_id: str
    variable: str
    date: dt.date
    value: float
    confirmed_by: str
    at: str


def held_values(state: StateDep, principal: ReviewerDep) -> list[UnconfirmedOut]:
    """The held values of the stations the reviewer may read (the store's QC, with the confirmations)."""
    table = list_unconfirmed(state.settings.home)
    stations = state.stations()
    out = []
    for r in table.itertuples(index=False):
        info = stations.get(str(r.station_id))
        if info is not None and not principal.can_read_basin(info.basin_id):
            continue
        out.append(
            UnconfirmedOut(
                station_id=str(r.station_id),
                variable=str(r.variable),  # type: ignore[arg-type]
                date=r.date.date() if hasattr(r.date, "date") else r.date,
                value=float(r.value),
                units=str(r.units),
                reason=str(r.reason),
            )
        )
    return out


@router.get("/unconfirmed", response_model=list[UnconfirmedOut])
def unconfirmed(state: StateDep, principal: ReviewerDep) -> list[UnconfirmedOut]:
    """Values held as unconfirmed (not used for the forecast until confirmed), newest first."""
    return held_values(state, principal)


@router.post(
    "/stations/{station_id}/observations/confirm",
    response_model=ConfirmOut,
    responses={404: {"description": "unknown station"}, 422: {"description": "not held, or another stored value"}},
)
def confirm_value(station_id: str, body: ConfirmIn, state: StateDep, principal: ReviewerDep) -> ConfirmOut:
    """Confirm one held value: from the next forecast on it is used, and part of the station's record."""
    known_station(state, principal, station_id)
    try:
        c = confirm(state.settings.home, station_id, body.variable, body.date, body.value, principal.name, body.note)
    except ConfirmationError as exc:
        raise HTTPException(422, str(exc)) from None
    state.cache.invalidate()
    return ConfirmOut(
        station_id=c.station_id, variable=c.variable, date=c.date, value=c.value, confirmed_by=c.confirmed_by, at=c.at
    )
