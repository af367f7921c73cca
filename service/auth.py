"""Access for the web application: the principal of a request (API key, session cookie or anonymous), FastAPI
dependencies for reading and for roles, and the access configuration kept on `app.state.auth`.

The account store itself (users, keys, passwords, sessions, CSRF tokens, login limits) is records.accounts.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, replace
from typing import Any

from fastapi import HTTPException, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from records.accounts import (
    ANONYMOUS,
    LoginBlock,
    LoginLimiter,
    LoginLimits,
    Principal,
    _basins,
    authenticate_user,
    check_csrf,
    create_session,
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


class GateBusy(Exception):
    """Every password-check slot stayed taken for the whole wait."""


def _lower_priority() -> None:
    """Run this thread (and the threads argon2 starts from it) at nice +10: under load the CPU goes to the API's
    requests first (Linux sets nice values per thread; elsewhere this does nothing)."""
    import os
    import threading

    with suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class PasswordGate:
    """At most `slots` password checks (argon2id: 64 MiB and tens to hundreds of milliseconds of CPU each) at once
    in this process, on `slots` threads of their own at a lower CPU priority. A login waits at most `wait_s` for a
    slot, and only while fewer than `max_waiting` others wait; then GateBusy (answered 503 with Retry-After).
    Waiting holds no thread (an asyncio semaphore per event loop): a login flood cannot take the threads or the
    CPU the API needs, and an attacker's clients spend the wait instead of sending more requests."""

    def __init__(self, slots: int = 2, wait_s: float = 2.0, max_waiting: int | None = None) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.slots = slots
        self.wait_s = wait_s
        self.max_waiting = max_waiting if max_waiting is not None else 64 * slots
        self.waiting = 0
        self.executor = ThreadPoolExecutor(slots, thread_name_prefix="password-check", initializer=_lower_priority)
        self._sems: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _sem(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._sems.get(loop)
        if sem is None:
            sem = self._sems[loop] = asyncio.Semaphore(self.slots)
        return sem

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        sem = self._sem()
        if sem.locked() and self.waiting >= self.max_waiting:
            raise GateBusy
        self.waiting += 1
        try:
            async with asyncio.timeout(self.wait_s):
                await sem.acquire()
        except TimeoutError:
            raise GateBusy from None
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            sem.release()

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` on one of the gate's threads once a slot is free (GateBusy if none in time)."""
        async with self.slot():
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)


class Tarpit:
    """Refused logins are answered after `delay_s` (at most `max_held` at once, the rest at once): a client that
    retries as fast as it can is slowed to one attempt per delay, for the price of an idle coroutine."""

    def __init__(self, delay_s: float = 1.0, max_held: int = 256) -> None:
        self.delay_s = delay_s
        self.max_held = max_held
        self.held = 0

    async def hold(self) -> None:
        if self.delay_s <= 0 or self.held >= self.max_held:
            return
        self.held += 1
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.held -= 1


@dataclass
class AuthConfig:
    """What the access rules need from the application (kept on `app.state.auth`)."""

    session_factory: Callable[[], Session]
    secret: bytes
    limiter: LoginLimiter
    gate: PasswordGate
    tarpit: Tarpit
    anonymous_read: bool = True
    secure_cookies: bool = False
    region_lookup: Callable[[str], frozenset[str]] | None = None  # basin id -> its regions


def setup_auth(
    app: Any,
    session_factory: Callable[[], Session],
    settings: Settings,
    region_lookup: Callable[[str], frozenset[str]] | None = None,
) -> AuthConfig:
    """The access configuration of `app` from its settings (`anonymous_read`, `secret_key` else
    `<home>/secret_key`, `secure_cookies`, the `login_*` limits), kept on `app.state.auth`.
    Called once, by service.app.create_app."""
    limits = LoginLimits(
        per_user=settings.login_max_failures,
        per_address=settings.login_max_failures_per_address,
        global_=settings.login_max_failures_global,
        window_s=settings.login_window_s,
        global_window_s=settings.login_global_window_s,
    )
    cfg = AuthConfig(
        session_factory=session_factory,
        secret=load_secret(settings.home.root, settings.secret_key),
        limiter=LoginLimiter(session_factory, limits),
        gate=PasswordGate(settings.login_concurrency, settings.login_wait_s),
        tarpit=Tarpit(min(1.0, settings.login_wait_s)),
        anonymous_read=settings.anonymous_read,
        secure_cookies=settings.secure_cookies,
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


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"


# --- logging in ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginOutcome:
    """What became of a login attempt: `ok` (with the session cookie), `failed` (wrong name or password),
    `limited` (too many failures: 429) or `busy` (no password-check slot in time: 503); `retry_after` seconds."""

    status: str
    cookie: str | None = None
    retry_after: float = 0.0


async def attempt_login(request: Request, username: str, password: str) -> LoginOutcome:
    """Check a login under the limits: refused without a password check while the user, the address or all
    addresses are over their failure limits; else one of the PasswordGate's slots checks the password (an unknown
    name at the same cost) and a failure is counted."""
    cfg = auth_config(request)
    ip = client_ip(request)
    block = cfg.limiter.remembered_block(ip)
    if block is None:
        block = await run_in_threadpool(cfg.limiter.check, username, ip)
    if block is None:
        try:
            outcome = await cfg.gate.run(_check_password, cfg, username, password, ip)
        except GateBusy:
            return LoginOutcome("busy", retry_after=max(1.0, cfg.gate.wait_s))
        if outcome.status != "limited":
            return outcome
        block = LoginBlock(outcome.status, outcome.retry_after)
    await cfg.tarpit.hold()
    return LoginOutcome("limited", retry_after=block.retry_after)


def _check_password(cfg: AuthConfig, username: str, password: str, ip: str) -> LoginOutcome:
    block = cfg.limiter.check(username, ip)  # again: other attempts may have failed while this one waited
    if block is not None:
        return LoginOutcome("limited", retry_after=block.retry_after)
    with cfg.session_factory() as s:
        user = authenticate_user(s, username, password)
        cookie = create_session(s, cfg.secret, user) if user is not None else None
        s.commit()
    if cookie is None:
        cfg.limiter.failed(username, ip)
        return LoginOutcome("failed")
    cfg.limiter.succeeded(username, ip)
    return LoginOutcome("ok", cookie=cookie)
