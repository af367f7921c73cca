"""Typed FastAPI dependencies: the application state, a database session, the settings, the reader and reviewer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from records.accounts import Principal
from service.auth import require_read, require_role
from service.settings import Settings
from service.state import ServiceState


def get_state(request: Request) -> ServiceState:
    return request.app.state.tasqyn


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_settings(state: StateDep) -> Settings:
    return state.settings


def get_session(state: StateDep) -> Iterator[Session]:
    """A database session for the request (the schema is migrated on first use if the database was down)."""
    state.ensure_db()
    session = state.session_factory()
    try:
        yield session
    finally:
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ReaderDep = Annotated[Principal, Depends(require_read)]
ReviewerDep = Annotated[Principal, Depends(require_role("hydrologist"))]
IssueDateQ = Annotated[
    dt.date | None, Query(description="issue date YYYY-MM-DD (default: the latest forecast you may see)")
]
