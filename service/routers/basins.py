"""Basin endpoints of the API: every basin with its level (JSON or GeoJSON), one basin with its stations."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from records.published import (
    BasinDetailView,
    BasinView,
    basin_levels,
    station_levels,
)
from service.deps import IssueDateQ, ReaderDep, SessionDep, StateDep
from service.responses import ERRORS, GEOJSON, JSON, cached_response, dump, run_or_404

router = APIRouter(prefix="/api/v1", tags=["api v1"])


def geojson_geometry(geom: Any) -> dict:
    """A shapely geometry as GeoJSON (lists, not tuples)."""
    from shapely.geometry import mapping

    return json.loads(json.dumps(mapping(geom)))


@router.get(
    "/basins",
    response_model=list[BasinView],
    responses={
        **ERRORS,
        200: {
            "description": "one object per basin (a GeoJSON FeatureCollection with ?format=geojson)",
            "content": {"application/geo+json": {"schema": {"type": "object"}}},
        },
    },
)
def basins(
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: ReaderDep,
    issue_date: IssueDateQ = None,
    format: Annotated[Literal["json", "geojson"], Query()] = "json",  # noqa: A002
) -> Response:
    """Every basin with its level (0-3, or null with the count of stations without a current level), the first
    day at that level, its probability, the issue date, the review status and the ages of data and forecast."""
    if format == "geojson":
        return basins_geojson(request, state, session, principal, issue_date)

    def build() -> tuple[bytes, str]:
        run = run_or_404(session, principal, issue_date)
        rows = basin_levels(session, run, state.stations(), principal)
        return dump(sorted(rows, key=lambda b: b.basin_id)), JSON

    return cached_response(request, state, principal, build)


@router.get(
    "/basins.geojson",
    responses={
        **ERRORS,
        200: {
            "description": "a GeoJSON FeatureCollection",
            "content": {"application/geo+json": {"schema": {"type": "object"}}},
        },
    },
    response_class=Response,
)
def basins_geojson(
    request: Request, state: StateDep, session: SessionDep, principal: ReaderDep, issue_date: IssueDateQ = None
) -> Response:
    """The basins as a GeoJSON FeatureCollection: the basin polygon where one is known, else the mean position of
    its stations as a Point, else a null geometry (a station without coordinates, like the Protva's)."""

    def build() -> tuple[bytes, str]:
        run = run_or_404(session, principal, issue_date)
        stations = state.stations()
        polys = state.basin_geometries(geojson_geometry)
        pos: dict[str, list[tuple[float, float]]] = {}
        for info in stations.values():
            if info.has_coords:
                pos.setdefault(info.basin_id, []).append((info.lon, info.lat))  # type: ignore[arg-type]
        feats = []
        for b in sorted(basin_levels(session, run, stations, principal), key=lambda b: b.basin_id):
            geom = polys.get(b.basin_id)
            pts = pos.get(b.basin_id)
            if geom is None and pts:
                lon = round(sum(p[0] for p in pts) / len(pts), 6)
                lat = round(sum(p[1] for p in pts) / len(pts), 6)
                geom = {"type": "Point", "coordinates": [lon, lat]}
            props = json.loads(b.model_dump_json())
            feats.append({"type": "Feature", "id": b.basin_id, "properties": props, "geometry": geom})
        return dump({"type": "FeatureCollection", "features": feats}), GEOJSON

    return cached_response(request, state, principal, build)


@router.get("/basins/{basin_id}", response_model=BasinDetailView, responses=ERRORS)
def basin(
    basin_id: str,
    request: Request,
    state: StateDep,
    session: SessionDep,
    principal: ReaderDep,
    issue_date: IssueDateQ = None,
) -> Response:
    """One basin and its stations with their levels."""
    if not principal.can_read_basin(basin_id):
        raise HTTPException(403, f"this key or user is not allowed to read basin {basin_id!r}")

    def build() -> tuple[bytes, str]:
        run = run_or_404(session, principal, issue_date)
        stations = state.stations()
        found = basin_levels(session, run, stations, principal, basin_id)
        if not found:
            raise HTTPException(404, f"unknown basin {basin_id!r} (not in the forecast of {run.issue_date})")
        rows = [
            s
            for s in station_levels(session, run, stations, principal, include_unforecast=False)
            if s.basin_id == basin_id
        ]
        detail = BasinDetailView(**found[0].model_dump(), stations=sorted(rows, key=lambda r: r.station_id))
        return dump(detail), JSON

    return cached_response(request, state, principal, build)
