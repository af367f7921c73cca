"""`GET /api/v1/health`: what is published, how old it is, and what is degraded."""

from __future__ import annotations

import datetime as dt
import functools

from fastapi import APIRouter
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from forecasting.config import DEFAULTS, local_today
from records.accounts import ANONYMOUS
from records.db import ForecastRun
from records.published import forecast_age_days, is_outdated, run_view, stale_now, visible_run
from service import schemas
from service.deps import SessionDep, StateDep
from service.responses import ERRORS
from service.state import ServiceUnavailable

router = APIRouter(prefix="/api/v1", tags=["api v1"])


@functools.cache
def package_version() -> str:
    """The installed version of tasqyn (looked up once per process)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tasqyn")
    except PackageNotFoundError:
        return "unknown"


# The daily run is due every day: a newest run older than this (hours) means the schedule stopped.
RUN_OVERDUE_HOURS = 26


@router.get("/health", response_model=schemas.HealthOut, responses={503: ERRORS[503]})
def health(state: StateDep, session: SessionDep) -> schemas.HealthOut:
    """Service status: the latest published issue date and its age, the newest observation and its age, and
    what is degraded and why: nothing published or an outdated publication, the newest daily run failed or too old,
    the observation store empty, unreadable or stale, stations without a current level or without recent data."""
    session.execute(text("SELECT 1"))
    run = visible_run(session, ANONYMOUS)
    today = local_today()
    degraded = []
    loaded, store_error = None, None
    try:
        loaded = state.store()
    except ServiceUnavailable as exc:  # a damaged or unreadable store is reported here, not a 503
        store_error = str(exc)
    newest = max((d for d in loaded.newest.values() if d is not None), default=None) if loaded is not None else None
    view = run_view(session, run, today) if run is not None else None
    if run is None:
        degraded.append("nothing is published yet")
    elif is_outdated(run.issue_date, today):
        degraded.append(f"the latest publication is {forecast_age_days(run.issue_date, today)} days old")
    degraded.extend(_newest_run_problems(session))
    if store_error is not None:
        degraded.append(f"the observation store cannot be read: {store_error} ('tasqyn store check' says more)")
    elif loaded is None:
        degraded.append("the observation store is empty")
    elif newest is not None and (today - newest).days > DEFAULTS.stale_after_days:
        degraded.append(f"the newest observation is {(today - newest).days} days old")
    if loaded is not None:
        stale = stale_now(loaded.newest, today)
        if stale:
            shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
            degraded.append(
                f"{len(stale)} of {len(loaded.stations)} stations have no observation in the last "
                f"{DEFAULTS.stale_after_days} days (stale): {shown}"
            )
    if view is not None and view.n_no_level:
        degraded.append(f"{view.n_no_level} of {view.n_stations} stations have no current level")
    return schemas.HealthOut(
        status="degraded" if degraded else "ok",
        degraded=degraded,
        database="ok",
        latest_issue_date=run.issue_date if run else None,
        review_status=view.review_status if view else None,
        forecast_age_days=view.forecast_age_days if view else None,
        outdated=view.outdated if view else None,
        newest_observation=newest,
        observation_age_days=(today - newest).days if newest else None,
        n_stations=len(loaded.stations) if loaded is not None else 0,
        n_no_level=view.n_no_level if view else None,
        version=package_version(),
    )


def _newest_run_problems(session: Session) -> list[str]:
    """What is wrong with the newest daily run (any status): failed (with its message), or started too long ago
    (the schedule stopped), or running for hours."""
    newest = session.scalars(select(ForecastRun).order_by(ForecastRun.created_at.desc()).limit(1)).first()
    if newest is None:
        return []
    start = newest.created_at if newest.created_at.tzinfo else newest.created_at.replace(tzinfo=dt.UTC)
    hours = (dt.datetime.now(dt.UTC) - start).total_seconds() / 3600
    out = []
    if newest.status == "failed":
        why = (newest.message or "no message").splitlines()[0][:300]
        out.append(f"the newest forecast run ({newest.issue_date}, {newest.run_id}) failed: {why}")
    elif newest.status == "running" and hours > 6:
        out.append(f"the newest forecast run ({newest.run_id}) has been running for {hours:.0f} hours")
    if hours > RUN_OVERDUE_HOURS:
        out.append(f"the newest forecast run started {hours / 24:.1f} days ago (the daily run is overdue)")
    return out
