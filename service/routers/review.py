"""The review endpoint of the API: `POST /api/v1/forecasts/{issue_date}/review` (hydrologist or admin).

Body (JSON): `{"action": "approve"}` publishes the newest run of the day as approved;
`{"action": "override", "station_id": "...", "level": 2, "reason": "..."}` (or `basin_id`) sets a level with a
mandatory reason (`level: null` clears the override). Every action is appended to the audit trail. A JSON body is
required, so a cross-site HTML form cannot post here (no CSRF token needed); browser forms use the dashboard's
form route, which checks a CSRF token.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException
from pydantic import AfterValidator, BaseModel, Field

from records.review import Actor, ReviewError, apply_review, audit_trail
from service.deps import ReviewerDep, SessionDep, StateDep
from service.outreach import deliver_soon

router = APIRouter(prefix="/api/v1", tags=["review"])


class ReviewIn(BaseModel):
    action: Literal["approve", "override"] = Field(description="approve (and publish) or override a level")
    station_id: str | None = Field(None, description="override: the station whose level is set")
    basin_id: str | None = Field(None, description="override: the basin whose level is set")
    level: int | None = Field(
        None, ge=0, le=3, description="override: 0 normal, 1 warning, 2 danger, 3 extreme; null clears the override"
    )
    reason: str | None = Field(None, max_length=2000, description="why (required for an override)")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"action": "approve"},
                {"action": "override", "station_id": "11433", "level": 2, "reason": "ice jam reported at Atbasar"},
            ]
        }
    }


def _utc(value: dt.datetime) -> dt.datetime:
    """Timestamps are stored in UTC; SQLite gives them back naive: say so (RFC 3339 needs the offset)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


UtcDatetime = Annotated[dt.datetime, AfterValidator(_utc)]


class ReviewActionOut(BaseModel):
    id: int
    issue_date: dt.date
    username: str
    role: str
    action: str
    target_type: str
    target_id: str | None
    old_level: int | None
    new_level: int | None
    reason: str | None
    at: UtcDatetime


class ReviewOut(BaseModel):
    issue_date: dt.date
    run_id: str
    review_status: str
    published: bool
    published_at: UtcDatetime | None
    action: ReviewActionOut


def _action_out(a: object) -> ReviewActionOut:
    return ReviewActionOut.model_validate(a, from_attributes=True)


@router.post(
    "/forecasts/{issue_date}/review",
    response_model=ReviewOut,
    responses={
        401: {"description": "no key or login"},
        403: {"description": "not a reviewer"},
        404: {"description": "no run for the date, or unknown station/basin"},
        422: {"description": "missing reason, bad level or action"},
    },
)
def review(
    issue_date: dt.date, body: ReviewIn, state: StateDep, session: SessionDep, principal: ReviewerDep
) -> ReviewOut:
    """Approve the forecast of `issue_date`, or override a station's or basin's level with a reason."""
    actor = Actor(principal.name, principal.role)
    try:
        run, entry = apply_review(
            session, issue_date, actor, body.action, body.station_id, body.basin_id, body.level, body.reason
        )
    except ReviewError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    session.commit()
    state.cache.invalidate()
    deliver_soon(state)  # the notifications a publication queued (service.outreach)
    return ReviewOut(
        issue_date=run.issue_date,
        run_id=run.run_id,
        review_status=run.review_status,
        published=run.published_at is not None,
        published_at=run.published_at,
        action=_action_out(entry),
    )


@router.get("/forecasts/{issue_date}/review", response_model=list[ReviewActionOut])
def review_trail(issue_date: dt.date, session: SessionDep, principal: ReviewerDep) -> list[ReviewActionOut]:
    """The audit trail of `issue_date` (who, when, what, why), newest first."""
    return [_action_out(a) for a in audit_trail(session, [issue_date])]
