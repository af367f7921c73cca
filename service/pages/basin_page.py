"""The basin page (`/basins/{basin_id}`): the basin's level, its stations, the spring flood outlook."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from forecasting.config import local_today
from records.published import basin_levels, basin_name, station_forecast_view, station_levels, visible_run
from service.pages.explain_view import why_short
from service.pages.map_data import station_names
from service.pages.outlook_view import outlook_view
from service.pages.render import db_session, error_page, reader_and_day, render, request_lang, state_of, view_of
from service.pages.texts import row_reason
from service.state import ServiceUnavailable
from service.svg.geo_map import map_svg, rings

router = APIRouter(include_in_schema=False)


@router.get("/basins/{basin_id}", response_class=HTMLResponse)
def basin_page(request: Request, basin_id: str, issue_date: str | None = None) -> Response:
    got = reader_and_day(request, issue_date)
    if isinstance(got, Response):
        return got
    principal, day = got
    if not principal.can_read_basin(basin_id):
        return error_page(request, 403, "error.forbidden")
    state = state_of(request)
    infos = state.stations()
    with db_session(request) as session:
        run = visible_run(session, principal, day)
        stations = [s for s in station_levels(session, run, infos, principal) if s.basin_id == basin_id]
        found = basin_levels(session, run, infos, principal, basin_id)
        run_v = view_of(session, run)
    basin = found[0] if found else None
    if basin is None and not stations:
        return error_page(request, 404, "basin.unknown", id=basin_id)
    lang = request_lang(request)
    polygons = {bid: r for bid, r in state.basin_geometries(rings).items() if r}
    by_lang = station_names(state.settings.home.root)
    names = {s.station_id: by_lang.get(s.station_id, {}).get(lang) or s.name for s in stations}
    issue = run.issue_date if run is not None else None
    reasons = {s.station_id: row_reason(s, issue, lang) for s in stations if s.level is None}
    small_map = map_svg(
        polygons, stations, [basin] if basin else [], lang, state.settings.tile_url, reasons=reasons, names=names
    )
    why: dict[str, str] = {}
    if run is not None:
        try:
            ds = state.forecast_ds(run)
        except ServiceUnavailable:
            ds = None
        if ds is not None and "driver_contribution" in ds:  # else every station's column would be empty
            with db_session(request) as session:
                for s in stations:
                    view = station_forecast_view(session, run, ds, s.station_id, infos, observation_days=0)
                    why[s.station_id] = why_short(view, lang)
    # the spring flood outlook current on the page's date: the run's issue date, else the asked date, else today
    on = run.issue_date if run is not None else day or local_today()
    return render(
        request,
        "basin.html",
        run=run_v,
        basin=basin,
        basin_id=basin_id,
        stations=stations,
        basin_name=basin.name if basin else basin_name(None, basin_id, infos),
        small_map=small_map,
        outlook=outlook_view(state.settings.home, basin_id, on, lang),
        why=why,
    )
