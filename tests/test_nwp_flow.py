"""The daily run with weather forecasts under a real Prefect run: an NWP run dropped in inbox/nwp is ingested by the
ingest-nwp flow, the train flow trains the NWP model set beside the plain one, the daily forecast uses the run
and says so; without a run issued by the issue time it falls back to the plain models and says why."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from flows.ingest import run_ingest
from forecasting.storage import read_netcdf

SID = "CH2232"


@pytest.mark.slow
def test_daily_forecast_with_and_without_an_nwp_run(prefect_harness, real_data, home, tmp_path):
    from flows.forecast import forecast_flow
    from flows.nwp import ingest_nwp_flow, nwp_inbox
    from flows.train import train_flow
    from forecasting.model_registry import load_model

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(real_data / f"{SID}.csv", src / f"{SID}.csv")
    (src / "stations.csv").write_text(
        "station_id,name,river,country,lat,lon,area_km2\n"
        "CH2232,Allenbach - Adelboden,Allenbach,CH,46.48596,7.55207,28.8\n"
    )
    run_ingest(src, "station-csv", home)
    # a wet run issued on 2020-12-30 (a local model's basin series), dropped where a sync job puts runs
    inbox = nwp_inbox(home)
    inbox.mkdir(parents=True)
    rows = [f"{SID},2020-12-30,{d},{12.0 + d:.1f}" for d in range(1, 11)]
    (inbox / "wrf-kazhydromet_20201230.csv").write_text("station_id,issue_date,lead_day,precip_mm\n" + "\n".join(rows))
    (inbox / "broken.csv").write_text("station_id,issue_date,lead_day,precip_mm\nCH2232,2020-12-30,99,1.0\n")
    got = ingest_nwp_flow(home=str(home.root), fmt="nwp-csv")
    assert [f["ok"] for f in got["files"]] == [False, True]  # the bad file is reported, the other ingested
    # dated 00:00 local on 30 Dec: 18 UTC the day before (Almaty was UTC+6 until March 2024)
    assert got["latest_run"]["wrf-kazhydromet"] == "2020-12-29T18:00Z"

    trained = train_flow(home=str(home.root), basins=[SID])
    assert trained["trained"][SID]["nwp"]["variables"] == ["precip_mm"]
    assert trained["trained"][SID]["nwp"]["draws"] == 3  # trained on three draws of the degraded forcing
    bm = load_model(home.models_dir, SID)
    assert bm.model.name == "lightgbm" and bm.nwp_model.name == "lightgbm-nwp"  # both model sets kept

    with_run = forecast_flow(issue_date="2020-12-31", home=str(home.root), ingest=False, publish=True)
    fc = read_netcdf(with_run["path"])
    st = fc.sel(station=SID)
    assert int(st["nwp_used"]) == 1 and str(st["model_name"].values) == "lightgbm-nwp"
    assert "/nwp" in str(st["model_version"].values)
    assert fc.attrs["nwp_source"] == "wrf-kazhydromet" and fc.attrs["nwp_run_time"] == "2020-12-29T18:00:00Z"
    # the run of 30 Dec is one day older than the issue day: its lead day k+2 is our lead k (valid 31 Dec + k)
    np.testing.assert_allclose(st["nwp_precip_mm"].values, [12.0 + k + 2 for k in fc["lead"].values])
    assert np.isfinite(st["driver_contribution"].sel(driver="nwp_rain").values).all()
    # 126 mm forecast over the 7 days to lead 7: the range there comes from the heavy-rain days' errors
    assert st["heavy_rain_band"].values[-1] == 1

    before = forecast_flow(issue_date="2020-12-20", home=str(home.root), ingest=False, publish=True)
    st = read_netcdf(before["path"]).sel(station=SID)
    assert int(st["nwp_used"]) == 0 and str(st["model_name"].values) == "lightgbm"
    assert str(st["status"].values) == "ok" and "no NWP run" in str(st["nwp_message"].values)
    assert "without weather forecast: no NWP run" in str(st["message"].values)
    assert np.isnan(st["nwp_precip_mm"].values).all()

    # users see it: the API carries the forecast rain used per lead and the run; the older forecast says why none
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.settings import Settings

    with TestClient(create_app(Settings.from_env(home))) as c:
        f = c.get(f"/api/v1/stations/{SID}/forecast?issue_date=2020-12-31").json()
        assert f["model_name"] == "lightgbm-nwp" and f["nwp"]["used"] is True
        assert f["nwp"]["source"] == "wrf-kazhydromet" and f["nwp"]["run_time"] == "2020-12-29T18:00:00Z"
        assert [ld["nwp_precip_mm"] for ld in f["leads"]] == [12.0 + ld["lead"] + 2 for ld in f["leads"]]
        assert f["leads"][0]["drivers"]["nwp_rain"] is not None
        assert f["leads"][-1]["heavy_rain_band"] is True
        old = c.get(f"/api/v1/stations/{SID}/forecast?issue_date=2020-12-20").json()
        assert old["nwp"]["used"] is False and "no NWP run" in old["nwp"]["message"]
        assert all(ld["nwp_precip_mm"] is None for ld in old["leads"])
        page = c.get(f"/stations/{SID}?issue_date=2020-12-31&lang=ru").text
        assert 'id="nwp-note"' in page and "wrf-kazhydromet" in page and 'class="nwp-precip"' in page
        assert "прогноз осадков" in page  # the forecast-rain driver named in the explanation
        assert 'id="heavy-rain-note"' in page and "Диапазон шире: сильные осадки" in page
        assert 'class="heavy-rain-band"' in page
        old_page = c.get(f"/stations/{SID}?issue_date=2020-12-20&lang=ru").text
        assert "Прогноз без прогноза погоды" in old_page


def test_the_observation_ingest_leaves_inbox_nwp_to_the_ingest_nwp_deployment(home):
    from flows.ingest import inbox_sources
    from flows.nwp import nwp_inbox

    nwp_inbox(home).mkdir(parents=True)
    (home.root / "inbox" / "kazhydromet").mkdir()
    (home.root / "inbox" / "stations.csv").write_text("station_id\n")
    got = [s.rsplit("/", 1)[-1] for s in inbox_sources(home)]
    assert got == ["kazhydromet", "stations.csv"]  # not "nwp": it is no observation source
