"""The daily forecast flow under a real Prefect run: every station reported, stale marked, reruns idempotent,
a failed run leaves the previous publication in place."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import xarray as xr
from sqlalchemy import select

from flows.ingest import run_ingest
from forecasting.storage import read_netcdf


def _prepare(real_data, home, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(real_data / "CH2232.csv", src / "CH2232.csv")
    # A gauge whose last reports are late: its newest discharge is 3 days old on the issue date.
    lines = (real_data / "CH2185.csv").read_text().splitlines()
    (src / "CH2185.csv").write_text("\n".join(lines[:-3]) + "\n")
    # A station whose gauge never reported discharge: it cannot be forecast and must be reported, not dropped.
    (src / "KZ_NOQ.csv").write_text("date,precip_mm\n2020-12-01,1.0\n2020-12-02,0.0\n")
    (src / "stations.csv").write_text(
        "station_id,name,river,country,lat,lon,area_km2\n"
        "CH2232,Allenbach - Adelboden,Allenbach,CH,46.48596,7.55207,28.8\n"
        "CH2185,Plessur - Chur,Plessur,CH,46.85969,9.51053,264.4\n"
        "KZ_NOQ,Broken gauge,Esil,KZ,51.1,71.4,\n"
    )
    run_ingest(src, "station-csv", home)


@pytest.mark.slow
def test_forecast_flow_reports_every_station_and_reruns_idempotently(prefect_harness, real_data, home, tmp_path):
    from flows.forecast import forecast_flow
    from flows.train import train_flow
    from records.accounts import ANONYMOUS
    from records.db import ForecastRun, open_database
    from records.published import visible_run

    _prepare(real_data, home, tmp_path)
    trained = train_flow(home=str(home.root), basins=["CH2232", "CH2185"])
    assert "CH2232" in trained["trained"]

    first = forecast_flow(issue_date="2020-12-31", home=str(home.root), ingest=False, publish=True, stale_after_days=2)
    assert first["n_stations"] == 3
    assert first["status"]["CH2232"] == "ok"
    # Late data: still forecast where possible, and marked stale.
    assert first["status"]["CH2185"] == "stale"
    assert first["n_stale"] == 1
    assert first["status"]["KZ_NOQ"] == "failed"
    assert first["n_failed"] == 1

    fc = read_netcdf(first["path"])
    assert fc.attrs["issue_date"] == "2020-12-31"
    q = fc["discharge_m3s"].sel(station="CH2232").values
    assert q.shape == (7, len(fc["quantile"]))
    assert np.all(np.diff(q, axis=1) >= 0)  # quantiles do not cross
    assert set(fc["threshold"].values) == {"warning", "danger", "extreme"}
    assert np.isfinite(fc["p_exceed"].sel(station="CH2232").values).all()

    second = forecast_flow(issue_date="2020-12-31", home=str(home.root), ingest=False, publish=True, stale_after_days=2)
    assert second["run_id"] != first["run_id"]
    fc2 = read_netcdf(second["path"])
    xr.testing.assert_allclose(fc["discharge_m3s"], fc2["discharge_m3s"])
    assert second["threshold_version"] == first["threshold_version"]  # unchanged thresholds keep their version

    engine, factory = open_database(f"sqlite:///{home.database}")
    with factory() as s:
        assert visible_run(s, ANONYMOUS).run_id == second["run_id"]
        # A run that fails (no store any more) is recorded failed; the publication stays the previous one.
        home.observations.rename(home.observations.with_suffix(".bak"))
        with pytest.raises(FileNotFoundError):
            forecast_flow(issue_date="2021-01-01", home=str(home.root), ingest=False, publish=True)
        s.expire_all()
        failed = s.scalars(select(ForecastRun).where(ForecastRun.status == "failed")).all()
        assert len(failed) == 1 and str(failed[0].issue_date) == "2021-01-01"
        assert visible_run(s, ANONYMOUS).run_id == second["run_id"]
    engine.dispose()
