"""The FastAPI application: `create_app(settings) -> FastAPI`.

Serves the JSON API under `/api/v1` (service.api) and, where present, the review endpoints and the web dashboard
(service.review_api / service.dashboard, each exposing `setup(app)`, or `router` and optionally
`setup_<name>(app, settings)`). The database schema is migrated at
startup; if the database is down then, the API answers 503 and migrates as soon as it is reachable again.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from service.api import ServiceState, ServiceUnavailable, _short, router
from service.cache import CachedGetMiddleware, DatasetCache, ResponseCache
from service.db import make_engine, make_session_factory
from service.settings import Settings

log = logging.getLogger("tasqyn.service")

DESCRIPTION = """Flood risk levels and forecasts for Kazakhstan's rivers.

Levels: 0 normal, 1 warning (the 2-year flood or the official unfavourable mark), 2 danger, 3 extreme. Dates are
local days (Asia/Almaty); a forecast issued on day t for lead k is valid for day t+k. Discharge in m3/s, water level
in cm. Every forecast response carries its issue date, review status and data age. Errors: `{"detail": "..."}`.
"""

# Optional parts built beside the API: a module exposing `router` (an APIRouter) or `setup(app)`.
OPTIONAL_PARTS = ("service.review_api", "service.dashboard", "service.routers.outlook")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application for `settings` (default: from the environment)."""
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url)
    state = ServiceState(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        cache=ResponseCache(revalidate_s=settings.cache_revalidate_s),
        datasets=DatasetCache(),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            state.ensure_db()
        except ServiceUnavailable as exc:
            log.warning("%s; the API answers 503 until it is reachable", exc)
        yield
        engine.dispose()

    app = FastAPI(
        title="Tasqyn",
        version="1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[{"name": "api v1", "description": "published flood risk levels, forecasts, observations"}],
    )
    app.state.tasqyn = state
    app.state.settings = settings
    app.state.session_factory = state.session_factory
    app.state.engine = engine
    app.state.response_cache = state.cache

    try:
        from service.auth import setup_auth

        state._auth = setup_auth(app, state.session_factory, settings)
    except ImportError:  # pragma: no cover - auth is part of the service
        pass

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(request: Request, exc: ServiceUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    async def _db_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database error on %s: %s", request.url.path, _short(exc))
        return JSONResponse(
            {"detail": f"the database is unavailable: {_short(exc)}"}, status_code=503, headers={"Retry-After": "5"}
        )

    app.add_exception_handler(OperationalError, _db_down)
    app.add_exception_handler(DBAPIError, _db_down)
    app.add_exception_handler(PoolTimeout, _db_down)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if not request.url.path.startswith("/api/"):
            return await request_validation_exception_handler(request, exc)
        parts = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "path", "body"))
            inp = e.get("input")
            hint = " (expected YYYY-MM-DD)" if "date" in str(e.get("type", "")) else ""
            parts.append(f"invalid {loc or 'request'} {inp!r}: {e.get('msg', 'invalid')}{hint}")
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

    app.include_router(router)
    app.add_middleware(CachedGetMiddleware, state=state)
    for name in OPTIONAL_PARTS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        short = name.rsplit(".", 1)[-1]
        if hasattr(mod, "setup"):
            mod.setup(app)
            continue
        if hasattr(mod, f"setup_{short}"):
            getattr(mod, f"setup_{short}")(app, settings)
        if hasattr(mod, "router"):
            app.include_router(mod.router)
    return app
