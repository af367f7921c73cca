"""`tasqyn demo --no-serve` end to end, then the API serves what it published (as a new user would see it)."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from flows.cli import app
from forecasting.explain import DRIVERS
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
        assert set(drivers) == set(DRIVERS)  # every driver, the weather forecast's too (null without one)
        factor = math.prod(1 + v / 100 for v in drivers.values() if v is not None)
        last = fc["observations"][-1]["discharge_m3s"]
        assert factor * last == pytest.approx(first["quantiles"]["0.5"], rel=0.02)
        page = c.get("/stations/FULDA?lang=en").text  # the hydrologist's page says why
        assert 'id="why-table"' in page and "the median is" in page and 'data-driver="flow"' in page
        basin_page = c.get("/basins/FULDA?lang=en").text  # and the basin page names each station's main drivers
        assert "Main drivers" in basin_page and 'class="small why"' in basin_page
        station = c.get("/api/v1/stations/FULDA").json()
        assert station["skill"] is not None  # the demo's backtest gives the model's skill at the station


def _subset(real_data, dst, stations: dict[str, str | None]):
    """A station-CSV folder of some real stations (each from the given first date on) and their basin outlines."""
    import shutil

    import pandas as pd

    dst.mkdir(parents=True)
    table = pd.read_csv(real_data / "stations.csv", dtype=str)
    table[table["station_id"].isin(stations)].to_csv(dst / "stations.csv", index=False)
    for sid, start in stations.items():
        lines = (real_data / f"{sid}.csv").read_text().splitlines()
        keep = [lines[0]] + [x for x in lines[1:] if start is None or x[:10] >= start]
        (dst / f"{sid}.csv").write_text("\n".join(keep) + "\n")
    if (real_data / "basins").is_dir():
        shutil.copytree(real_data / "basins", dst / "basins")
    return dst


@pytest.mark.slow
@pytest.mark.fulldata
def test_demo_on_real_stations_shows_stale_ones_grey(prefect_harness, real_data, tmp_path):
    """The real-data demo on four stations (the full ten: bench/demo_real.py): the Albula with its water-level
    forecast; the Chatkal (1967) and the Protva (2005) have no current data on the issue date 31 December 2020:
    grey with their reason on the map, the basin pages, the API and counted on the runs page, never "normal"."""
    data = _subset(
        real_data,
        tmp_path / "data",
        {"CH2141": "2013-01-01", "CH2185": "2013-01-01", "PROTVA_SZ": "1996-01-01", "UZ16279_chatkal_khudaydod": None},
    )
    res = CliRunner().invoke(
        app, ["demo", "--no-serve", "--no-backtest", "--data", str(data), "--home", str(tmp_path / "h")]
    )
    assert res.exit_code == 0, res.output
    with _client(tmp_path / "h") as c:
        basins = {b["basin_id"]: b for b in c.get("/api/v1/basins").json()}
        assert len(basins) == 4 and {b["issue_date"] for b in basins.values()} == {"2020-12-31"}
        for sid, last in (("PROTVA_SZ", "2005-12-31"), ("UZ16279_chatkal_khudaydod", "1967-09-15")):
            b = basins[sid]
            assert b["level"] is None and b["state"] == "no_data" and b["n_no_level"] == 1
            f = c.get(f"/api/v1/stations/{sid}/forecast").json()
            assert f["level"] is None and f["state"] == "stale" and f["reason"].startswith("no current data")
            assert f["data_age_days"] == (dt.date(2020, 12, 31) - dt.date.fromisoformat(last)).days
            assert f["skill"] is None  # no skill shown for a forecast no model made
        for sid in ("CH2141", "CH2185"):  # the stations with current data are unchanged: a level
            assert basins[sid]["level"] in (0, 1, 2, 3) and basins[sid]["state"] == "ok"
        st = c.get("/api/v1/stations/CH2141").json()
        kinds = {t["kind"]: t for t in st["thresholds"]}
        assert kinds["warning"]["source"].startswith("derived")
        assert kinds["warning"]["value"] < kinds["danger"]["value"] < kinds["extreme"]["value"]
        ch = c.get("/api/v1/stations/CH2141/forecast").json()  # stage observed too: a water-level forecast
        h = [ch["leads"][0]["water_level_quantiles"][k] for k in ("0.05", "0.5", "0.95")]
        assert all(v is not None for v in h) and h == sorted(h)
        assert "h0.5_cm" in c.get("/api/v1/stations/CH2141/forecast.csv").text.splitlines()[0]
        page = c.get("/?lang=ru").text
        chatkal = page[page.index('<tr data-station="UZ16279_chatkal_khudaydod"') :][:1500]
        assert 'data-state="stale"' in chatkal and "Данные устарели" in chatkal and "Норма" not in chatkal
        assert "Нет текущих данных" in c.get("/basins/PROTVA_SZ?lang=ru").text
        runs = c.get("/runs?lang=en").text
        assert "Data out of date: 2" in runs
        geo = c.get("/api/v1/basins.geojson").json()
        protva = next(f for f in geo["features"] if f["properties"]["basin_id"] == "PROTVA_SZ")
        assert protva["geometry"] is not None  # the basin outline copied from the data folder
