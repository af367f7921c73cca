"""One rule decides which run a reader sees (records.published.visible_run): a matrix of roles x run states
(auto-published, approved, overridden, superseded by a draft rerun, a draft of a newer date) against the API,
the CSV and the dashboard gives the same answers; and the state rules of forecasting.risk.station_state."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient

from forecasting.risk import station_state
from records import accounts, review
from records.published import skill_of_model
from tests import dashboard_support as ds

D1, D2, D3 = dt.date(2020, 6, 1), dt.date(2020, 6, 2), dt.date(2020, 6, 3)
HYDRO = review.Actor("aigul", "hydrologist")


@pytest.fixture(scope="module")
def served(real_data, tmp_path_factory):
    from service.app import create_app

    home = ds.copy_home(ds.prepared_store(real_data, ["CH2185", "CH2141"]), tmp_path_factory.mktemp("vis") / "h")
    settings = ds.settings_for(home, cache_revalidate_s=0.0)
    ds.publish_synthetic(home, settings, D1, run_id="A")  # auto-published, unreviewed
    ds.publish_synthetic(home, settings, D2, run_id="B", publish=False)
    factory = ds.session_factory(settings)
    with factory() as s:
        review.apply_review(s, D2, HYDRO, "approve")
        review.apply_review(s, D2, HYDRO, "override", station_id="CH2185", level=3, reason="ice jam reported")
        s.commit()
    ds.publish_synthetic(home, settings, D2, run_id="C", publish=False)  # a rerun of D2: a draft
    ds.publish_synthetic(home, settings, D3, run_id="E", publish=False)  # a newer date, a draft
    keys = {}
    with factory() as s:
        for role in ("akimat", "hydrologist", "admin"):
            keys[role], _ = accounts.create_api_key(s, f"{role}-vis", role)
        s.commit()
    with TestClient(create_app(settings)) as c:
        yield c, keys


# role -> asked date -> (run id, issue date, review status) it must see; None: nothing (404)
PUBLIC = {None: ("B", D2, "approved"), D1: ("A", D1, "unreviewed"), D2: ("B", D2, "approved"), D3: None}
REVIEWER = {None: ("E", D3, "draft"), D1: ("A", D1, "unreviewed"), D2: ("C", D2, "draft"), D3: ("E", D3, "draft")}
EXPECTED = {"anonymous": PUBLIC, "akimat": PUBLIC, "hydrologist": REVIEWER, "admin": REVIEWER}


@pytest.mark.realdata
@pytest.mark.parametrize("role", sorted(EXPECTED))
@pytest.mark.parametrize("asked", [None, D1, D2, D3], ids=["latest", "D1", "D2", "D3"])
def test_api_csv_and_pages_show_the_same_run(served, role: str, asked: dt.date | None) -> None:
    c, keys = served
    headers = {"Authorization": f"Bearer {keys[role]}"} if role in keys else {}
    q = f"?issue_date={asked}" if asked else ""
    want = EXPECTED[role][asked]
    api = c.get(f"/api/v1/stations/CH2185/forecast{q}", headers=headers)
    csv = c.get(f"/api/v1/stations/CH2185/forecast.csv{q}", headers=headers)
    page = c.get(f"/stations/CH2185{q}{'&' if q else '?'}lang=en", headers=headers)
    basins = c.get(f"/api/v1/basins{q}", headers=headers)
    if want is None:
        assert api.status_code == csv.status_code == basins.status_code == 404
        assert 'id="station-level" data-level="none"' in page.text and 'data-state="no_forecast"' in page.text
        return
    run_id, day, status = want
    f = api.json()
    assert (f["run_id"], f["issue_date"], f["review_status"]) == (run_id, str(day), status)
    row = csv.text.splitlines()[1].split(",")
    assert (row[1], row[2]) == (str(day), status)
    assert {(b["issue_date"], b["review_status"]) for b in basins.json()} == {(str(day), status)}
    assert f'id="issue-date">{day.day} June 2020<' in page.text
    assert re.search(rf'id="review-status" class="review review-{status}"', page.text)
    # the override of the approved run B is what readers of B see, in every channel
    if run_id == "B":
        assert f["level"] == 3 and f["overridden"] and f["override_reason"] == "ice jam reported"
        assert 'data-level="3"' in page.text and "ice jam reported" in page.text


def test_station_state_rules() -> None:
    fresh = station_state("ok", "lightgbm", 1, 2, True)
    assert fresh == ("ok", "")
    assert station_state("ok", "lightgbm", 2, 2, True)[0] == "ok"  # at the limit: still current
    st, why = station_state("stale", "lightgbm", 3, 2, True)
    assert st == "stale" and why == "no current data: newest observation 3 days before the issue date"
    assert station_state("ok", "lightgbm", None, 2, True) == ("stale", "no observations before the issue date")
    st, why = station_state("fallback", "climatology", 0, 2, True, "station not in model v1; climatology forecast")
    assert st == "climatology" and why.startswith("climatology only: station not in model")
    st, why = station_state("fallback", "persistence", 0, 2, True, "no trained model for basin X")
    assert st == "fallback" and why == "persistence forecast: no trained model for basin X"
    assert station_state("ok", "lightgbm", 0, 2, False, "no thresholds") == ("no_thresholds", "no thresholds")
    assert station_state("failed", "", None, 2, False, "KeyError: x") == ("failed", "forecast failed: KeyError: x")
    # a level-only post's forecast (its level modelled directly) is current when its level data is
    assert station_state("ok", "lightgbm", 0, 2, True) == ("ok", "")
    # stale wins over a fallback: old data is the first thing a reader must know
    assert station_state("fallback", "climatology", 400, 2, True)[0] == "stale"


def test_skill_shown_is_that_of_the_model_that_made_the_forecast() -> None:
    plain = {"report": "backtest/r.json", "leads": {"1": {"skill_vs_persistence": 0.6}}}
    with_nwp = {
        "report": "backtest/nwp.json",
        "leads": {"1": {"skill_vs_persistence": 0.5}},
        "without_nwp": {"1": {"skill_vs_persistence": 0.3}},
        "nwp": {"mode": "archive"},
    }
    upper = {**with_nwp, "nwp": {"mode": "perfect (observed future weather: an upper bound, not a forecast)"}}
    assert skill_of_model("lightgbm", plain) == plain
    assert skill_of_model("climatology", plain) is None and skill_of_model("persistence", plain) is None
    assert skill_of_model("lightgbm-nwp", with_nwp) == with_nwp
    assert skill_of_model("lightgbm", with_nwp)["leads"] == {"1": {"skill_vs_persistence": 0.3}}
    assert skill_of_model("lightgbm-nwp", upper) is None  # an upper bound is never shown as skill
    assert skill_of_model("lightgbm-nwp", plain) is None
