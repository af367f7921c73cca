"""The service database on SQLite and PostgreSQL: migrations, runs, publication, threshold versions."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Engine

from forecasting.risk import add_risk
from forecasting.thresholds import station_thresholds
from records.accounts import ANONYMOUS
from records.db import (
    BasinLevel,
    ForecastRun,
    ReviewAction,
    StationLevel,
    init_db,
    make_engine,
    make_session_factory,
    session_scope,
)
from records.migrations import current_revision
from records.publication import (
    fail_run,
    latest_threshold_version,
    load_thresholds,
    publish_forecast,
    record_run,
    save_thresholds,
)
from records.published import visible_run
from tests.synthetic import synthetic_forecast
from tests.test_thresholds import make_subset

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STATIONS = ["CH2232", "CH2185", "PROTVA_SZ"]


def pg_schema_url(schema: str) -> str:
    """A URL whose connections use their own schema (so parallel test runs do not clash)."""
    return f"{PG_SERVER}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    """A fresh schema on the PostgreSQL test server, dropped at the end of the session."""
    admin = make_engine(PG_SERVER)
    try:
        with admin.connect():
            pass
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable ({type(exc).__name__}); .ci/run starts it")
    schema = f"tasqyn_test_{uuid.uuid4().hex[:10]}"
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    yield schema
    with admin.begin() as c:
        c.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


def new_pg_url(pg_schema: str) -> str:
    """A further fresh schema next to the session's one (dropped with the session's by name prefix)."""
    schema = f"{pg_schema}_{uuid.uuid4().hex[:6]}"
    admin = make_engine(PG_SERVER)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    _EXTRA_SCHEMAS.append(schema)
    return pg_schema_url(schema)


_EXTRA_SCHEMAS: list[str] = []


@pytest.fixture(scope="session", autouse=True)
def _drop_extra_schemas() -> Iterator[None]:
    yield
    if not _EXTRA_SCHEMAS:
        return
    admin = make_engine(PG_SERVER)
    try:
        with admin.begin() as c:
            for s in _EXTRA_SCHEMAS:
                c.execute(text(f"DROP SCHEMA IF EXISTS {s} CASCADE"))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tasqyn.db'}"
    return new_pg_url(request.getfixturevalue("pg_schema"))


@pytest.fixture(scope="session")
def risk_store(real_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """A home with three real stations ingested, their thresholds, and a forecast with risk for two dates."""
    from flows.ingest import run_ingest
    from forecasting.home import Home
    from forecasting.storage import open_store

    tmp = tmp_path_factory.mktemp("riskstore")
    home = Home(tmp / "home").ensure()
    run_ingest(make_subset(real_data, tmp / "src", STATIONS), "station-csv", home)
    store = open_store(home.observations)
    thresholds, notes = station_thresholds(store)
    return home, store, thresholds


def make_forecast(store: xr.Dataset, thresholds, issue: str | None = None, flood: str | None = "CH2185"):
    """A synthetic forecast with risk; `flood` gets a median rising to 1.5 x its danger threshold by lead 7.
    The issue date defaults to the day after the newest observation of any station (2021-01-01): the Protva's
    record ends in 2005, so the Protva is stale there (no level, state `stale`)."""
    base = synthetic_forecast(store, issue)
    growth = {}
    if flood is not None:
        danger = float(thresholds.set_index(["station_id", "kind"]).loc[(flood, "danger"), "value"])
        last = float(base["last_obs_m3s"].sel(station=flood))
        growth[flood] = (1.5 * danger / last) ** (1 / 7)
    fc = synthetic_forecast(store, issue, growth=growth)
    return add_risk(fc, thresholds, 0.3, threshold_version=1)


def engine_for(url: str) -> Engine:
    e = make_engine(url)
    init_db(e)
    return e


def test_migrations_create_all_tables(db_url: str) -> None:
    e = make_engine(db_url)
    init_db(e)
    init_db(e)  # idempotent
    assert current_revision(e) == "0004"
    names = set(inspect(e).get_table_names())
    assert {
        "forecast_runs",
        "station_levels",
        "basin_levels",
        "thresholds",
        "review_actions",
        "users",
        "api_keys",
        "subscriptions",
        "notification_states",
        "notification_messages",
    } <= names
    e.dispose()


def test_publication_rerun_and_failure(db_url: str, risk_store) -> None:
    home, store, thresholds = risk_store
    e = engine_for(db_url)
    factory = make_session_factory(e)
    fc = make_forecast(store, thresholds)
    issue = dt.date.fromisoformat(fc.attrs["issue_date"])
    with session_scope(factory) as s:
        assert visible_run(s, ANONYMOUS) is None
        record_run(s, "r1", issue)
        run = publish_forecast(s, fc, "r1", review_status="unreviewed", publish=True, forecast_path="f1.nc")
        assert run.status == "success" and run.published_at is not None
        assert (run.n_stations, run.n_forecast, run.n_failed) == (3, 3, 0)
    with session_scope(factory) as s:
        first = visible_run(s, ANONYMOUS)
        assert first.run_id == "r1" and first.review_status == "unreviewed"
        levels = {r.station_id: r for r in s.scalars(select(StationLevel).where(StationLevel.run_id == first.id))}
        assert levels["CH2185"].level >= 2 and levels["CH2185"].first_date is not None
        assert levels["CH2232"].level == 0 and levels["CH2232"].state == "ok"
        # the Protva's newest observation is 15 years before the issue date: no level, never "normal"
        prot = levels["PROTVA_SZ"]
        assert prot.level is None and prot.state == "stale" and prot.data_age_days > 5000
        assert "no current data" in prot.message and prot.model_level is not None
        basins = {b.basin_id: b for b in s.scalars(select(BasinLevel).where(BasinLevel.run_id == first.id))}
        assert basins["CH2185"].level == levels["CH2185"].level and basins["CH2232"].n_stations == 1
        assert basins["PROTVA_SZ"].level is None and basins["PROTVA_SZ"].n_no_level == 1
        assert first.n_stale == 1 and first.state_counts == {"ok": 2, "stale": 1}
        assert first.run_config["alert_probability"] == 0.3
        assert s.scalars(select(ReviewAction)).one().action == "auto_publish"
        # writing the same run again is idempotent: the same rows, not twice as many
        publish_forecast(s, fc, "r1", review_status="unreviewed", publish=True, forecast_path="f1.nc")
    with session_scope(factory) as s:
        assert len(s.scalars(select(StationLevel)).all()) == 3
    # a failed rerun of the same date leaves the publication in place
    with session_scope(factory) as s:
        record_run(s, "r2", issue)
        fail_run(s, "r2", issue, "model crashed")
    with session_scope(factory) as s:
        assert visible_run(s, ANONYMOUS).run_id == "r1"
        assert s.scalars(select(ForecastRun).where(ForecastRun.run_id == "r2")).one().status == "failed"
    # a successful draft rerun is not public until published; then it replaces r1 for that date
    calm = make_forecast(store, thresholds, flood=None)
    with session_scope(factory) as s:
        publish_forecast(s, calm, "r3", review_status="draft", publish=False)
    with session_scope(factory) as s:
        assert visible_run(s, ANONYMOUS).run_id == "r1"
        run3 = s.scalars(select(ForecastRun).where(ForecastRun.run_id == "r3")).one()
        run3.published_at = dt.datetime.now(dt.UTC)
        run3.review_status = "approved"
    with session_scope(factory) as s:
        assert visible_run(s, ANONYMOUS).run_id == "r3"
        assert visible_run(s, ANONYMOUS, issue).run_id == "r3"
        assert visible_run(s, ANONYMOUS, issue - dt.timedelta(days=1)) is None
    e.dispose()


def test_failed_station_is_reported(db_url: str, risk_store) -> None:
    home, store, thresholds = risk_store
    fc = make_forecast(store, thresholds)
    fc["discharge_m3s"].loc[{"station": "CH2185"}] = np.nan
    fc["status"].loc[{"station": "CH2185"}] = "failed"
    fc["message"].loc[{"station": "CH2185"}] = "no model"
    fc = add_risk(fc.drop_vars([v for v in fc.data_vars if v.startswith(("p_exceed", "level"))]), thresholds)
    e = engine_for(db_url)
    with session_scope(make_session_factory(e)) as s:
        run = publish_forecast(s, fc, "rf", publish=True)
        assert (run.n_forecast, run.n_failed) == (2, 1)
        row = s.scalars(select(StationLevel).where(StationLevel.station_id == "CH2185")).one()
        assert row.status == "failed" and row.state == "failed" and row.level is None and "no model" in row.message
    e.dispose()


def test_threshold_versions(db_url: str, risk_store) -> None:
    _, _, thresholds = risk_store
    e = engine_for(db_url)
    factory = make_session_factory(e)
    with session_scope(factory) as s:
        assert latest_threshold_version(s) is None
        assert save_thresholds(s, thresholds) == 1
        assert save_thresholds(s, thresholds.assign(source="other wording")) == 1  # no value changed
    t2 = thresholds.copy()
    t2.loc[0, "value"] = float(t2.loc[0, "value"]) * 1.1
    with session_scope(factory) as s:
        assert save_thresholds(s, t2) == 2
    with session_scope(factory) as s:
        v1, v2 = load_thresholds(s, 1), load_thresholds(s)
        assert len(v1) == len(v2) == len(thresholds)
        assert v1.loc[0, "value"] == pytest.approx(float(thresholds.loc[0, "value"]))
        assert v2.loc[0, "value"] == pytest.approx(float(t2.loc[0, "value"]))
        assert (v2["source"].str.startswith(("derived", "official"))).all()
    e.dispose()


def test_basin_of_stations_from_the_store(db_url: str, risk_store) -> None:
    from forecasting.store import station_table

    home, store, thresholds = risk_store
    fc = make_forecast(store, thresholds)  # the Plessur floods, the Protva is stale
    table = station_table(store)
    table.loc[["CH2185", "PROTVA_SZ"], "basin"] = "oka"
    e = engine_for(db_url)
    with session_scope(make_session_factory(e)) as s:
        run = publish_forecast(s, fc, "rb", publish=True, stations=table)
        basins = {b.basin_id: b for b in s.scalars(select(BasinLevel).where(BasinLevel.run_id == run.id))}
        assert set(basins) == {"oka", "CH2232"} and basins["oka"].n_stations == 2
        ples = s.scalars(select(StationLevel).where(StationLevel.station_id == "CH2185")).one()
        assert ples.basin_id == "oka" and basins["oka"].level == ples.level >= 2
        assert basins["oka"].first_date == ples.first_date and basins["oka"].n_no_level == 1  # the stale Protva
    e.dispose()
