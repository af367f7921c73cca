"""The map page (`/`): the stations and basins of the run the reader sees, on the map and in lists."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from records.published import basin_levels, station_levels, visible_run
from service.pages.render import (
    db_session,
    error_page,
    maybe_auto_publish,
    parse_date,
    reader,
    render,
    request_lang,
    state_of,
    view_of,
)
from service.svg.geo_map import map_svg, rings

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def map_page(request: Request, issue_date: str | None = None) -> Response:
    principal = reader(request)
    if isinstance(principal, RedirectResponse):
        return principal
    try:
        day = parse_date(issue_date)
    except ValueError:
        return error_page(request, 422, "error.bad_date", value=issue_date)
    state = state_of(request)
    infos = state.stations()
    with db_session(request) as session:
        maybe_auto_publish(state, session)
        run = visible_run(session, principal, day)
        stations = station_levels(session, run, infos, principal)
        basins = basin_levels(session, run, infos, principal)
        run_v = view_of(session, run)
    lang = request_lang(request)
    counts = [sum(1 for s in stations if s.level == k) for k in range(4)]
    grey = sum(1 for s in stations if s.level is None)
    station_ids = {s.station_id for s in stations}
    # list basins apart only where they are more than their one station (the real data: one basin per station)
    show_basins = any(b.n_stations > 1 or b.basin_id not in station_ids for b in basins)
    polygons = {bid: r for bid, r in state.basin_geometries(rings).items() if r}
    return render(
        request,
        "map.html",
        run=run_v,
        stations=stations,
        basins=basins,
        counts=counts,
        n_grey=grey,
        no_coords=[s for s in stations if s.lat is None or s.lon is None],
        map_svg=map_svg(polygons, stations, basins, lang, state.settings.tile_url),
        show_basins=show_basins,
        tile_attribution=state.settings.tile_attribution,
    )
