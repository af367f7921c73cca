"""The runs page (`/runs`), the approval summary (`/runs/{issue_date}/approve`) and the review forms."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from records.notifications import failed_messages
from records.published import approval_summary, readable_actions, run_view, visible_run, visible_runs
from records.review import Actor, ReviewError, apply_review, audit_trail, run_for_review
from service import i18n
from service.auth import CSRF_COOKIE, auth_config, check_csrf
from service.outreach import deliver_soon
from service.pages.render import (
    db_session,
    error_page,
    maybe_auto_publish,
    reader,
    render,
    request_lang,
    reviewer,
    state_of,
)
from service.routers.unconfirmed import held_values

router = APIRouter(include_in_schema=False)


@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request) -> Response:
    principal = reader(request)
    if isinstance(principal, RedirectResponse):
        return principal
    state = state_of(request)
    with db_session(request) as session:
        maybe_auto_publish(state, session)
        runs = [run_view(session, r) for r in visible_runs(session, principal)]
        trail = audit_trail(session, limit=200) if principal.authenticated else None
        current = visible_run(session, principal)
        current_v = run_view(session, current) if current is not None else None
        deliveries = failed_messages(session) if principal.can_review else None
    if trail is not None:
        trail = readable_actions(trail, principal, state.stations())
    n_held = len(held_values(state, principal)) if principal.can_review else 0
    return render(request, "runs.html", run=current_v, runs=runs, trail=trail, n_held=n_held, deliveries=deliveries)


@router.get("/runs/{issue_date}/approve", response_class=HTMLResponse)
def approve_page(request: Request, issue_date: str) -> Response:
    """What an approval of the newest run of `issue_date` will publish, with the button that publishes it."""
    principal = reviewer(request)
    if isinstance(principal, Response):
        return principal
    try:
        day = dt.date.fromisoformat(issue_date)
    except ValueError:
        return error_page(request, 422, "error.bad_date", value=issue_date)
    state = state_of(request)
    with db_session(request) as session:
        try:
            run = run_for_review(session, day)
        except ReviewError:
            return error_page(request, 404, "review.no_run", date=issue_date)
        summary = approval_summary(session, run, state.stations(), principal)
    return render(request, "approve.html", run=summary.run, summary=summary)


@router.post("/forecasts/{issue_date}/review")
def review_form(
    request: Request,
    issue_date: str,
    action: str = Form(...),
    csrf_token: str = Form(""),
    station_id: str = Form(""),
    basin_id: str = Form(""),
    level: str = Form(""),
    reason: str = Form(""),
    back: str = Form(""),
) -> Response:
    """A review action from a page form (CSRF-checked). Back on the page it came from, showing the run acted on
    (its issue date in the address), with a message saying what was done."""
    cfg = auth_config(request)
    if not check_csrf(cfg.secret, request.cookies.get(CSRF_COOKIE), csrf_token):
        return error_page(request, 403, "error.csrf")
    principal = reviewer(request, back or "/")
    if isinstance(principal, Response):
        return principal
    lang = request_lang(request)
    try:
        day = dt.date.fromisoformat(issue_date)
    except ValueError:
        return error_page(request, 422, "error.bad_date", value=issue_date)
    target = back if back.startswith("/") and not back.startswith("//") else "/"
    target = target.split("?", 1)[0]

    def back_to(message: str, error: bool = False) -> RedirectResponse:
        params = {"issue_date": day.isoformat(), "msg": message, **({"error": "1"} if error else {})}
        return RedirectResponse(f"{target}?{urlencode(params)}", status_code=303)

    try:
        new_level = int(level) if level.strip() not in ("", "clear") else None
    except ValueError:
        return back_to(i18n.t("review.bad_level", lang), error=True)
    with db_session(request) as session:
        try:
            _, entry = apply_review(
                session,
                day,
                Actor(principal.name, principal.role),
                action,
                station_id or None,
                basin_id or None,
                new_level,
                reason,
            )
        except ReviewError as exc:
            if "reason" in str(exc) and "required" in str(exc):
                return back_to(i18n.t("review.reason_required", lang), error=True)
            # the read model's English reason is shown as it is only in English; other languages say what failed
            detail = f": {exc}" if lang == "en" else ""
            return back_to(i18n.t("review.failed", lang) + detail, error=True)
        session.commit()
    state_of(request).cache.invalidate()
    deliver_soon(state_of(request))  # the notifications a publication queued (service.outreach)
    if action == "approve":
        message = i18n.t("review.done_approve", lang, date=i18n.format_date(day, lang))
    else:
        message = i18n.t(
            "review.done_override", lang, target=station_id or basin_id, level=i18n.level_name(entry.new_level, lang)
        )
    return back_to(message)
