"""The JSON API v1 against SQLite and PostgreSQL, with a home of real stations and published synthetic forecasts."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from forecasting.storage import write_netcdf_atomic
from records.db import init_db, make_engine, make_session_factory, session_scope
from records.publication import publish_forecast, save_thresholds
from service.app import create_app
from service.settings import Settings
from tests.test_db import STATIONS, _drop_extra_schemas, make_forecast, new_pg_url, pg_schema, risk_store  # noqa: F401 (fixtures)

pytestmark = pytest.mark.realdata


def _publish(home, store, thresholds, url: str) -> dict[str, str]:
    """Two published issue dates, one draft date after them, one failed run; returns the dates."""
    e = make_engine(url)
    init_db(e)
    factory = make_session_factory(e)
    last = dt.date.fromisoformat(make_forecast(store, thresholds, flood=None).attrs["issue_date"])
    older, latest, draft = last - dt.timedelta(days=3), last, last + dt.timedelta(days=1)
    with session_scope(factory) as s:
        save_thresholds(s, thresholds)
    for i, (issue, flood, publish) in enumerate(
        [(older, None, True), (latest, "CH2185", True), (draft, "CH2232", False)]
    ):
        fc = make_forecast(store, thresholds, str(issue), flood=flood)
        path = home.forecasts_dir / str(issue) / f"forecast-run{i}.nc"
        write_netcdf_atomic(fc, path)
        with session_scope(factory) as s:
            publish_forecast(
                s,
                fc,
                f"run{i}",
                review_status="unreviewed" if publish else "draft",
                publish=publish,
                forecast_path=str(path),
            )
    e.dispose()
    return {"older": str(older), "latest": str(latest), "draft": str(draft)}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], scope="module")
def api(request: pytest.FixtureRequest, risk_store, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    home, store, thresholds = risk_store
    tmp = tmp_path_factory.mktemp(f"api-{request.param}")
    # a home of its own (forecasts, database), sharing the ingested store
    from forecasting.home import Home

    h = Home(tmp / "home").ensure()
    shutil.copy(home.observations, h.observations)
    url = f"sqlite:///{h.database}" if request.param == "sqlite" else new_pg_url(request.getfixturevalue("pg_schema"))
    dates = _publish(h, store, thresholds, url)
    with TestClient(create_app(Settings.from_env(h, url, cache_revalidate_s=0))) as client:
        yield client, h, dates


def test_health(api) -> None:
    client, _, dates = api
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["database"] == "ok" and body["n_stations"] == 3
    assert body["latest_issue_date"] == dates["latest"]
    assert body["newest_observation"] == "2020-12-31" and body["observation_age_days"] > 365
    # a 2021 publication read today is outdated, the data is years old, the Protva has no current level: said so
    assert body["status"] == "degraded" and body["outdated"] is True and body["forecast_age_days"] > 365
    assert any("newest observation" in d for d in body["degraded"]) and body["n_no_level"] == 1


def test_basins(api) -> None:
    client, _, dates = api
    r = client.get("/api/v1/basins")
    assert r.status_code == 200, r.text
    basins = {b["basin_id"]: b for b in r.json()}
    assert set(basins) == set(STATIONS)
    ples = basins["CH2185"]
    assert ples["level"] >= 2 and ples["level_label"] in ("danger", "extreme") and ples["state"] == "ok"
    assert ples["issue_date"] == dates["latest"] and ples["review_status"] == "unreviewed"
    assert 0.3 <= ples["probability"] <= 1 and ples["first_date"] > dates["latest"]
    assert ples["name"] == "Plessur" and ples["data_age_days"] == 1 and ples["outdated"] is True
    # the Protva (data of 2005) is no current data, never "normal"
    prot = basins["PROTVA_SZ"]
    assert prot["level"] is None and prot["state"] == "no_data" and prot["n_no_level"] == 1
    assert prot["name"] == "Protva" and prot["data_age_days"] > 5000
    assert basins["CH2232"]["level"] == 0 and basins["CH2232"]["first_date"] is None
    again = client.get("/api/v1/basins")
    assert again.headers.get("x-cache") == "hit" and again.json() == r.json()
    # history, a date without forecast, a draft date (not public), a malformed date
    old = client.get(f"/api/v1/basins?issue_date={dates['older']}").json()
    assert {b["issue_date"] for b in old} == {dates["older"]} and max(b["level"] or 0 for b in old) == 0
    r = client.get("/api/v1/basins?issue_date=1999-01-01")
    assert r.status_code == 404 and r.json() == {"detail": "no published forecast for issue date 1999-01-01"}
    assert client.get(f"/api/v1/basins?issue_date={dates['draft']}").status_code == 404
    r = client.get("/api/v1/basins?issue_date=2024-13-45")
    assert r.status_code == 422 and isinstance(r.json()["detail"], str) and "YYYY-MM-DD" in r.json()["detail"]


def test_basins_geojson(api) -> None:
    client, home, _ = api
    fc = client.get("/api/v1/basins.geojson")
    assert fc.status_code == 200 and fc.headers["content-type"].startswith("application/geo+json")
    feats = {f["id"]: f for f in fc.json()["features"]}
    assert fc.json()["type"] == "FeatureCollection" and set(feats) == set(STATIONS)
    assert feats["PROTVA_SZ"]["geometry"] is None  # no coordinates, no polygon
    assert feats["CH2232"]["geometry"]["type"] == "Point"
    assert feats["PROTVA_SZ"]["properties"]["level"] is None and feats["CH2185"]["properties"]["level"] >= 2
    assert client.get("/api/v1/basins?format=geojson").json() == fc.json()


def test_basin_polygon(api, real_data: Path) -> None:
    client, home, _ = api
    settings = client.app.state.settings
    app = create_app(Settings.from_env(home, settings.database_url, basins_path=real_data / "basins"))
    with TestClient(app) as c2:
        feats = {f["id"]: f for f in c2.get("/api/v1/basins.geojson").json()["features"]}
    assert feats["PROTVA_SZ"]["geometry"]["type"] == "MultiPolygon"


def test_basin_detail_and_unknown(api) -> None:
    client, _, dates = api
    r = client.get("/api/v1/basins/PROTVA_SZ")
    assert r.status_code == 200
    b = r.json()
    st = b["stations"][0]
    assert st["station_id"] == "PROTVA_SZ" and st["lat"] is None
    assert st["level"] is None and st["state"] == "stale" and "no current data" in st["reason"]
    assert b["level"] is None and b["n_no_level"] == 1
    b = client.get("/api/v1/basins/CH2185").json()
    assert b["stations"][0]["trend"] == "rising" and b["level"] == b["stations"][0]["level"] >= 2
    r = client.get("/api/v1/basins/NOPE")
    assert r.status_code == 404 and "unknown basin 'NOPE'" in r.json()["detail"]


def test_station_thresholds_and_skill(api) -> None:
    client, home, _ = api
    r = client.get("/api/v1/stations/CH2232")
    assert r.status_code == 200
    st = r.json()
    assert st["name"].startswith("Allenbach") and st["period_start"] == "1981-01-01"
    assert {"discharge_m3s", "precip_mm", "swe_mm"} <= set(st["variables"])
    kinds = {t["kind"]: t for t in st["thresholds"]}
    assert set(kinds) == {"warning", "danger", "extreme"}
    assert kinds["warning"]["source"].startswith("derived: Gumbel L-moments 2-year flood")
    assert kinds["warning"]["units"] == "m3/s" and kinds["warning"]["years"].startswith("1981-2020")
    assert kinds["warning"]["value"] < kinds["danger"]["value"] < kinds["extreme"]["value"]
    assert st["skill"] is None
    report = {"test_years": 5, "stations": {"CH2232": {"n_issues": 1827, "leads": {"1": {"nse": 0.71}}}}}
    home.backtest_dir.mkdir(parents=True, exist_ok=True)
    (home.backtest_dir / "report.json").write_text(json.dumps(report))
    try:
        st = client.get("/api/v1/stations/CH2232").json()
        assert st["skill"]["leads"]["1"]["nse"] == 0.71 and st["skill"]["test_years"] == 5
    finally:
        (home.backtest_dir / "report.json").unlink()
    r = client.get("/api/v1/stations/XX1")
    assert r.status_code == 404 and r.json()["detail"] == "unknown station 'XX1'"


def test_station_forecast(api) -> None:
    client, _, dates = api
    r = client.get("/api/v1/stations/PROTVA_SZ/forecast")
    assert r.status_code == 200, r.text
    f = r.json()
    assert f["issue_date"] == dates["latest"] and f["review_status"] == "unreviewed"
    # the Protva record ends in 2005: the forecast is made but has no level, state stale, with its data age
    assert f["data_age_days"] == (dt.date.fromisoformat(dates["latest"]) - dt.date(2005, 12, 31)).days
    assert f["status"] == "stale" and f["model_version"] == "synthetic-1" and f["observations"] == []
    assert f["state"] == "stale" and f["level"] is None and all(ld["level"] is None for ld in f["leads"])
    assert f["outdated"] is True and f["forecast_age_days"] > 365
    assert len(f["leads"]) == 7
    f = client.get("/api/v1/stations/CH2185/forecast").json()
    lead1, lead7 = f["leads"][0], f["leads"][-1]
    assert lead1["valid_date"] == str(dt.date.fromisoformat(dates["latest"]) + dt.timedelta(days=1))
    assert list(lead1["quantiles"]) == ["0.05", "0.1", "0.25", "0.5", "0.75", "0.9", "0.95"]
    assert set(lead1["p_exceed"]) == {"warning", "danger", "extreme"}
    assert lead1["drivers"] is None  # a forecast file without driver contributions (older runs) stays readable
    assert lead7["p_exceed"]["danger"] > 0.5 and lead7["level"] >= 2
    assert all(0 < ld["p_exceed"]["extreme"] < 1 for ld in f["leads"])
    assert f["level"] == max(ld["level"] for ld in f["leads"])
    assert {t["kind"] for t in f["thresholds"]} == {"warning", "danger", "extreme"}
    ch = client.get("/api/v1/stations/CH2185/forecast").json()
    assert ch["data_age_days"] == 1 and ch["status"] == "ok" and ch["state"] == "ok" and ch["reason"] is None
    obs = ch["observations"]
    # the 30 days up to the issue date 2021-01-01 (no observation on the issue day itself)
    assert len(obs) == 29 and obs[0]["date"] == "2020-12-03" and obs[-1]["date"] == "2020-12-31"
    assert obs[-1]["discharge_m3s"] > 0
    # history
    old = client.get(f"/api/v1/stations/CH2185/forecast?issue_date={dates['older']}").json()
    assert old["issue_date"] == dates["older"] and old["level"] == 0
    assert client.get("/api/v1/stations/PROTVA_SZ/forecast?issue_date=2000-01-01").status_code == 404
    assert client.get("/api/v1/stations/PROTVA_SZ/forecast?issue_date=yesterday").status_code == 422
    assert client.get("/api/v1/stations/NOPE/forecast").status_code == 404


def test_forecast_csv(api) -> None:
    client, _, dates = api
    r = client.get("/api/v1/stations/CH2185/forecast.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0].startswith(
        "station_id,issue_date,review_status,forecast_age_days,data_age_days,state,model_name,model_version,lead,"
    )
    assert "q0.5_m3s" in lines[0] and lines[0].endswith("p_exceed_warning,p_exceed_danger,p_exceed_extreme,level")
    assert len(lines) == 8 and lines[1].startswith(f"CH2185,{dates['latest']},unreviewed,")
    assert client.get("/api/v1/stations/CH2185/forecast?format=csv").text == r.text
    assert client.get("/api/v1/stations/CH2185/forecast?format=xml").status_code == 422


def test_observations(api) -> None:
    client, _, _ = api
    r = client.get("/api/v1/stations/CH2185/observations?start=2020-01-01&end=2020-01-10")
    assert r.status_code == 200
    o = r.json()
    assert [x["date"] for x in o["observations"]][:2] == ["2020-01-01", "2020-01-02"]
    assert len(o["observations"]) == 10 and o["observations"][0]["discharge_m3s"] > 0
    full = client.get("/api/v1/stations/CH2185/observations").json()
    assert full["end"] == "2020-12-31" and full["start"] == "2020-01-02"
    r = client.get("/api/v1/stations/CH2185/observations?start=2020-02-01&end=2020-01-01")
    assert r.status_code == 422 and "after" in r.json()["detail"]
    assert client.get("/api/v1/stations/CH2185/observations?start=01.02.2020").status_code == 422
    assert client.get("/api/v1/stations/NOPE/observations").status_code == 404


def test_empty_home(tmp_path: Path) -> None:
    from forecasting.home import Home

    h = Home(tmp_path / "empty").ensure()
    with TestClient(create_app(Settings.from_env(h, f"sqlite:///{h.database}"))) as c:
        health = c.get("/api/v1/health").json()
        assert health["status"] == "degraded" and health["latest_issue_date"] is None and health["n_stations"] == 0
        r = c.get("/api/v1/basins")
        assert r.status_code == 404 and "no forecast has been published yet" in r.json()["detail"]
        r = c.get("/api/v1/stations/CH2232/forecast")
        assert r.status_code == 404 and "the observation store is empty" in r.json()["detail"]
        assert "openapi" in c.get("/openapi.json").json()


class _Proxy:
    """A TCP forwarder to the PostgreSQL server that can be stopped (the database "goes down") and restarted."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._srv: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self.accepted = 0  # connections forwarded so far

    def start(self) -> None:
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(16)
        self._srv = srv
        threading.Thread(target=self._accept, args=(srv,), daemon=True).start()

    def _accept(self, srv: socket.socket) -> None:
        while True:
            try:
                client, _ = srv.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._conns += [client, upstream]
            self.accepted += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._srv is not None:
            with contextlib.suppress(OSError):
                self._srv.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (close alone does not)
            self._srv.close()
            self._srv = None
        for c in self._conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass
        self._conns = []


