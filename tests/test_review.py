"""The review workflow: drafts are hidden from the public until approved; overrides need a reason, change the
effective level (the basin follows its stations) and are visible to akimats; the deadline publishes unreviewed
drafts; every action is in the audit trail (who, when, what, why)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from records import accounts as auth
from records import review
from records.db import BasinLevel, ForecastRun, ReviewAction, StationLevel
from service import auth as web_auth
from tests import dashboard_support as ds

STATIONS = ["CH2141", "CH2185", "PROTVA_SZ"]
HYDRO = review.Actor("aigul", "hydrologist")


@pytest.fixture()
def draft(real_data, tmp_path):
    """A home with 3 real stations and a synthetic forecast recorded as a draft (not published)."""
    h = ds.copy_home(ds.prepared_store(real_data, STATIONS), tmp_path / "home")
    settings = ds.settings_for(h)
    run_id = ds.publish_synthetic(h, settings, publish=False)
    return h, settings, ds.session_factory(settings), run_id


def _run(s, run_id: str) -> ForecastRun:
    return s.scalars(select(ForecastRun).where(ForecastRun.run_id == run_id)).one()


def _station(s, run: ForecastRun, sid: str) -> StationLevel:
    return s.scalars(select(StationLevel).where(StationLevel.run_id == run.id, StationLevel.station_id == sid)).one()


def _basin(s, run: ForecastRun, bid: str) -> BasinLevel:
    return s.scalars(select(BasinLevel).where(BasinLevel.run_id == run.id, BasinLevel.basin_id == bid)).one()


@pytest.mark.realdata
def test_draft_hidden_until_approved(draft):
    _, settings, factory, run_id = draft
    from service.app import create_app

    with TestClient(create_app(settings)) as c:
        assert c.get("/api/v1/basins").status_code == 404  # nothing published yet
        page = c.get("/?lang=en").text
        assert "No forecast has been published yet" in page and "circle" in page  # stations shown, no levels
        assert 'data-level="none"' in page and 'data-level="3"' not in page
        with factory() as s:
            run = _run(s, run_id)
            assert run.review_status == "draft" and run.published_at is None
            token, _ = auth.create_api_key(s, "h", "hydrologist")
            s.commit()
        # a reviewer sees the draft with its banner and levels
        page = c.get("/?lang=en", headers={"Authorization": f"Bearer {token}"}).text
        assert "You are looking at a draft" in page and 'data-level="3"' in page
        r = c.post(
            f"/api/v1/forecasts/{run.issue_date}/review",
            json={"action": "approve", "reason": "checked"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["published"] and body["review_status"] == "approved" and body["action"]["action"] == "approve"
        basins = c.get("/api/v1/basins").json()
        assert {b["review_status"] for b in basins} == {"approved"}
        assert "approved by a hydrologist" in c.get("/?lang=en").text


@pytest.mark.realdata
def test_override_needs_reason_and_basin_follows(draft):
    _, _, factory, run_id = draft
    with factory() as s:
        run = _run(s, run_id)
        st = _station(s, run, "CH2141")
        model_level = st.level
        assert model_level == 3  # the synthetic forecast grows CH2141 past its 20-year flood
        for reason in (None, "", "   "):
            with pytest.raises(review.ReviewError, match="reason is required") as e:
                review.override_station(s, run, HYDRO, "CH2141", 1, reason)
            assert e.value.status == 422
        with pytest.raises(review.ReviewError, match="0-3"):
            review.override_station(s, run, HYDRO, "CH2141", 5, "bad level")
        with pytest.raises(review.ReviewError) as e:
            review.override_station(s, run, HYDRO, "NOPE", 1, "unknown")
        assert e.value.status == 404

        entry = review.override_station(s, run, HYDRO, "CH2141", 1, "gauge reading checked on site: rise is slower")
        s.commit()
        assert (entry.old_level, entry.new_level, entry.username, entry.target_id) == (3, 1, "aigul", "CH2141")
        assert st.effective_level == 1 and st.level == 3 and st.override_reason.startswith("gauge reading")
        b = _basin(s, run, "CH2141")
        assert b.effective_level == 1 and "gauge reading" in b.override_reason  # the one-station basin follows
        assert run.published_at is None  # an override alone does not publish

        # an explicit basin override wins over its stations until cleared
        review.override_basin(s, run, HYDRO, "CH2141", 2, "ice jam downstream")
        review.override_station(s, run, HYDRO, "CH2141", 0, "sensor fault")
        assert _basin(s, run, "CH2141").effective_level == 2
        review.override_basin(s, run, HYDRO, "CH2141", None, "jam cleared")
        assert _basin(s, run, "CH2141").effective_level == 0
        review.override_station(s, run, HYDRO, "CH2141", None, "back to the model")
        s.commit()
        assert st.effective_level == 3 and st.override_level is None
        assert _basin(s, run, "CH2141").effective_level == 3 and _basin(s, run, "CH2141").override_level is None

        trail = review.audit_trail(s, [run.issue_date])
        assert [a.action for a in trail] == ["override"] * 5
        assert all(a.reason and a.username == "aigul" and a.at is not None for a in trail)
        assert trail[-1].reason.startswith("gauge reading")  # oldest last


@pytest.mark.realdata
def test_apply_review_and_approve_publishes(draft):
    _, _, factory, run_id = draft
    with factory() as s:
        run = _run(s, run_id)
        with pytest.raises(review.ReviewError) as e:
            review.apply_review(s, run.issue_date - dt.timedelta(days=1), HYDRO, "approve")
        assert e.value.status == 404
        with pytest.raises(review.ReviewError, match="exactly one"):
            review.apply_review(s, run.issue_date, HYDRO, "override", level=1, reason="x")
        with pytest.raises(review.ReviewError, match="unknown review action"):
            review.apply_review(s, run.issue_date, HYDRO, "delete")
        review.apply_review(s, run.issue_date, HYDRO, "override", station_id="CH2185", level=3, reason="dam release")
        got, entry = review.apply_review(s, run.issue_date, HYDRO, "approve")
        s.commit()
        assert got.id == run.id and run.review_status == "approved" and run.published_at is not None
        assert entry.action == "approve" and entry.target_id == run_id
        assert _station(s, run, "CH2185").effective_level == 3


@pytest.mark.realdata
def test_auto_publish_after_deadline(draft):
    h, settings, factory, run_id = draft
    with factory() as s:
        run = _run(s, run_id)
        finished = run.finished_at if run.finished_at.tzinfo else run.finished_at.replace(tzinfo=dt.UTC)
        assert review.auto_publish_due(s, None) == []  # no deadline: drafts wait
        assert review.auto_publish_due(s, 6, now=finished + dt.timedelta(hours=5)) == []
        assert run.published_at is None
        assert review.auto_publish_due(s, 6, now=finished + dt.timedelta(hours=7)) == [run_id]
        s.commit()
        assert run.review_status == "unreviewed" and run.published_at is not None
        last = s.scalars(select(ReviewAction).order_by(ReviewAction.id.desc())).first()
        assert (last.action, last.username, last.role) == ("auto_publish", "system", "system")
        assert review.auto_publish_due(s, 6, now=finished + dt.timedelta(hours=8)) == []  # once only
        # a later approval turns the unreviewed publication into an approved one
        review.approve(s, run, HYDRO)
        s.commit()
        assert run.review_status == "approved"


@pytest.mark.realdata
def test_superseded_draft_not_auto_published(draft):
    h, settings, factory, first = draft
    second = ds.publish_synthetic(h, settings, publish=False, run_id="rerun-same-day")
    with factory() as s:
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
        assert review.auto_publish_due(s, 1, now=later) == [second]
        s.commit()
        assert _run(s, first).published_at is None


@pytest.mark.realdata
def test_dashboard_review_forms_and_audit_page(draft):
    import re

    _, settings, factory, run_id = draft
    from service.app import create_app

    with factory() as s:
        auth.add_user(s, "hydro1", "river-pass-1", "hydrologist")
        s.commit()
        day = _run(s, run_id).issue_date.isoformat()
    with TestClient(create_app(settings)) as c:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        c.post("/login", data={"username": "hydro1", "password": "river-pass-1", "csrf_token": token})
        page = c.get("/stations/CH2141?lang=en").text
        assert 'id="override-reason"' in page and "You are looking at a draft" in page
        form = {
            "action": "override",
            "station_id": "CH2141",
            "level": "2",
            "csrf_token": token,
            "back": "/stations/CH2141",
        }
        r = c.post(f"/forecasts/{day}/review", data={**form, "reason": ""}, follow_redirects=False)
        assert r.status_code == 303 and "error=1" in r.headers["location"]
        r = c.post(f"/forecasts/{day}/review", data={**form, "reason": "bridge survey"}, follow_redirects=False)
        # back on the page, showing the draft acted on (its issue date), with the change
        assert r.status_code == 303 and r.headers["location"].startswith(f"/stations/CH2141?issue_date={day}&msg=")
        after = c.get(r.headers["location"] + "&lang=en").text
        assert 'data-level="2"' in after and "You are looking at a draft" in after and "bridge survey" in after
        # approval shows what will be published before the click that publishes
        summary = c.get(f"/runs/{day}/approve?lang=en").text
        assert 'id="approve-basins"' in summary and "bridge survey" in summary and 'id="approve-submit"' in summary
        assert (
            c.post(f"/forecasts/{day}/review", data={**form, "reason": "x", "csrf_token": "forged"}).status_code == 403
        )
        r = c.post(f"/forecasts/{day}/review", data={"action": "approve", "csrf_token": token, "back": "/runs"})
        assert r.status_code == 200 and "approved" in r.text
        runs = c.get("/runs?lang=en").text
        assert "bridge survey" in runs and "hydro1" in runs and "Danger" in runs
        # the public (anonymous) view shows the override and its reason
        c.cookies.delete(web_auth.SESSION_COOKIE)
        page = c.get("/stations/CH2141?lang=en").text
        assert "Set by a hydrologist: bridge survey" in page and 'data-level="2"' in page
        api = c.get("/api/v1/basins/CH2141").json()
        assert api["level"] == 2 and api["review_status"] == "approved"


@pytest.mark.realdata
def test_deadline_setting_publishes_through_the_api(draft):
    """With `review_deadline_hours` set, an overdue draft is published (unreviewed) on the next request, API or
    dashboard; without it, drafts wait."""
    from service.app import create_app

    _, settings, factory, run_id = draft
    with factory() as s:
        run = _run(s, run_id)
        run.finished_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=5)
        s.commit()
    waiting = settings.__class__(**{**settings.__dict__, "review_deadline_hours": None})
    with TestClient(create_app(waiting)) as c:
        assert c.get("/api/v1/basins").status_code == 404
    overdue = settings.__class__(**{**settings.__dict__, "review_deadline_hours": 4.0})
    with TestClient(create_app(overdue)) as c:
        r = c.get("/api/v1/basins")
        assert r.status_code == 200 and {b["review_status"] for b in r.json()} == {"unreviewed"}
    with factory() as s:
        assert _run(s, run_id).review_status == "unreviewed"
        actions = [a.action for a in review.audit_trail(s, [_run(s, run_id).issue_date])]
        assert actions == ["auto_publish"]
