"""The review workflow: a new forecast run is a draft; a hydrologist approves it (which publishes it) or overrides a
station's or basin's level with a mandatory reason. Optionally, a draft nobody reviewed is published automatically
after a deadline and marked `unreviewed`. Every action is appended to the audit trail (`review_actions`: who, when,
what, why); rows there are never changed.

Levels are 0 normal, 1 warning, 2 danger, 3 extreme. An override keeps the model's level (`level`) and sets
`override_level` and `override_reason` beside it; the public sees `effective_level`. A basin's level follows its
stations (maximum of their effective levels) unless the basin itself was overridden.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from records.db import BasinLevel, ForecastRun, ReviewAction, StationLevel, utcnow

SYSTEM_USER = "system"
MAX_REASON = 2000


class ReviewError(ValueError):
    """A review action that cannot be done; `status` is the HTTP status that fits (400, 404, 409)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Actor:
    """Who acts: a user name (or `key:<name>`, or `system`) and a role."""

    name: str
    role: str


SYSTEM = Actor(SYSTEM_USER, "system")


def _log(session: Session, run: ForecastRun, actor: Actor, action: str, **fields: object) -> ReviewAction:
    entry = ReviewAction(
        run_id=run.id, issue_date=run.issue_date, username=actor.name, role=actor.role, action=action, **fields
    )
    session.add(entry)
    session.flush()
    return entry


def newest_run_of(session: Session, issue_date: dt.date) -> ForecastRun | None:
    """The newest successful run of `issue_date` (draft or published): what reviewers see and act on."""
    stmt = select(ForecastRun).where(ForecastRun.issue_date == issue_date, ForecastRun.status == "success")
    return session.scalars(stmt.order_by(ForecastRun.id.desc()).limit(1)).first()


def run_for_review(session: Session, issue_date: dt.date) -> ForecastRun:
    """The run a review of `issue_date` acts on: the newest successful run of that day (draft or published)."""
    run = newest_run_of(session, issue_date)
    if run is None:
        raise ReviewError(f"no successful forecast run for issue date {issue_date.isoformat()}", 404)
    return run


def approve(session: Session, run: ForecastRun, actor: Actor, reason: str | None = None) -> ReviewAction:
    """Approve `run`: review status `approved`, published now if it was not yet (an unreviewed publication becomes
    approved). Logged as `approve`."""
    if run.status != "success":
        raise ReviewError(f"run {run.run_id} did not succeed (status {run.status}); it cannot be approved", 409)
    run.review_status = "approved"
    if run.published_at is None:
        run.published_at = utcnow()
    entry = _log(session, run, actor, "approve", target_type="run", target_id=run.run_id, reason=_clean(reason, False))
    _published(session, run)
    return entry


def publish_unreviewed(session: Session, run: ForecastRun, actor: Actor = SYSTEM, action: str = "publish") -> bool:
    """Publish a draft without review, marked `unreviewed` (what `tasqyn demo` and the deadline do). Returns False
    if the run was already published (nothing changes)."""
    if run.published_at is not None or run.status != "success":
        return False
    run.review_status = "unreviewed"
    run.published_at = utcnow()
    _log(session, run, actor, action, target_type="run", target_id=run.run_id)
    _published(session, run)
    return True


def auto_publish_due(session: Session, deadline_hours: float | None, now: dt.datetime | None = None) -> list[str]:
    """Publish, marked `unreviewed`, every successful draft older than `deadline_hours` (counted from the end of the
    run, else its creation) that is the newest run of its issue date. None or a negative deadline: never.
    Returns the run ids published."""
    if deadline_hours is None or deadline_hours < 0:
        return []
    now = now or utcnow()
    cutoff = now - dt.timedelta(hours=float(deadline_hours))
    drafts = session.scalars(
        select(ForecastRun).where(
            ForecastRun.published_at.is_(None), ForecastRun.status == "success", ForecastRun.review_status == "draft"
        )
    ).all()
    done: list[str] = []
    for run in drafts:
        started = _aware(run.finished_at or run.created_at)
        if started > cutoff:
            continue
        newest = newest_run_of(session, run.issue_date)
        if newest is not None and newest.id != run.id:
            continue  # a newer run of the same day supersedes this draft
        if publish_unreviewed(session, run, SYSTEM, "auto_publish"):
            done.append(run.run_id)
    return done


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _clean(reason: str | None, required: bool) -> str | None:
    text = (reason or "").strip()
    if required and not text:
        raise ReviewError("a reason is required for an override", 422)
    if len(text) > MAX_REASON:
        raise ReviewError(f"the reason is too long ({len(text)} characters, at most {MAX_REASON})", 422)
    return text or None


def _check_level(level: int | None) -> int | None:
    if level is None:
        return None
    try:
        value = int(level)
    except (TypeError, ValueError):
        raise ReviewError(f"level must be 0-3 (normal, warning, danger, extreme), got {level!r}", 422) from None
    if value not in (0, 1, 2, 3):
        raise ReviewError(f"level must be 0-3 (normal, warning, danger, extreme), got {level!r}", 422)
    return value


