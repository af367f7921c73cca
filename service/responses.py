"""Serialising answers: JSON bytes of the read model's objects, the response cache, the documented errors."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from records.accounts import Principal
from records.db import ForecastRun
from records.published import no_run_message, visible_run
from service import schemas
from service.cache import query_key, route_params
from service.state import ServiceState

JSON = "application/json"
CSV = "text/csv; charset=utf-8"
GEOJSON = "application/geo+json"
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": schemas.ErrorOut, "description": "unknown id, or no forecast for the issue date"},
    422: {"model": schemas.ErrorOut, "description": "malformed date or parameter"},
    503: {"model": schemas.ErrorOut, "description": "the database is unavailable"},
}


def run_or_404(session: Session, principal: Principal, issue_date: dt.date | None) -> ForecastRun:
    """The run the reader sees (records.published.visible_run), or a 404 saying why there is none."""
    run = visible_run(session, principal, issue_date)
    if run is None:
        raise HTTPException(404, no_run_message(issue_date))
    return run


def dump(model: BaseModel | list[BaseModel] | dict) -> bytes:
    """JSON bytes of a model, a list of models, or a plain dict (no NaN)."""
    if isinstance(model, list):
        return ("[" + ",".join(m.model_dump_json() for m in model) + "]").encode()
    if isinstance(model, dict):
        return json.dumps(model, ensure_ascii=False, default=str, allow_nan=False).encode()
    return model.model_dump_json().encode()


def cached_response(
    request: Request,
    state: ServiceState,
    principal: Principal,
    build: Callable[[], tuple[bytes, str]],
    cacheable: bool = True,
) -> Response:
    """Serve `build()`'s body from the response cache while the published data did not change. Reviewers (who
    see drafts) are never served from the cache; answers are keyed by the path, the query parameters the endpoint
    takes (service.cache.query_key: unknown ones dropped) and the reader's basin scope."""
    if not cacheable or principal.sees_drafts:
        body, media = build()
        return Response(body, media_type=media)
    gen = state.cache.generation(state.read_generation)
    scope = principal.basins
    path = request.url.path
    params = route_params(request.scope.get("route"))
    key = (gen, path, query_key(request.url.query, params), tuple(sorted(scope)) if scope else None)
    hit = state.cache.get(key)
    if hit is not None:
        return Response(hit[0], media_type=hit[1], headers={"X-Cache": "hit"})
    body, media = build()
    if state.cache.put(key, body, media):
        state.cache.remember_params(path, params)
    return Response(body, media_type=media, headers={"X-Cache": "miss"})
