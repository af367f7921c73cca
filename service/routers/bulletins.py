"""The daily bulletin in the API: `GET /api/v1/bulletins/{issue_date}.{pdf,xlsx,html}?lang=ru|kk|en`.

Under the same access rules as the rest: readers as `require_read` lets them, a basin-limited key or user gets a
bulletin of its basins only. Only published runs make a bulletin (a reviewer asking for a date with only a draft
gets the 404 too). 404 with the reason for a date without a published run; 422 for a malformed date, an
unsupported language or format. The full bulletin written by the daily flow into the home is served as it is;
others are rendered on request (records.bulletin builds the content, bulletins/ renders it).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import Response

from bulletins import FORMATS, MEDIA_TYPES, render
from bulletins.files import bulletin_dir
from bulletins.i18n import LANGS, UnsupportedLanguage, check_lang
from records.bulletin import BulletinNotFound, bulletin_for, bulletin_revision, bulletin_run, file_stem
from service.deps import ReaderDep, SessionDep, StateDep
from service.responses import ERRORS

router = APIRouter(prefix="/api/v1", tags=["api v1"])


@router.get(
    "/bulletins/{issue_date}.{fmt}",
    responses={
        200: {"content": {MEDIA_TYPES[f]: {} for f in FORMATS}, "description": "the bulletin"},
        **ERRORS,
    },
    response_class=Response,
)
def bulletin(
    issue_date: Annotated[str, PathParam(description="YYYY-MM-DD", json_schema_extra={"format": "date"})],
    fmt: Annotated[str, PathParam(description="pdf, xlsx or html", json_schema_extra={"enum": list(FORMATS)})],
    state: StateDep,
    session: SessionDep,
    principal: ReaderDep,
    lang: str = Query("ru", description="language: ru, kk or en", json_schema_extra={"enum": list(LANGS)}),
) -> Response:
    """The daily bulletin of the published forecast of `issue_date` (YYYY-MM-DD) as PDF (A4), XLSX or printable
    HTML, in Russian, Kazakh or English."""
    try:
        day = dt.date.fromisoformat(issue_date)
    except ValueError:
        raise HTTPException(422, f"invalid issue_date {issue_date!r} (expected YYYY-MM-DD)") from None
    if fmt not in FORMATS:
        raise HTTPException(422, f"unsupported bulletin format {fmt!r}: use one of {', '.join(FORMATS)}")
    try:
        lang = check_lang(lang)
    except UnsupportedLanguage as exc:
        raise HTTPException(422, str(exc)) from None
    try:
        run = bulletin_run(session, principal, day)
    except BulletinNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    stem = file_stem(run.issue_date, run.run_id, bulletin_revision(session, run), lang)
    root = state.settings.home.root
    written = bulletin_dir(root, run.issue_date) / f"{stem}.{fmt}"
    if principal.basins is None and written.is_file():
        body = written.read_bytes()
    else:
        loaded = state.store()
        content = bulletin_for(
            session,
            day,
            principal,
            state.stations(),
            state.forecast_ds,
            loaded.data if loaded is not None else None,
            Path(root),
        )
        body = render(content, fmt, lang)
        stem = content.file_stem(lang)
    disposition = "attachment" if fmt == "xlsx" else "inline"
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'{disposition}; filename="{stem}.{fmt}"', "Cache-Control": "no-store"},
    )