@pytest.mark.postgres
def test_database_down_then_back(api, pg_schema: str) -> None:  # noqa: F811
    client, home, dates = api
    url = client.app.state.settings.database_url
    if not url.startswith("postgresql"):
        pytest.skip("the PostgreSQL variant covers the database outage")
    proxy = _Proxy(("127.0.0.1", 5432))
    proxied = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    # the same database and schema, reached through the proxy's port only
    assert make_url(proxied).port == proxy.port and make_url(proxied).set(port=5432) == make_url(url)
    # the app starts while the database is down: 503 with a clear body, no crash
    with TestClient(create_app(Settings.from_env(home, proxied))) as c:
        state = c.app.state.tasqyn
        assert state.engine.url.port == proxy.port
        r = c.get("/api/v1/basins")
        assert r.status_code == 503 and r.json()["detail"].startswith("the database is unavailable")
        assert c.get("/api/v1/stations/CH2232/forecast").status_code == 503
        assert not state.db_ready and state.init_error
        proxy.start()
        # the schema check is retried at most every 2 s: within 2 s of a failed attempt the answer is still 503,
        # without even connecting
        state.last_init_attempt = time.monotonic()
        r = c.get("/api/v1/basins")
        assert r.status_code == 503 and r.json()["detail"].startswith("the database is unavailable")
        assert proxy.accepted == 0
        # 2 s after the last attempt (the back-off clock moved on instead of sleeping) it is retried and succeeds
        state.last_init_attempt -= 2.0
        r = c.get("/api/v1/basins")
        assert r.status_code == 200 and r.json()[0]["issue_date"] == dates["latest"]
        assert state.db_ready and state.init_error is None and proxy.accepted > 0
        # the database goes away while serving: 503, then it recovers by itself (pool_pre_ping)
        proxy.stop()
        r = c.get("/api/v1/health")
        assert r.status_code == 503 and "database is unavailable" in r.json()["detail"]
        proxy.start()
        r = c.get("/api/v1/health")
        assert r.status_code == 200 and r.json()["database"] == "ok"
        assert c.get("/api/v1/stations/PROTVA_SZ/forecast").status_code == 200
    proxy.stop()
    # the outage was the proxied app's only: the app connected directly still answers from the database
    r = client.get("/api/v1/health")
    assert r.status_code == 200 and r.json()["database"] == "ok" and r.json()["latest_issue_date"] == dates["latest"]


