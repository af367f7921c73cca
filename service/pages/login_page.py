"""Login and logout of the dashboard (signed session cookie; CSRF-checked forms; failed logins limited)."""

from __future__ import annotations

import math

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from records.accounts import SESSION_HOURS, revoke_session
from service import i18n
from service.auth import CSRF_COOKIE, SESSION_COOKIE, attempt_login, auth_config, check_csrf
from service.pages.render import db_session, error_page, render, request_lang

router = APIRouter(include_in_schema=False)


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:  # noqa: A002
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
async def login_submit(
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
        return await run_in_threadpool(
            render, request, "login.html", status_code=403, next=nxt, error=i18n.t("error.csrf", lang)
        )
    outcome = await attempt_login(request, username, password)
    if outcome.status in ("limited", "busy"):
        wait = outcome.retry_after
        key, fields = ("login.rate_limited", {"n": max(1, math.ceil(wait / 60))})
        if outcome.status == "busy":
            key, fields = "error.busy", {}
        resp = await run_in_threadpool(
            render,
            request,
            "login.html",
            status_code=429 if outcome.status == "limited" else 503,
            next=nxt,
            error=i18n.t(key, lang, **fields),
        )
        resp.headers["Retry-After"] = str(int(math.ceil(wait)))
        return resp
    if outcome.status != "ok":
        return await run_in_threadpool(
            render, request, "login.html", status_code=401, next=nxt, error=i18n.t("login.failed", lang)
        )
    resp = RedirectResponse(nxt, status_code=303)
    resp.set_cookie(
        SESSION_COOKIE,
        outcome.cookie or "",
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
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:  # ended on the server: a copy of the cookie stops working too
        with db_session(request) as session:
            revoke_session(session, cfg.secret, cookie)
            session.commit()
    resp = RedirectResponse("/", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp
