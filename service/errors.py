"""Errors, the OpenAPI contract and the API documentation of the application (wired by service.app.create_app).

- Under `/api/` every error is `{"detail": "..."}` JSON (422 included, one sentence, never pydantic's list); on the
  dashboard every error is an HTML page in the reader's language (service/templates/error.html), never raw JSON.
- 503 answers (database down or stalled, a file that cannot be read) say what is unavailable, never a host, port,
  path or driver message (those are logged); 500 answers say nothing of the error (logged with its traceback).
- 405 answers carry an `Allow` header listing every method the path answers (all routes of that path).
- The OpenAPI document declares what the server answers: 422 and every error as ErrorOut, 401/403 where access
  rules apply, 503 everywhere; no pydantic validation-error schema.
- `/docs` is Swagger UI served from `/static/vendor/swagger/` (vendored, no CDN); its start-up script is a static
  file, so the page needs no inline script under the Content-Security-Policy.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from service.state import ServiceUnavailable, short_error

log = logging.getLogger("tasqyn.service")

DB_DOWN = "the database is unavailable; try again shortly"
FILE_DOWN = "a file this answer needs cannot be read; try again shortly"
INTERNAL = "internal error (logged); try again later or tell the operators"
PAGE_KEYS = {
    401: "error.login_required",
    403: "error.forbidden",
    404: "error.not_found",
    405: "error.method",
    422: "error.invalid",
    503: "error.unavailable",
}


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(app: Any, scope: dict) -> list[str]:
    """Every method some route of the application answers at the request's path (asked of the router itself, so
    routes of included routers count; a mount of static files answers GET and HEAD)."""
    from starlette.routing import Mount

    allowed: set[str] = set()
    probe = {"type": "http", "path": scope["path"], "root_path": scope.get("app_root_path", "")}  # as routed
    for route in app.router.routes:
        if isinstance(route, Mount):
            if route.matches({**probe, "method": "GET"})[0] != Match.NONE:
                allowed.update(("GET", "HEAD"))
            continue
        allowed.update(m for m in METHODS if route.matches({**probe, "method": m})[0] == Match.FULL)
    return sorted(allowed)


async def error_page(request: Request, status: int, key: str, headers: dict[str, str] | None = None) -> Response:
    """The dashboard's error page; a bare page in the same words if even that cannot be rendered (the database
    that failed may be needed to know who is logged in)."""
    from service import i18n
    from service.pages import render

    try:
        resp = await run_in_threadpool(render.error_page, request, status, key)
    except Exception:  # noqa: BLE001 - the error page must not fail in turn
        lang = i18n.norm_lang(request.query_params.get("lang") or request.cookies.get(i18n.LANG_COOKIE))
        text = html.escape(i18n.t(key, lang))
        back = html.escape(i18n.t("error.back", lang))
        body = f'<!doctype html><html lang="{lang}"><meta charset="utf-8"><title>Tasqyn</title>'
        body += f'<p id="error-message">{text}</p><p><a href="/">{back}</a></p></html>'
        resp = HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


async def _answer(request: Request, status: int, detail: str, key: str, headers: dict[str, str] | None = None):
    if is_api(request):
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    return await error_page(request, status, key, headers)


def install_error_handlers(app: FastAPI) -> None:
    """JSON errors under /api/, HTML pages elsewhere (see the module docstring)."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such path: {request.url.path}"[:300]
        key = PAGE_KEYS.get(exc.status_code, "error.server" if exc.status_code >= 500 else "error.invalid")
        return await _answer(request, exc.status_code, detail, key, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "path", "body"))
            inp = e.get("input")
            shown = repr(inp) if len(repr(inp)) <= 80 else repr(inp)[:77] + "..."
            hint = " (expected YYYY-MM-DD)" if "date" in str(e.get("type", "")) else ""
            parts.append(f"invalid {loc or 'request'} {shown}: {e.get('msg', 'invalid')}{hint}")
        return await _answer(request, 422, "; ".join(parts) or "invalid request", "error.invalid")

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(request: Request, exc: ServiceUnavailable) -> Response:
        return await _answer(request, 503, str(exc), "error.unavailable", {"Retry-After": "5"})

    async def _db_down(request: Request, exc: Exception) -> Response:
        log.warning("database error on %s: %s", request.url.path, short_error(exc))
        return await _answer(request, 503, DB_DOWN, "error.unavailable", {"Retry-After": "5"})

    for cls in (OperationalError, DBAPIError, PoolTimeout):
        app.add_exception_handler(cls, _db_down)

    @app.exception_handler(OSError)
    async def _file_down(request: Request, exc: OSError) -> Response:
        log.warning("file error on %s: %s", request.url.path, short_error(exc))
        return await _answer(request, 503, FILE_DOWN, "error.unavailable", {"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        from service.middleware import SECURITY_HEADERS  # this answer leaves outside the middleware stack

        resp = await _answer(request, 500, INTERNAL, "error.server")
        for k, v in SECURITY_HEADERS.items():
            resp.headers.setdefault(k, v)
        return resp


# --- the OpenAPI document ----------------------------------------------------------------------------------------

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
ADDED = {
    "401": "no API key or login where one is needed, or an invalid or revoked key",
    "403": "this key or user may not read this basin, or may not do this",
    "503": "the database or a file the answer needs is unavailable (Retry-After)",
}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The application's OpenAPI document, made to declare what the server answers (module docstring)."""
    if app.openapi_schema:
        return app.openapi_schema
    from service.schemas import ErrorOut

    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorOut", ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}"))
    error_content = {"application/json": {"schema": ERROR_REF}}
    for path, item in doc.get("paths", {}).items():
        for op in item.values():
            responses = op.setdefault("responses", {})
            if "422" in responses:
                responses["422"]["content"] = error_content
            for code, why in ADDED.items():
                if code in ("401", "403") and (not path.startswith("/api/") or path == "/api/v1/health"):
                    continue
                responses.setdefault(code, {"description": why, "content": error_content})
            for code, resp in responses.items():
                if code.startswith(("4", "5")):
                    resp.setdefault("content", error_content)
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    app.openapi_schema = doc
    return doc


# --- /docs -------------------------------------------------------------------------------------------------------

DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tasqyn API</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="/static/vendor/swagger/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/static/vendor/swagger/swagger-ui-bundle.js"></script>
<script src="/static/api_docs.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """`/docs` (Swagger UI from the vendored files) and `/openapi.json` (openapi_document)."""
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_HTML)
