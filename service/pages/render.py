"""Rendering the dashboard's pages: templates, the language, the common context, errors, who may read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from records.accounts import Principal
from records.published import RunView, run_view
from records.review import auto_publish_due
from service import i18n
from service.auth import CSRF_COOKIE, auth_config, csrf_token, new_csrf_seed, resolve_principal
from service.pages import texts
from service.pages.map_data import station_names
from service.state import ServiceState

HERE = Path(__file__).resolve().parents[1]
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
TEMPLATES.env.trim_blocks = True
TEMPLATES.env.lstrip_blocks = True
TEMPLATES.env.filters["ucfirst"] = lambda text: text[:1].upper() + text[1:] if text else text
TEMPLATES.env.filters["todate"] = lambda text: dt.date.fromisoformat(str(text)[:10]) if text else None
AUTO_PUBLISH_EVERY_S = 60.0


def state_of(request: Request) -> ServiceState:
    return request.app.state.tasqyn


def request_lang(request: Request) -> str:
    """?lang= first, then the cookie, then Russian."""
    return i18n.norm_lang(request.query_params.get("lang") or request.cookies.get(i18n.LANG_COOKIE))


def _lang_url(request: Request, lang: str) -> str:
    params = dict(request.query_params)
    params["lang"] = lang
    params.pop("msg", None)
    return f"{request.url.path}?{urlencode(params)}"


def db_session(request: Request) -> Session:
    """A session for a page (migrates once the database is reachable; 503 while it is down)."""
    state = state_of(request)
    state.ensure_db()
    return state.session_factory()


def view_of(session: Session, run: Any) -> RunView | None:
    return run_view(session, run) if run is not None else None


def render(request: Request, template: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """Render a page with the common context (language, principal, CSRF token, the run's banner: `run` is a
    records.published.RunView or None) and set the language and CSRF cookies."""
    lang = request_lang(request)
    cfg = auth_config(request)
    principal = resolve_principal(request)
    seed = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf_seed", None) or new_csrf_seed()

    def tr(key: str, **fields: Any) -> str:
        return i18n.t(key, lang, **fields)

    run = ctx.get("run")
    issue = getattr(run, "issue_date", None)
    names = station_names(state_of(request).settings.home.root)

    def sname(row: Any) -> str:
        """A station's name in the reader's language where known (service/locale/station_names.csv)."""
        return names.get(row.station_id, {}).get(lang) or row.name

    context = {
        "request": request,
        "lang": lang,
        "langs": [(code, i18n.LANG_NAMES[code], _lang_url(request, code)) for code in i18n.LANGS],
        "tr": tr,
        "i18n": i18n,
        "fdate": lambda d, year=True: i18n.format_date(d, lang, year),
        "fdatetime": lambda m: i18n.format_datetime(m, lang),
        "fnum": lambda x, digits=None: i18n.format_number(x, lang, digits),
        "fpct": lambda p: i18n.format_pct(p, lang),
        "fchange": lambda x: i18n.format_change(x, lang),
        "fpercent": lambda x: i18n.format_percent(x, lang),
        "sname": sname,
        "reason": lambda row: texts.row_reason(row, issue, lang),
        "model_label": lambda name: texts.model_label(name, lang),
        "thr_source": lambda thr: texts.threshold_source(thr, lang),
        "unit": lambda u: i18n.unit(u, lang),
        "phrase": lambda level, p, d: i18n.level_phrase(level, p, d, lang),
        "level_name": lambda level: i18n.level_name(level, lang),
        "state_name": lambda state: i18n.state_name(state, lang),
        "level_colour": i18n.level_colour,
        "principal": principal,
        "csrf": csrf_token(cfg.secret, seed),
        "path": request.url.path,
        "msg": request.query_params.get("msg"),
        "fage": lambda n: i18n.format_age(n, lang),
        "run": None,
        **ctx,
    }
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    if request.query_params.get("lang") or not request.cookies.get(i18n.LANG_COOKIE):
        response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    if not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(CSRF_COOKIE, seed, httponly=True, samesite="lax", secure=cfg.secure_cookies)
    return response


def error_page(request: Request, status: int, key: str, **fields: Any) -> HTMLResponse:
    """An error page in the reader's language (never raw JSON on the dashboard)."""
    return render(request, "error.html", status_code=status, message=i18n.t(key, request_lang(request), **fields))


def reader(request: Request) -> Principal | RedirectResponse:
    """The principal if it may read the dashboard, else a redirect to the login page."""
    principal = resolve_principal(request)
    if not principal.authenticated and not auth_config(request).anonymous_read:
        return RedirectResponse(f"/login?next={quote(str(request.url.path))}", status_code=303)
    return principal


def reader_and_day(request: Request, issue_date: str | None) -> tuple[Principal, dt.date | None] | Response:
    """The reader (else a redirect to the login page) and the asked issue date (else a 422 page)."""
    principal = reader(request)
    if isinstance(principal, Response):
        return principal
    try:
        return principal, parse_date(issue_date)
    except ValueError:
        return error_page(request, 422, "error.bad_date", value=issue_date)


def reviewer(request: Request, back: str | None = None) -> Principal | Response:
    """The principal if it may review (hydrologist, admin), else the login page (back to `back` or this page) or
    a 403 page."""
    principal = resolve_principal(request)
    if not principal.authenticated:
        return RedirectResponse(f"/login?next={quote(back or str(request.url.path))}", status_code=303)
    if not principal.can_review:
        return error_page(request, 403, "error.forbidden")
    return principal


def parse_date(value: str | None) -> dt.date | None:
    """An issue date from a query parameter; ValueError (shown as a 422 page) when malformed."""
    if not value:
        return None
    return dt.date.fromisoformat(value)


def maybe_auto_publish(state: ServiceState, session: Session) -> list[str]:
    """Publish overdue drafts, marked unreviewed (records.review.auto_publish_due), at most once a minute per
    process; empties the response cache when something was published."""
    deadline = state.settings.review_deadline_hours
    if deadline is None:
        return []
    import time

    now = time.monotonic()
    with state.auto_publish_lock:
        if now - state.last_auto_publish < AUTO_PUBLISH_EVERY_S:
            return []
        state.last_auto_publish = now
    done = auto_publish_due(session, deadline)
    if done:
        session.commit()
        state.cache.invalidate()
    return done
