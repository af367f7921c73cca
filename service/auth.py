"""Access for the web application: the principal of a request (API key, session cookie or anonymous), FastAPI
dependencies for reading and for roles, and the access configuration kept on `app.state.auth`.

The account store itself (users, keys, passwords, sessions, CSRF tokens, login limits) is records.accounts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import HTTPException, Request
from sqlalchemy.orm import Session

from records.accounts import (
    ANONYMOUS,
    LoginLimiter,
    Principal,
    _basins,
    check_csrf,
    csrf_token,
    load_secret,
    new_csrf_seed,
    principal_for_key,
    user_for_session,
)

__all__ = ["check_csrf", "csrf_token", "new_csrf_seed"]  # the pages' CSRF helpers, from records.accounts
from service.settings import Settings

SESSION_COOKIE = "tasqyn_session"
CSRF_COOKIE = "tasqyn_csrf"
CSRF_FIELD = "csrf_token"


# --- request context -----------------------------------------------------------------------------------------


@dataclass
class AuthConfig:
    """What the access rules need from the application (kept on `app.state.auth`)."""

    session_factory: Callable[[], Session]
    secret: bytes
    anonymous_read: bool = True
    secure_cookies: bool = False
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    region_lookup: Callable[[str], frozenset[str]] | None = None  # basin id -> its regions


def setup_auth(
    app: Any,
    session_factory: Callable[[], Session],
    settings: Settings,
    region_lookup: Callable[[str], frozenset[str]] | None = None,
) -> AuthConfig:
    """The access configuration of `app` from its settings (`anonymous_read`, `secret_key` else
    `<home>/secret_key`, `secure_cookies`, `login_max_failures`, `login_window_s`), kept on `app.state.auth`.
    Called once, by service.app.create_app."""
    cfg = AuthConfig(
        session_factory=session_factory,
        secret=load_secret(settings.home.root, settings.secret_key),
        anonymous_read=settings.anonymous_read,
        secure_cookies=settings.secure_cookies,
        limiter=LoginLimiter(settings.login_max_failures, settings.login_window_s),
        region_lookup=region_lookup,
    )
    app.state.auth = cfg
    return cfg


def auth_config(request: Request) -> AuthConfig:
    cfg = getattr(request.app.state, "auth", None)
    if cfg is None:
        raise RuntimeError("service.auth.setup_auth(app, ...) was not called")
    return cfg


def _api_key_from(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key") or None


def resolve_principal(request: Request) -> Principal:
    """Who sent `request`: an API key (an invalid or revoked key is a 401, never silently anonymous), else a
    valid session cookie, else the anonymous reader. Cached on the request."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    cfg = auth_config(request)
    key = _api_key_from(request)
    principal: Principal | None = None
    if key:
        with cfg.session_factory() as s:
            principal = principal_for_key(s, key)
        if principal is None:
            raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            with cfg.session_factory() as s:
                user = user_for_session(s, cfg.secret, cookie)
                if user is not None:
                    principal = Principal(user.username, user.role, _basins(user.basins), "session")
    principal = principal or ANONYMOUS
    if principal.basins is not None and cfg.region_lookup is not None:
        principal = replace(principal, regions_of=cfg.region_lookup)
    request.state.principal = principal
    return principal


def require_read(request: Request) -> Principal:
    """FastAPI dependency for read endpoints: anonymous readers pass only if the `anonymous_read` setting is on."""
    principal = resolve_principal(request)
    if not principal.authenticated and not auth_config(request).anonymous_read:
        raise HTTPException(401, "an API key or a login is required", headers={"WWW-Authenticate": "Bearer"})
    return principal


def require_role(*roles: str) -> Callable[[Request], Principal]:
    """A FastAPI dependency that lets through only the given roles (admin always passes): 401 if not logged in,
    403 if logged in with another role."""

    def dependency(request: Request) -> Principal:
        principal = resolve_principal(request)
        if not principal.authenticated:
            raise HTTPException(401, "an API key or a login is required", headers={"WWW-Authenticate": "Bearer"})
        if principal.role != "admin" and principal.role not in roles:
            raise HTTPException(403, f"the role {principal.role!r} may not do this (needs {' or '.join(roles)})")
        return principal

    return dependency


def check_basin(principal: Principal, basin_id: str | None) -> None:
    """Raise 403 if `principal` is limited to other basins than `basin_id`."""
    if not principal.can_read_basin(basin_id):
        raise HTTPException(403, f"this key or user is not allowed to read basin {basin_id!r}")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"
