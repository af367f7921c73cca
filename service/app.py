"""The FastAPI application: `create_app(settings) -> FastAPI`.

Presentation only: the JSON API under `/api/v1` (service.routers) and the dashboard under `/` (service.pages),
both rendering the read model of records.published. Routers are included explicitly below. The database schema is
migrated at startup; if the database is down then, the API answers 503 and migrates as soon as it is reachable.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from records.db import make_engine, make_session_factory
from records.publication import fail_abandoned_runs
from service.auth import setup_auth
from service.cache import CachedGetMiddleware, CachedPageMiddleware, DatasetCache, ResponseCache
from service.errors import install_docs, install_error_handlers
from service.metrics import install_metrics
from service.middleware import DashboardGZip, ReviewDeadline, SecurityHeaders
from service.pages import (
    basin_page,
    login_page,
    map_page,
    runs_page,
    station_page,
    subscriptions_page,
    unconfirmed_page,
)
from service.pages.render import HERE
from service.routers import basins, bulletins, health, observations, outlook, review, stations, unconfirmed
from service.settings import Settings
from service.state import ServiceState, ServiceUnavailable

log = logging.getLogger("tasqyn.service")

DESCRIPTION = """Flood risk levels and forecasts for Kazakhstan's rivers.

Levels: 0 normal, 1 warning (the 2-year flood or the official unfavourable mark), 2 danger, 3 extreme; `null`
with a `state` (stale, climatology, fallback, no_thresholds, failed) and its `reason` where a station has no
current forecast: never shown as normal. Dates are local days (Asia/Almaty); a forecast issued on day t for lead k
is valid for day t+k. Discharge in m3/s, water level in cm. Every forecast response carries its issue date, review
status, data age (newest observation to issue date) and forecast age (issue date to today).
Errors: `{"detail": "..."}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application for `settings` (default: from the environment)."""
    settings = settings or Settings()
    engine = make_engine(settings.database_url, timeout_s=settings.db_timeout_s)
    state = ServiceState(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        cache=ResponseCache(revalidate_s=settings.cache_revalidate_s, max_bytes=int(settings.cache_max_mb * 2**20)),
        datasets=DatasetCache(),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            state.ensure_db()
            with state.session_factory() as session:  # runs left `running` by a killed flow
                for dead in fail_abandoned_runs(session, settings.home.forecasts_dir):
                    log.warning("run %s was left running by a process that is gone: marked failed", dead)
                session.commit()
        except ServiceUnavailable as exc:
            log.warning("%s; the API answers 503 until it is reachable", exc)
        yield
        engine.dispose()

    app = FastAPI(
        title="Tasqyn",
        version="1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # service.errors.install_docs: Swagger UI from the vendored files
        redoc_url=None,
        openapi_tags=[
            {"name": "api v1", "description": "published flood risk levels, forecasts, observations"},
            {"name": "review", "description": "approval and overrides by hydrologists"},
        ],
    )
    app.state.tasqyn = state
    app.state.settings = settings
    setup_auth(app, state.session_factory, settings, region_lookup=state.regions_of)
    install_error_handlers(app)
    install_docs(app)

    for api in (health, basins, stations, observations, outlook, review, unconfirmed, bulletins):
        app.include_router(api.router)
    for page in (map_page, basin_page, station_page, runs_page, login_page, unconfirmed_page, subscriptions_page):
        app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    app.add_middleware(CachedGetMiddleware, state=state)
    app.add_middleware(DashboardGZip)
    app.add_middleware(CachedPageMiddleware, state=state)  # outside gzip: keeps the compressed page
    app.add_middleware(ReviewDeadline, state=state)
    app.add_middleware(SecurityHeaders, tile_url=settings.tile_url, hsts=settings.secure_cookies)
    install_metrics(app, state)  # GET /metrics; request metrics and access log, outermost: sees every answer
    return app
