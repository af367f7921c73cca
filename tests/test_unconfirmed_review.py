"""A typo on the issue day, end to end: held as unconfirmed by QC, the forecast stays at the true level, the
hydrologist sees the value with its reason (API and page) and confirms it; from then on it is used."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from records import accounts
from tests import dashboard_support as ds

pytestmark = [pytest.mark.realdata, pytest.mark.excerpt]


def _typo_source(real_data, dst, sid: str = "CH2185", day: str = "2020-12-31"):
    """The station's real record with 99999 m3/s on its last day (a typo)."""
    dst.mkdir(parents=True)
    table = pd.read_csv(real_data / "stations.csv", dtype=str)
    table[table["station_id"] == sid].to_csv(dst / "stations.csv", index=False)
    df = pd.read_csv(real_data / f"{sid}.csv", dtype=str)
    df.loc[df["date"] == day, "discharge_m3s"] = "99999"
    df.to_csv(dst / f"{sid}.csv", index=False)
    return dst


def test_typo_is_held_shown_and_confirmable(real_data, tmp_path):
    from flows.ingest import run_ingest
    from forecasting.home import Home
    from service.app import create_app

    home = Home(tmp_path / "home").ensure()
    report = run_ingest(str(_typo_source(real_data, tmp_path / "src")), "station-csv", home)
    assert report.ok
    settings = ds.settings_for(home, cache_revalidate_s=0.0)
    # the forecast of the day after the newest observation, from the store as the daily flow gives it to the models
    ds.publish_synthetic(home, settings, issue_date=None, growth={}, usable=True)
    with ds.session_factory(settings)() as s:
        accounts.add_user(s, "aigul", "river-pass-1", "hydrologist")
        key, _ = accounts.create_api_key(s, "aigul-key", "hydrologist")
        s.commit()
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as c:
        # the forecast did not use the typo: the level is that of the true flow, not extreme with P = 1
        f = c.get("/api/v1/stations/CH2185/forecast").json()
        assert f["level"] == 0 and f["last_obs_m3s"] < 1000 and f["last_obs_date"] == "2020-12-30"
        assert c.get("/api/v1/unconfirmed").status_code == 401  # for reviewers only
        assert 'id="held-link"' in c.get("/runs?lang=en", headers=auth).text  # the runs page points to it
        held = c.get("/api/v1/unconfirmed", headers=auth).json()
        assert [(h["station_id"], h["date"], h["value"]) for h in held] == [("CH2185", "2020-12-31", 99999.0)]
        assert "largest accepted value" in held[0]["reason"]
        # a value other than the stored one is refused; the stored one is confirmed
        bad = {"variable": "discharge_m3s", "date": "2020-12-31", "value": 9999.0}
        r = c.post("/api/v1/stations/CH2185/observations/confirm", json=bad, headers=auth)
        assert r.status_code == 422 and "99999" in r.json()["detail"]
        ok = {**bad, "value": 99999.0, "note": "observer called: gauge destroyed by ice, value real"}
        r = c.post("/api/v1/stations/CH2185/observations/confirm", json=ok, headers=auth)
        assert r.status_code == 200 and r.json()["confirmed_by"] == "key:aigul-key"
        assert c.get("/api/v1/unconfirmed", headers=auth).json() == []
        page = c.get("/review/unconfirmed?lang=en", headers=auth).text
        assert 'id="unconfirmed-none"' in page
