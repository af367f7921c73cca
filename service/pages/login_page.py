"""Login and logout of the dashboard (signed session cookie; CSRF-checked forms; failed logins limited)."""

from __future__ import annotations

import math

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from records.accounts import SESSION_HOURS, authenticate_user, make_session_cookie
from service import i18n
from service.auth import CSRF_COOKIE, SESSION_COOKIE, auth_config, check_csrf, client_ip
from service.pages.render import db_session, error_page, render, request_lang

router = APIRouter(include_in_schema=False)


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:  # noqa: A002
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form("/"),  # noqa: A002
) -> Response:
    cfg = auth_config(request)
    lang = request_lang(request)
    nxt = _safe_next(next)
    if not check_csrf(cfg.secret, request.cookies.get(CSRF_COOKIE), csrf_token):
        return render(request, "login.html", status_code=403, next=nxt, error=i18n.t("error.csrf", lang))
    ip = client_ip(request)
    wait = cfg.limiter.retry_after(username, ip)
    if wait > 0:
        resp = render(
            request,
            "login.html",
            status_code=429,
            next=nxt,
            error=i18n.t("login.rate_limited", lang, n=max(1, math.ceil(wait / 60))),
        )
        resp.headers["Retry-After"] = str(int(math.ceil(wait)))
        return resp
    with db_session(request) as session:
        user = authenticate_user(session, username, password)
        cookie = make_session_cookie(cfg.secret, user) if user is not None else None
        session.commit()
    if cookie is None:
        cfg.limiter.failed(username, ip)
        return render(request, "login.html", status_code=401, next=nxt, error=i18n.t("login.failed", lang))
    cfg.limiter.succeeded(username, ip)
    resp = RedirectResponse(nxt, status_code=303)
    resp.set_cookie(
        SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=cfg.secure_cookies,
        max_age=int(SESSION_HOURS * 3600),
    )
    return resp


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form("")) -> Response:
    cfg = auth_config(request)
    if not check_csrf(cfg.secret, request.cookies.get(CSRF_COOKIE), csrf_token):
        return error_page(request, 403, "error.csrf")
    resp = RedirectResponse("/", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp
