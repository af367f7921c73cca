"""The station page (`/stations/{station_id}`) and its CSV download: level or state, the hydrograph (interactive:
static/chart_app.js with the data of service.pages.chart_data; server-drawn SVG for print and no JavaScript) with
the usual band, last and record year, the marks, the forecast fan and the earlier forecasts; the water level against
the marks in cm; probabilities per lead, why it rises or falls, thresholds, the skill of the model that made it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from forecasting.config import local_today
from records.published import (
    basin_name,
    forecast_csv,
    forecast_history,
    registry_marks,
    station_forecast_view,
    station_level,
    usable_series,
    visible_run,
)
from service.pages.chart_data import chart_payload, fan_rows, history_summary, medians_loader
from service.pages.explain_view import why_view
from service.pages.map_data import script_json
from service.pages.render import db_session, error_page, reader_and_day, render, request_lang, state_of, view_of
from service.pages.texts import rating_text
from service.state import ServiceUnavailable
from service.svg.charts import hydrograph_svg

router = APIRouter(include_in_schema=False)
HISTORY_DAYS = 60  # observed days shown before the issue date on the server-drawn hydrograph (print, no JavaScript)
HISTORY_RUNS = 30  # earlier issue dates whose forecast medians the interactive hydrograph shows


def _safe_ds(state, run):  # noqa: ANN001, ANN202
    try:
        return state.forecast_ds(run)
    except ServiceUnavailable:
        return None


@router.get("/stations/{station_id}", response_class=HTMLResponse)
def station_page(request: Request, station_id: str, issue_date: str | None = None) -> Response:
    got = reader_and_day(request, issue_date)
    if isinstance(got, Response):
        return got
    principal, day = got
    state = state_of(request)
    loaded = state.store()
    infos = loaded.stations if loaded is not None else {}
    store = loaded.data if loaded is not None else None
    try:  # the climatology of a chart is kept per version of the observation store
        stamp = state.settings.home.observations.stat().st_mtime_ns
    except OSError:
        stamp = None
    lang = request_lang(request)
    with db_session(request) as session:
        run = visible_run(session, principal, day)
        row = station_level(session, run, infos, station_id)
        if row is None:
            return error_page(request, 404, "station.unknown", id=station_id)
        if not principal.can_read_basin(row.basin_id):
            return error_page(request, 403, "error.forbidden")
        fc = None
        ds = _safe_ds(state, run) if run is not None else None
        if ds is not None:
            fc = station_forecast_view(session, run, ds, station_id, infos, store, 0, state.backtest_skill(station_id))
        run_v = view_of(session, run)
        issue = run.issue_date if run is not None else local_today()
        history = forecast_history(
            session,
            principal,
            station_id,
            issue,
            HISTORY_RUNS,
            medians_loader(lambda r: _safe_ds(state, r), "discharge_m3s"),
            store,
        )
        level_history = forecast_history(
            session,
            principal,
            station_id,
            issue,
            HISTORY_RUNS,
            medians_loader(lambda r: _safe_ds(state, r), "water_level_cm"),
            store,
            "water_level_cm",
        )
    thresholds = fc.thresholds if fc else []
    fan = fan_rows(fc.leads) if fc else []
    chart = chart_payload(
        store=store, station_id=station_id, issue=issue, fan=fan, thresholds=thresholds, history=history, lang=lang,
        stamp=stamp,
    )  # fmt: skip
    # the water level in cm against the marks, where the station has marks in cm (its forecast's, or the registry's)
    marks_cm = [t for t in thresholds if t.units == "cm"] or registry_marks(store, station_id, "cm")
    level_fan = fan_rows(fc.leads, water_level=True) if fc else []
    level_chart = None
    if marks_cm:
        level_chart = chart_payload(
            store=store, station_id=station_id, issue=issue, fan=level_fan, thresholds=marks_cm, history=level_history,
            lang=lang, var="water_level_cm", stamp=stamp,
        )  # fmt: skip
    # the server-drawn charts (print, no JavaScript): the last HISTORY_DAYS days, the fan, the usual band
    since = issue - dt.timedelta(days=HISTORY_DAYS)
    obs = usable_series(store, station_id, since, issue)
    svg = None
    if obs or fan:
        thr = {t.kind: t.value for t in thresholds if t.units == "m3/s"}
        band = chart["series"]["clim"] if chart else None
        svg = hydrograph_svg(obs, fan, thr, issue, lang, clim=band, history=history)
    level_svg = None
    if level_chart is not None:
        obs_h = usable_series(store, station_id, since, issue, "water_level_cm")
        thr_cm = {t.kind: t.value for t in marks_cm}
        band = level_chart["series"]["clim"]
        level_svg = hydrograph_svg(obs_h, level_fan, thr_cm, issue, lang, "station.units_h", band, level_history)
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
        chart_json=script_json(chart) if chart else None,
        level_svg=level_svg,
        level_chart_json=script_json(level_chart) if level_chart else None,
        marks_cm=marks_cm,
        rating_note=rating_text(fc.rating, lang, fc.level_only_reference_cm) if fc else "",
        skill=skill,
        why=why_view(fc, lang),
        meta=infos.get(station_id),
        basin_name=basin_name(None, row.basin_id, infos),
        has_recent_obs=bool(obs),
        history_days=HISTORY_DAYS,
        history=history_summary(history),
    )


@router.get("/stations/{station_id}/forecast.csv")
def station_csv(request: Request, station_id: str, issue_date: str | None = None) -> Response:
    """The same CSV as the API's (records.published.forecast_csv), for the run this reader sees."""
    got = reader_and_day(request, issue_date)
    if isinstance(got, Response):
        return got
    principal, day = got
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
