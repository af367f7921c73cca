"""`tasqyn demo --no-serve` end to end, then the API serves what it published (as a new user would see it)."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from flows.cli import app
from forecasting.home import Home


def _client(root):
    from service.app import create_app
    from service.settings import Settings

    return TestClient(create_app(Settings.from_env(Home(root))))


@pytest.mark.slow
def test_demo_on_the_embedded_sample_then_serve(prefect_harness, tmp_path):
    res = CliRunner().invoke(app, ["demo", "--no-serve", "--home", str(tmp_path / "h")])
    assert res.exit_code == 0, res.output
    assert "published (unreviewed)" in res.output
    with _client(tmp_path / "h") as c:
        basins = c.get("/api/v1/basins").json()
        assert [b["basin_id"] for b in basins] == ["FULDA"]
        b = basins[0]
        assert b["level"] in (0, 1, 2, 3) and 0.0 <= b["probability"] <= 1.0
        assert b["issue_date"] == "1988-12-31" and b["review_status"] == "unreviewed"
        fc = c.get("/api/v1/stations/FULDA/forecast").json()
        assert [x["lead"] for x in fc["leads"]] == [1, 2, 3, 4, 5, 6, 7]
        first = fc["leads"][0]
        assert first["valid_date"] == "1989-01-01"
        assert set(first["p_exceed"]) == {"warning", "danger", "extreme"}
        q = [first["quantiles"][k] for k in sorted(first["quantiles"], key=float)]
        assert q == sorted(q) and len(q) >= 5
        # why: the drivers' factors multiply the newest observation up to the median (percent, rounded)
        drivers = first["drivers"]
        assert set(drivers) == {"flow", "rain", "snow", "temperature", "season", "basin", "calibration"}
        factor = math.prod(1 + v / 100 for v in drivers.values())
        last = fc["observations"][-1]["discharge_m3s"]
        assert factor * last == pytest.approx(first["quantiles"]["0.5"], rel=0.02)
        page = c.get("/stations/FULDA?lang=en").text  # the hydrologist's page says why
        assert 'id="why-table"' in page and "the median is" in page and 'data-driver="flow"' in page
        basin_page = c.get("/basins/FULDA?lang=en").text  # and the basin page names each station's main drivers
        assert "Main drivers" in basin_page and 'class="small why"' in basin_page
        station = c.get("/api/v1/stations/FULDA").json()
        assert station["skill"] is not None  # the demo's backtest gives the model's skill at the station


@pytest.mark.slow
def test_demo_on_the_real_data_publishes_all_ten_stations(prefect_harness, real_data, tmp_path):
    res = CliRunner().invoke(
        app, ["demo", "--no-serve", "--no-backtest", "--data", str(real_data), "--home", str(tmp_path / "h")]
    )
    assert res.exit_code == 0, res.output
    with _client(tmp_path / "h") as c:
        basins = c.get("/api/v1/basins").json()
        assert len(basins) == 10
        for sid in ("CH2141", "PROTVA_SZ", "UZ16279_chatkal_khudaydod"):
            st = c.get(f"/api/v1/stations/{sid}").json()
            kinds = {t["kind"]: t for t in st["thresholds"]}
            assert set(kinds) == {"warning", "danger", "extreme"}
            assert kinds["warning"]["source"].startswith("derived")
            assert kinds["warning"]["value"] < kinds["danger"]["value"] < kinds["extreme"]["value"]
        ch = c.get("/api/v1/stations/CH2141/forecast").json()  # stage observed too: a water-level forecast
        h = [ch["leads"][0]["water_level_quantiles"][k] for k in ("0.05", "0.5", "0.95")]
        assert all(v is not None for v in h) and h == sorted(h)
        csv_head = c.get("/api/v1/stations/CH2141/forecast.csv").text.splitlines()[0]
        assert "h0.5_cm" in csv_head
        protva = c.get("/api/v1/stations/PROTVA_SZ/forecast").json()  # no coordinates: published like the others
        assert len(protva["leads"]) == 7
        geo = c.get("/api/v1/basins.geojson").json()
        protva_feature = next(f for f in geo["features"] if f["properties"]["basin_id"] == "PROTVA_SZ")
        assert protva_feature["geometry"] is not None  # the basin outline copied from the data folder
