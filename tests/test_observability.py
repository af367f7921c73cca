"""Observability: /metrics after a real daily run (the counters move, routes by template, the run's outcome and
stations, observation ages, the NWP run's age, notification deliveries), the access log, and a health endpoint
that says what is degraded: a stale store, an unreadable store, a failed newest run."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pytest
import xarray as xr
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from flows.ingest import run_ingest
from forecasting.config import DEFAULTS, local_today
from records.db import open_database, session_scope
from service.app import create_app
from service.settings import Settings

pytestmark = [pytest.mark.realdata, pytest.mark.excerpt]


def scrape(client: TestClient) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of one GET /metrics."""
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture()
def excerpt_home(real_excerpt, home):
    assert run_ingest(real_excerpt, "station-csv", home).ok
    return home


@pytest.mark.slow
def test_metrics_move_after_a_daily_run(prefect_harness, excerpt_home, caplog):
    from flows.forecast import forecast_flow
    from flows.train import train_basin
    from forecasting.model_registry import GLOBAL_MODEL
    from records.notifications import NotificationMessage

    home = excerpt_home
    for sid in ("CH2185", "PROTVA_SZ"):
        train_basin(str(home.root), sid, [sid], [1, 2, 3])
    train_basin(str(home.root), GLOBAL_MODEL, ["CH2185", "PROTVA_SZ"], [1, 2, 3])
    url = f"sqlite:///{home.database}"

    with TestClient(create_app(Settings.from_env(home, url, cache_revalidate_s=0))) as client:
        before = scrape(client)
        assert value(before, "tasqyn_forecast_runs_total", status="success") == 0
        assert value(before, "tasqyn_forecast_last_run_success") is None  # no run yet
        station_route = {"method": "GET", "route": "/api/v1/stations/{station_id}/forecast", "status": "200"}
        n0 = value(before, "tasqyn_http_requests_total", **station_route) or 0.0
        # the histogram has no status label: earlier requests of any status on this route count there
        d0 = value(before, "tasqyn_http_request_duration_seconds_count", method="GET", route=station_route["route"])

        out = forecast_flow(issue_date="2020-12-31", home=str(home.root), ingest=False, publish=True, leads=3)
        with caplog.at_level(logging.INFO, logger="tasqyn.access"):
            for _ in range(2):
                assert client.get("/api/v1/stations/CH2185/forecast").status_code == 200
            assert client.get("/no/such/page").status_code == 404
        _, factory = open_database(url)
        with session_scope(factory) as s:
            s.add(
                NotificationMessage(
                    dedupe_key="k1",
                    owner="user:aigul",
                    channel="email",
                    target="aigul@example.kz",
                    run_key=out["run_id"],
                    issue_date=dt.date(2020, 12, 31),
                    basin_id="CH2185",
                    basin_name="Plessur",
                    kind="rise",
                    lang="kk",
                    status="sent",
                    attempts=2,
                )
            )
        # a weather-forecast run 6 hours old in the forcing store (only its run time matters here)
        forcing = home.store_dir / "forcing"
        forcing.mkdir(parents=True)
        run_time = np.datetime64(dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=6), "ns")
        ds = xr.Dataset(coords={"forecast_reference_time": [run_time]}, attrs={"source": "ifs"})
        ds.to_netcdf(forcing / "ifs.nc")
        after = scrape(client)

    # the daily run: counted, its outcome, duration and stations
    assert value(after, "tasqyn_forecast_runs_total", status="success") == 1
    assert value(after, "tasqyn_forecast_runs_total", status="failed") == 0
    info = {dict(k[1])["run_id"]: dict(k[1]) for k in after if k[0] == "tasqyn_forecast_last_run_info"}
    assert info[out["run_id"]]["issue_date"] == "2020-12-31" and info[out["run_id"]]["status"] == "success"
    assert value(after, "tasqyn_forecast_last_run_success") == 1
    assert 0 < value(after, "tasqyn_forecast_last_run_duration_seconds") < 600
    states = {"total": "n_stations", "forecast": "n_forecast", "stale": "n_stale", "failed": "n_failed"}
    for state, key in states.items():
        assert value(after, "tasqyn_forecast_last_run_stations", state=state) == out[key]
    # requests by route template (never the raw path), the 404 under one label
    assert value(after, "tasqyn_http_requests_total", **station_route) == n0 + 2
    assert not any("CH2185" in dict(k[1]).get("route", "") for k in after)
    assert value(after, "tasqyn_http_requests_total", method="GET", route="<unmatched>", status="404") >= 1
    count = value(after, "tasqyn_http_request_duration_seconds_count", method="GET", route=station_route["route"])
    assert count == (d0 or 0.0) + 2
    # observations: each station's age, both stale on today's date
    today = local_today()
    assert value(after, "tasqyn_observation_age_days", station="CH2185") == (today - dt.date(2020, 12, 31)).days
    assert value(after, "tasqyn_observation_age_days", station="PROTVA_SZ") > DEFAULTS.stale_after_days
    assert value(after, "tasqyn_observation_stale_stations") == 2
    # the NWP run, 6 hours old; the notification log
    assert 5.9 < value(after, "tasqyn_nwp_run_age_hours", source="ifs") < 7
    assert value(after, "tasqyn_notification_messages", channel="email", status="sent") == 1
    assert value(after, "tasqyn_notification_delivery_attempts_total", channel="email") == 2
    # the access log: one line per request, with the path, status, time and route
    lines = [r.getMessage() for r in caplog.records if r.name == "tasqyn.access"]
    assert sum('"GET /api/v1/stations/CH2185/forecast HTTP/1.1" 200' in ln for ln in lines) == 2
    assert any(" 404 " in ln and "route=<unmatched>" in ln for ln in lines)


def test_health_says_what_is_degraded(excerpt_home):
    from records.publication import fail_run

    home = excerpt_home
    url = f"sqlite:///{home.database}"
    with TestClient(create_app(Settings.from_env(home, url, cache_revalidate_s=0))) as client:
        body = client.get("/api/v1/health").json()
        assert body["status"] == "degraded" and body["n_stations"] == 2
        # a stale store: both stations' newest values are years old, named
        stale = [d for d in body["degraded"] if "stale" in d]
        assert len(stale) == 1 and stale[0].startswith("2 of 2 stations have no observation in the last")
        assert "CH2185" in stale[0] and "PROTVA_SZ" in stale[0]
        assert any(d.startswith("the newest observation is") for d in body["degraded"])
        assert "nothing is published yet" in body["degraded"]
        assert not any("forecast run" in d for d in body["degraded"])

        _, factory = open_database(url)
        with session_scope(factory) as s:
            fail_run(s, "2020-12-31-dead", dt.date(2020, 12, 31), "FileNotFoundError: the store is empty")
        body = client.get("/api/v1/health").json()
        assert any("failed: FileNotFoundError: the store is empty" in d for d in body["degraded"])

        # an unreadable store: reported, not a 503
        home.observations.write_bytes(b"this is not a netCDF file" * 100)
        r = client.get("/api/v1/health")
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "degraded" and body["n_stations"] == 0
        assert any(d.startswith("the observation store cannot be read") for d in body["degraded"])
