"""The admin page of notification subscriptions (`/admin/subscriptions`, admin role): list, add, remove.

The rules and checks are records.notifications' (an invalid e-mail, URL or basin is refused with its message);
the webhook secret is shown once, after adding.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from records.notifications import (
    SubscriptionError,
    add_subscription,
    known_basins,
    list_subscriptions,
    redact,
    remove_subscription,
)
from service import i18n
from service.auth import CSRF_COOKIE, auth_config, check_csrf, resolve_principal
from service.pages.render import db_session, error_page, render, request_lang, state_of

router = APIRouter(include_in_schema=False)
PATH = "/admin/subscriptions"


def _admin(request: Request) -> Response | None:
    principal = resolve_principal(request)
    if not principal.authenticated:
        return RedirectResponse(f"/login?next={quote(PATH)}", status_code=303)
    if principal.role != "admin":
        return error_page(request, 403, "error.forbidden")
    return None


def _lines(text: str) -> list[str]:
    return [x.strip() for x in text.replace(",", "\n").splitlines() if x.strip()]


@router.get(PATH, response_class=HTMLResponse)
def subscriptions_page(request: Request) -> Response:
    denied = _admin(request)
    if denied is not None:
        return denied
    with db_session(request) as session:
        subs = list_subscriptions(session)
        rows = [
            {
                "id": s.id,
                "owner": f"{s.owner_type}:{s.owner}",
                "basins": ", ".join(s.basins or []),
                "min_level": s.min_level,
                "lang": s.lang,
                "channels": [
                    f"{c['type']}: {c['target'] if c['type'] == 'email' else redact(c['target'])}" for c in s.channels
                ],
            }
            for s in subs
        ]
    return render(request, "subscriptions.html", subs=rows, error=request.query_params.get("error"))


@router.post(PATH)
def subscriptions_add(
    request: Request,
    csrf_token: str = Form(""),
    owner_type: str = Form("user"),
    owner: str = Form(""),
    basins: str = Form(""),
    min_level: str = Form("1"),
    lang: str = Form("ru"),
    emails: str = Form(""),
    webhooks: str = Form(""),
    apprise_urls: str = Form(""),
) -> Response:
    if not check_csrf(auth_config(request).secret, request.cookies.get(CSRF_COOKIE), csrf_token):
        return error_page(request, 403, "error.csrf")
    denied = _admin(request)
    if denied is not None:
        return denied
    state = state_of(request)
    store_basins = {s.basin_id for s in state.stations().values()}
    with db_session(request) as session:
        try:
            sub = add_subscription(
                session,
                owner_type,
                owner.strip(),
                _lines(basins),
                int(min_level) if min_level.strip().isdigit() else min_level,
                lang,
                _lines(emails),
                _lines(webhooks),
                _lines(apprise_urls),
                valid_basins=known_basins(session, store_basins),
                created_by=resolve_principal(request).name,
            )
        except SubscriptionError as exc:
            return RedirectResponse(f"{PATH}?{urlencode({'msg': str(exc), 'error': '1'})}", status_code=303)
        session.commit()
        message = i18n.t("subs.added", request_lang(request), id=sub.id, secret=sub.secret)
    return RedirectResponse(f"{PATH}?{urlencode({'msg': message})}", status_code=303)


@router.post(PATH + "/{subscription_id}/remove")
def subscriptions_remove(request: Request, subscription_id: int, csrf_token: str = Form("")) -> Response:
    if not check_csrf(auth_config(request).secret, request.cookies.get(CSRF_COOKIE), csrf_token):
        return error_page(request, 403, "error.csrf")
    denied = _admin(request)
    if denied is not None:
        return denied
    with db_session(request) as session:
        try:
            remove_subscription(session, subscription_id)
        except SubscriptionError as exc:
            return RedirectResponse(f"{PATH}?{urlencode({'msg': str(exc), 'error': '1'})}", status_code=303)
        session.commit()
    message = i18n.t("subs.removed", request_lang(request), id=subscription_id)
    return RedirectResponse(f"{PATH}?{urlencode({'msg': message})}", status_code=303)