def override_station(
    session: Session, run: ForecastRun, actor: Actor, station_id: str, level: int | None, reason: str | None
) -> ReviewAction:
    """Set (or, with level None, clear) a station's level in `run`, with a mandatory reason; its basin follows.
    Takes effect at once on a published run, else when the run is approved."""
    reason_text = _clean(reason, True)
    new = _check_level(level)
    row = session.scalars(
        select(StationLevel).where(StationLevel.run_id == run.id, StationLevel.station_id == station_id)
    ).first()
    if row is None:
        raise ReviewError(f"station {station_id!r} is not in the forecast of {run.issue_date.isoformat()}", 404)
    old = row.effective_level
    row.override_level = new
    row.override_reason = reason_text if new is not None else None
    entry = _log(
        session,
        run,
        actor,
        "override",
        target_type="station",
        target_id=station_id,
        old_level=old,
        new_level=new if new is not None else row.level,
        reason=reason_text,
    )
    session.flush()
    refresh_basin(session, run, row.basin_id)
    _published(session, run)
    return entry


def override_basin(
    session: Session, run: ForecastRun, actor: Actor, basin_id: str, level: int | None, reason: str | None
) -> ReviewAction:
    """Set (or clear) a basin's level in `run` with a mandatory reason (its stations keep theirs)."""
    reason_text = _clean(reason, True)
    new = _check_level(level)
    row = session.scalars(
        select(BasinLevel).where(BasinLevel.run_id == run.id, BasinLevel.basin_id == basin_id)
    ).first()
    if row is None:
        raise ReviewError(f"basin {basin_id!r} is not in the forecast of {run.issue_date.isoformat()}", 404)
    old = row.effective_level
    entry = _log(
        session,
        run,
        actor,
        "override",
        target_type="basin",
        target_id=basin_id,
        old_level=old,
        new_level=new,
        reason=reason_text,
    )
    if new is None:
        refresh_basin(session, run, basin_id)  # back to following its stations
    else:
        row.override_level = new
        row.override_reason = reason_text
    _published(session, run)
    return entry


def _published(session: Session, run: ForecastRun) -> None:
    """A publication event (an approval, a publication, an override on a published run): queue the notifications
    it causes (records.notifications; an error there is logged and never fails the review action)."""
    if run.published_at is None:
        return
    from records.notifications import safe_publication_event

    session.flush()
    safe_publication_event(session, run)


def _explicit_basin_override(session: Session, run: ForecastRun, basin_id: str) -> bool:
    last = session.scalars(
        select(ReviewAction)
        .where(ReviewAction.run_id == run.id, ReviewAction.target_type == "basin", ReviewAction.target_id == basin_id)
        .order_by(ReviewAction.id.desc())
        .limit(1)
    ).first()
    return last is not None and last.new_level is not None


def refresh_basin(session: Session, run: ForecastRun, basin_id: str) -> None:
    """Make a basin's effective level the maximum of its stations' effective levels (unless the basin itself was
    overridden by a reviewer); the reason names the station overrides it follows."""
    basin = session.scalars(
        select(BasinLevel).where(BasinLevel.run_id == run.id, BasinLevel.basin_id == basin_id)
    ).first()
    if basin is None or _explicit_basin_override(session, run, basin_id):
        return
    stations = session.scalars(
        select(StationLevel).where(StationLevel.run_id == run.id, StationLevel.basin_id == basin_id)
    ).all()
    if not stations:
        return
    overridden = [s for s in stations if s.override_level is not None]
    if not overridden:
        basin.override_level = None
        basin.override_reason = None
        return
    levels = [s.effective_level for s in stations if s.effective_level is not None]
    basin.override_level = max(levels) if levels else None
    basin.override_reason = "; ".join(f"{s.station_id}: {s.override_reason}" for s in overridden)


def audit_trail(session: Session, issue_dates: Iterable[dt.date] | None = None, limit: int = 200) -> list[ReviewAction]:
    """The newest review actions first (optionally only for some issue dates)."""
    stmt = select(ReviewAction)
    if issue_dates is not None:
        stmt = stmt.where(ReviewAction.issue_date.in_(list(issue_dates)))
    return list(session.scalars(stmt.order_by(ReviewAction.at.desc(), ReviewAction.id.desc()).limit(limit)))


def apply_review(
    session: Session,
    issue_date: dt.date,
    actor: Actor,
    action: str,
    station_id: str | None = None,
    basin_id: str | None = None,
    level: int | None = None,
    reason: str | None = None,
) -> tuple[ForecastRun, ReviewAction]:
    """One review action on the newest run of `issue_date`: `approve`, or `override` of a station or basin (give
    exactly one of station_id / basin_id; level None clears the override; a reason is always required)."""
    run = run_for_review(session, issue_date)
    if action == "approve":
        return run, approve(session, run, actor, reason)
    if action == "override":
        if bool(station_id) == bool(basin_id):
            raise ReviewError("an override names exactly one of station_id or basin_id", 422)
        if station_id:
            return run, override_station(session, run, actor, station_id, level, reason)
        return run, override_basin(session, run, actor, str(basin_id), level, reason)
    raise ReviewError(f"unknown review action {action!r}: use approve or override", 422)
