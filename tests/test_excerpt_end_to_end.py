"""The daily path on the committed real excerpt (runs on a fresh clone without ../shared): ingest, train, the daily
forecast flow under a real Prefect run, publication, and what the API and the pages then say. The Plessur has
current data on 31 December 2020 and gets a level; the Protva (record ends 2005) is stale: no level, its reason."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def test_ingest_train_forecast_publish_serve(prefect_harness, real_excerpt, tmp_path) -> None:
    from flows.forecast import forecast_flow
    from flows.ingest import run_ingest
    from flows.train import train_flow
    from forecasting.home import Home
    from service.app import create_app
    from service.settings import Settings

    home = Home(tmp_path / "home").ensure()
    assert run_ingest(str(real_excerpt), "station-csv", home).ok
    trained = train_flow(home=str(home.root))
    assert {"CH2185", "PROTVA_SZ"} <= set(trained["trained"]) and not trained["failed"]
    out = forecast_flow(issue_date="2020-12-31", home=str(home.root), ingest=False, publish=True)
    assert out["n_stations"] == 2 and out["status"]["CH2185"] == "ok"
    with TestClient(create_app(Settings.from_env(home))) as c:
        f = c.get("/api/v1/stations/CH2185/forecast").json()
        assert f["state"] == "ok" and f["level"] in (0, 1, 2, 3) and f["model_name"] == "lightgbm"
        assert f["data_age_days"] == 0 and f["issue_date"] == "2020-12-31" and len(f["leads"]) == 7
        q = [f["leads"][0]["quantiles"][k] for k in ("0.05", "0.5", "0.95")]
        assert q == sorted(q) and all(v > 0 for v in q)
        p = c.get("/api/v1/stations/PROTVA_SZ/forecast").json()
        assert p["level"] is None and p["state"] == "stale" and p["reason"].startswith("no current data")
        assert p["data_age_days"] == (dt.date(2020, 12, 31) - dt.date(2005, 12, 31)).days
        basins = {b["basin_id"]: b for b in c.get("/api/v1/basins").json()}
        assert basins["PROTVA_SZ"]["level"] is None and basins["CH2185"]["level"] == f["level"]
        assert c.get("/stations/PROTVA_SZ?lang=ru").status_code == 200
        csv = c.get("/api/v1/stations/CH2185/forecast.csv").text.splitlines()
        assert len(csv) == 8 and csv[1].startswith("CH2185,2020-12-31,unreviewed,")
