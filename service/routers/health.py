"""`GET /api/v1/health`: what is published, how old it is, and what is degraded."""

from __future__ import annotations

import functools

from fastapi import APIRouter
from sqlalchemy import text

from forecasting.config import local_today
from records.accounts import ANONYMOUS
from records.published import forecast_age_days, is_outdated, newest_observation, run_view, visible_run
from service import schemas
from service.deps import SessionDep, StateDep
from service.responses import ERRORS

router = APIRouter(prefix="/api/v1", tags=["api v1"])


@functools.cache
def package_version() -> str:
    """The installed version of tasqyn (looked up once per process)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tasqyn")
    except PackageNotFoundError:
        return "unknown"


@router.get("/health", response_model=schemas.HealthOut, responses={503: ERRORS[503]})
def health(state: StateDep, session: SessionDep) -> schemas.HealthOut:
    """Service status: the latest published issue date and its age, the newest observation and its age, and
    what is degraded (nothing published, an outdated publication, an empty or stale store)."""
    session.execute(text("SELECT 1"))
    run = visible_run(session, ANONYMOUS)
    loaded = state.store()
    newest = newest_observation(loaded.data) if loaded is not None else None
    today = local_today()
    degraded = []
    view = run_view(session, run, today) if run is not None else None
    if run is None:
        degraded.append("nothing is published yet")
    elif is_outdated(run.issue_date, today):
        degraded.append(f"the latest publication is {forecast_age_days(run.issue_date, today)} days old")
    if loaded is None:
        degraded.append("the observation store is empty")
    elif newest is not None and (today - newest).days > 2:
        degraded.append(f"the newest observation is {(today - newest).days} days old")
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
