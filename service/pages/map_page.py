"""The map page (`/`): the stations and basins of the run the reader sees, on the interactive map (static/map_app.js
over the offline layers, its data from service.pages.map_data) and in lists; the server-drawn SVG stays inside
`#map-app` for print and for browsers without JavaScript."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from records.published import basin_levels, station_levels, visible_run
from service.pages.map_data import LAYERS, LAYERS_BASE, map_payload, script_json
from service.pages.render import (
    db_session,
    maybe_auto_publish,
    reader_and_day,
    render,
    request_lang,
    state_of,
    view_of,
)
from service.svg.geo_map import map_svg, rings

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def map_page(request: Request, issue_date: str | None = None) -> Response:
    got = reader_and_day(request, issue_date)
    if isinstance(got, Response):
        return got
    principal, day = got
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
    issue = run.issue_date if run is not None else None
    payload = map_payload(
        stations,
        infos,
        lang,
        issue,
        tile_url=state.settings.tile_url,
        tile_attribution=state.settings.tile_attribution,
        home_root=state.settings.home.root,
    )
    names = {s["id"]: s["name"] for s in payload["stations"]}
    reasons = {s["id"]: s["reason"] for s in payload["stations"] if s["reason"]}
    svg = map_svg(
        polygons,
        stations,
        basins,
        lang,
        state.settings.tile_url,
        reasons=reasons,
        wm_levels=payload["wm_basin_levels"],
        names=names,
    )
    return render(
        request,
        "map.html",
        run=run_v,
        stations=stations,
        names=names,
        basins=basins,
        counts=counts,
        n_grey=grey,
        no_coords=[s for s in stations if s.lat is None or s.lon is None],
        map_svg=svg,
        map_json=script_json(payload),
        layers=[f"{LAYERS_BASE}{n}.geojson" for n in LAYERS if not (n == "world_110m" and payload["tile_url"])],
        show_basins=show_basins,
        tile_attribution=state.settings.tile_attribution,
    )
