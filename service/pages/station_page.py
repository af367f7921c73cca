"""The station page (`/stations/{station_id}`) and its CSV download: level or state, hydrograph with the forecast
fan, probabilities per lead, why it rises or falls, thresholds, the skill of the model that made it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from forecasting.config import local_today
from records.published import (
    basin_name,
    forecast_csv,
    station_forecast_view,
    station_level,
    usable_series,
    visible_run,
)
from service.pages.explain_view import why_view
from service.pages.render import db_session, error_page, parse_date, reader, render, request_lang, state_of, view_of
from service.state import ServiceUnavailable
from service.svg.charts import FAN_LEVELS, hydrograph_svg

router = APIRouter(include_in_schema=False)
HISTORY_DAYS = 60  # observed days shown before the issue date on the hydrograph


def _fan(fc, prefix: str, key: str) -> list[dict]:
    """The forecast fan of one variable: per lead the valid date and the quantiles q05..q95 (None if missing)."""
    rows = []
    for ld in fc.leads if fc else []:
        qs = ld.quantiles if key == "quantiles" else (ld.water_level_quantiles or {})
        row = {"date": ld.valid_date}
        for name, level in FAN_LEVELS:
            row[f"q{name}"] = qs.get(f"{level:g}")
        if row["q50"] is not None:
            rows.append(row)
    return rows


@router.get("/stations/{station_id}", response_class=HTMLResponse)
def station_page(request: Request, station_id: str, issue_date: str | None = None) -> Response:
    principal = reader(request)
    if isinstance(principal, RedirectResponse):
        return principal
    try:
        day = parse_date(issue_date)
    except ValueError:
        return error_page(request, 422, "error.bad_date", value=issue_date)
    state = state_of(request)
    loaded = state.store()
    infos = loaded.stations if loaded is not None else {}
    store = loaded.data if loaded is not None else None
    with db_session(request) as session:
        run = visible_run(session, principal, day)
        row = station_level(session, run, infos, station_id)
        if row is None:
            return error_page(request, 404, "station.unknown", id=station_id)
        if not principal.can_read_basin(row.basin_id):
            return error_page(request, 403, "error.forbidden")
        fc = None
        if run is not None:
            try:
                ds = state.forecast_ds(run)
            except ServiceUnavailable:
                ds = None
            if ds is not None:
                fc = station_forecast_view(
                    session, run, ds, station_id, infos, store, 0, state.backtest_skill(station_id)
                )
        run_v = view_of(session, run)
    lang = request_lang(request)
    issue = run.issue_date if run is not None else local_today()
    since = issue - dt.timedelta(days=HISTORY_DAYS)
    obs = usable_series(store, station_id, since, issue)
    thresholds = fc.thresholds if fc else []
    thr_m3s = {t.kind: t.value for t in thresholds if t.units == "m3/s"}
    fan = _fan(fc, "q", "quantiles")
    svg = hydrograph_svg(obs, fan, thr_m3s, issue, lang) if (obs or fan) else None
    level_svg = None  # marks in cm: the water-level forecast (discharge through the rating curve) against them
    thr_cm = {t.kind: t.value for t in thresholds if t.units == "cm"}
    level_fan = _fan(fc, "h", "levels")
    if thr_cm and level_fan:
        obs_h = usable_series(store, station_id, since, issue, "water_level_cm")
        level_svg = hydrograph_svg(obs_h, level_fan, thr_cm, issue, lang, "station.units_h")
    skill = fc.skill if fc else None
    if skill is not None:  # the page names the report file
        skill = {**skill, "report": Path(skill["report"]).name}
    return render(
        request,
        "station.html",
        run=run_v,
        station=row,
        fc=fc,
        svg=svg,
        level_svg=level_svg,
        rating_note=fc.rating_note if fc else "",
        skill=skill,
        why=why_view(fc, lang),
        meta=infos.get(station_id),
        basin_name=basin_name(None, row.basin_id, infos),
        has_recent_obs=bool(obs),
        history_days=HISTORY_DAYS,
    )


@router.get("/stations/{station_id}/forecast.csv")
def station_csv(request: Request, station_id: str, issue_date: str | None = None) -> Response:
    """The same CSV as the API's (records.published.forecast_csv), for the run this reader sees."""
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
        run = visible_run(session, principal, day)
        row = station_level(session, run, infos, station_id)
        if run is None or row is None:
            return error_page(request, 404, "station.no_forecast_for", id=station_id)
        if not principal.can_read_basin(row.basin_id):
            return error_page(request, 403, "error.forbidden")
        try:
            fc = station_forecast_view(session, run, state.forecast_ds(run), station_id, infos, observation_days=0)
        except ServiceUnavailable:
            fc = None
    if fc is None:
        return error_page(request, 404, "station.no_forecast_for", id=station_id)
    name = f"forecast-{station_id}-{run.issue_date.isoformat()}.csv"
    return Response(
        forecast_csv(fc),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
