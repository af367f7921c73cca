"""ASGI middleware of the application: security headers on every answer, gzip for the dashboard, the review
deadline's auto-publication."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from service.state import ServiceState

# Scripts only from this server (the templates and static JS run no inline script; JSON data blocks are not run).
# Styles: the templates colour levels with style attributes and the chart sets some through innerHTML, so inline
# styles stay allowed (style-src-attr alone would lose the colours in browsers without CSP level 3).
# Images: data: URIs (Swagger UI's and Leaflet's icons) and the map tile server when one is configured.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:{tiles}; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP.format(tiles=""),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def tile_source(tile_url: str | None) -> str:
    """The CSP source of a Leaflet tile URL template (`https://{s}.tile.example/{z}/{x}/{y}.png` ->
    `https://*.tile.example`); '' without one."""
    if not tile_url:
        return ""
    parts = urlsplit(tile_url)
    host = parts.netloc.replace("{s}", "*")
    if not parts.scheme or not host or "{" in host:
        return ""
    return f" {parts.scheme}://{host}"


class SecurityHeaders:
    """Adds SECURITY_HEADERS (with the tile server in the CSP's img-src) to every HTTP answer that does not set
    them itself; Strict-Transport-Security as well when `hsts` (cookies marked secure: the service is behind TLS)."""

    def __init__(self, app: Any, tile_url: str | None = None, hsts: bool = False) -> None:
        self.app = app
        headers = {**SECURITY_HEADERS, "Content-Security-Policy": CSP.format(tiles=tile_source(tile_url))}
        if hsts:
            headers["Strict-Transport-Security"] = "max-age=31536000"
        self.raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", ())}
                extra = [(k, v) for k, v in self.raw if k not in present]
                if extra:
                    message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


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