def test_reviewers_see_drafts_and_basin_limits(api) -> None:
    from records.accounts import create_api_key

    client, _, dates = api
    factory = client.app.state.tasqyn.session_factory
    with session_scope(factory) as s:
        hydro, _ = create_api_key(s, "hydro-test", "hydrologist")
        akimat, _ = create_api_key(s, "akimat-test", "akimat", basins=["CH2232"])
    r = client.get(f"/api/v1/basins?issue_date={dates['draft']}", headers={"Authorization": f"Bearer {hydro}"})
    assert r.status_code == 200 and {b["review_status"] for b in r.json()} == {"draft"}
    assert max(b["level"] for b in r.json() if b["basin_id"] == "CH2232") >= 2  # the draft floods the Allenbach
    assert client.get(f"/api/v1/basins?issue_date={dates['draft']}").status_code == 404
    # an akimat key limited to one basin sees that basin only
    r = client.get("/api/v1/basins", headers={"X-API-Key": akimat})
    assert [b["basin_id"] for b in r.json()] == ["CH2232"]
    assert client.get("/api/v1/basins/PROTVA_SZ", headers={"X-API-Key": akimat}).status_code == 403
    assert client.get("/api/v1/stations/PROTVA_SZ/forecast", headers={"X-API-Key": akimat}).status_code == 403
    assert client.get("/api/v1/basins", headers={"X-API-Key": "tq_bad"}).status_code == 401
    # and the anonymous answer is not polluted by the limited one
    assert len(client.get("/api/v1/basins").json()) == 3


