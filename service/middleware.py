"""ASGI middleware of the application: gzip for the dashboard, the review deadline's auto-publication."""

from __future__ import annotations

from typing import Any

from service.state import ServiceState


class DashboardGZip:
    """gzip for the dashboard's pages and static files (clients that accept it); the JSON API under /api/ is passed
    through untouched (it has its own fast path)."""

    def __init__(self, app: Any) -> None:
        from starlette.middleware.gzip import GZipMiddleware

        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=1024)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope.get("path", "").startswith("/api/"):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class ReviewDeadline:
    """Before any request (API or dashboard), at most once a minute: publish, marked `unreviewed`, the drafts that
    passed the review deadline (service.pages.render.maybe_auto_publish)."""

    def __init__(self, app: Any, state: ServiceState) -> None:
        self.app = app
        self.state = state

    def _check(self) -> None:
        from service.pages.render import AUTO_PUBLISH_EVERY_S, maybe_auto_publish

        try:
            self.state.ensure_db()
            with self.state.session_factory() as session:
                maybe_auto_publish(self.state, session)
        except Exception:  # noqa: BLE001 (a database that is down is reported by the request itself)
            self.state.last_auto_publish -= AUTO_PUBLISH_EVERY_S  # try again on the next request

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        import time

        from service.pages.render import AUTO_PUBLISH_EVERY_S

        due = time.monotonic() - self.state.last_auto_publish >= AUTO_PUBLISH_EVERY_S
        if scope["type"] == "http" and due and self.state.settings.review_deadline_hours is not None:
            from anyio import to_thread

            await to_thread.run_sync(self._check)
        await self.app(scope, receive, send)
