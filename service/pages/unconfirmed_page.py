"""The hydrologist's page of values held as unconfirmed (`/review/unconfirmed`), with a confirm button each."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from forecasting.confirmations import ConfirmationError, confirm
from service import i18n
from service.auth import CSRF_COOKIE, auth_config, check_csrf
from service.pages.render import error_page, render, request_lang, reviewer, state_of
from service.routers.unconfirmed import held_values

router = APIRouter(include_in_schema=False)


@router.get("/review/unconfirmed", response_class=HTMLResponse)
def unconfirmed_page(request: Request) -> Response:
    principal = reviewer(request)
    if isinstance(principal, Response):
        return principal
    state = state_of(request)
    return render(request, "unconfirmed.html", held=held_values(state, principal), stations=state.stations())


@router.post("/review/unconfirmed")
def confirm_form(
    request: Request,
    station_id: str = Form(...),
    variable: str = Form(...),
    date: str = Form(...),
    value: str = Form(...),
    note: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    if not check_csrf(auth_config(request).secret, request.cookies.get(CSRF_COOKIE), csrf_token):
        return error_page(request, 403, "error.csrf")
    principal = reviewer(request)
    if isinstance(principal, Response):
        return principal
    lang = request_lang(request)
    state = state_of(request)
    info = state.stations().get(station_id)
    if info is None or not principal.can_read_basin(info.basin_id):
        return error_page(request, 404, "station.unknown", id=station_id)
    try:
        confirm(state.settings.home, station_id, variable, date, float(value), principal.name, note)
    except (ConfirmationError, ValueError) as exc:
        return RedirectResponse(f"/review/unconfirmed?{urlencode({'msg': str(exc), 'error': '1'})}", status_code=303)
    state.cache.invalidate()
    msg = i18n.t("unconfirmed.done", lang, station=info.name, date=date)
    return RedirectResponse(f"/review/unconfirmed?{urlencode({'msg': msg})}", status_code=303)