def test_cache_follows_publications(tmp_path: Path, risk_store) -> None:  # noqa: F811
    from forecasting.home import Home

    home, store, thresholds = risk_store
    h = Home(tmp_path / "home").ensure()
    shutil.copy(home.observations, h.observations)
    url = f"sqlite:///{h.database}"
    dates = _publish(h, store, thresholds, url)
    app = create_app(Settings.from_env(h, url, cache_revalidate_s=60))
    with TestClient(app) as c:
        first = c.get("/api/v1/basins")
        assert first.headers["x-cache"] == "miss" and c.get("/api/v1/basins").headers["x-cache"] == "hit"
        # another process publishes the draft: within the revalidation delay the cache still answers
        e = make_engine(url)
        with session_scope(make_session_factory(e)) as s:
            from records.db import ForecastRun

            run = s.query(ForecastRun).filter(ForecastRun.run_id == "run2").one()
            run.published_at = dt.datetime.now(dt.UTC)
            run.review_status = "approved"
        e.dispose()
        assert c.get("/api/v1/basins").json()[0]["issue_date"] == dates["latest"]
        # a write through the application (any POST) empties the cache at once
        c.post("/api/v1/basins")
        r = c.get("/api/v1/basins")
        assert r.headers["x-cache"] == "miss" and r.json()[0]["issue_date"] == dates["draft"]
        assert r.json()[0]["review_status"] == "approved"


def test_concurrent_cold_requests(api) -> None:
    """Many first requests at once (empty caches) load each NetCDF file once, without crashing HDF5."""
    from concurrent.futures import ThreadPoolExecutor

    client, home, dates = api
    app = create_app(Settings.from_env(home, client.app.state.settings.database_url, cache_revalidate_s=0))
    paths = [f"/api/v1/stations/{s}/forecast?issue_date={dates[d]}" for s in STATIONS for d in ("older", "latest")] + [
        f"/api/v1/stations/{s}/observations" for s in STATIONS
    ]
    paths = paths * 6
    with TestClient(app) as c, ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(lambda p: c.get(p).status_code, paths))
    assert codes == [200] * len(paths)
