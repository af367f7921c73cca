"""Helpers for the dashboard, review, access and browser tests: a home with real stations ingested and a synthetic
forecast (data/FORMATS.md layout, risk added) published through records.publication, users and keys, a live server.

The forecast is synthetic (the last observation grown by a per-station factor, log-normal spread): it exercises
the publication, review and display paths, not the models. The lead may swap in real forecasts.
"""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.home import Home

# Growth factors of the synthetic median per lead: chosen so that the real stations show every level.
GROWTH = {"CH2141": 1.25, "CH2185": 1.294, "CH2268": 1.223, "PROTVA_SZ": 1.6, "CH2474": 0.97}
ISSUE_DATE = dt.date(2020, 6, 1)


def ingest_real(home: Home, real_data: Path, stations: list[str] | None = None) -> Home:
    """Ingest the real station-CSV folder (or a subset of its stations) into `home`; copy its basin polygons."""
    from flows.ingest import run_ingest

    home = home.ensure()
    src = real_data
    if stations is not None:
        src = home.root.parent / f"{home.root.name}-src"
        src.mkdir(parents=True, exist_ok=True)
        table = pd.read_csv(real_data / "stations.csv", dtype=str)
        table[table["station_id"].isin(stations)].to_csv(src / "stations.csv", index=False)
        for sid in stations:
            shutil.copy(real_data / f"{sid}.csv", src / f"{sid}.csv")
    report = run_ingest(str(src), "station-csv", home)
    assert report.ok, report.summary()
    if (real_data / "basins").is_dir():
        (home.root / "basins").mkdir(exist_ok=True)
        for p in (real_data / "basins").glob("*.geojson"):
            shutil.copy(p, home.root / "basins" / p.name)
    return home


_PREPARED: dict[tuple[str, ...] | None, Home] = {}


def prepared_store(real_data: Path, stations: list[str] | None = None) -> Home:
    """A home with the real stations (or a subset) ingested, made once per test process and shared (read-only:
    tests copy it with copy_home before writing)."""
    key = tuple(sorted(stations)) if stations is not None else None
    if key not in _PREPARED:
        root = Path(tempfile.mkdtemp(prefix="tasqyn-dash-"))
        atexit.register(shutil.rmtree, root, True)
        _PREPARED[key] = ingest_real(Home(root / "home"), real_data, stations)
    return _PREPARED[key]


def copy_home(src: Home, dst_root: Path) -> Home:
    """A copy of a prepared home's store and basins (without database or forecasts)."""
    dst = Home(dst_root).ensure()
    shutil.copytree(src.store_dir, dst.store_dir, dirs_exist_ok=True)
    if (src.root / "basins").is_dir():
        shutil.copytree(src.root / "basins", dst.root / "basins", dirs_exist_ok=True)
    return dst


def settings_for(home: Home, **kw: object):
    from service.settings import Settings

    return Settings.from_env(home, f"sqlite:///{home.database}", **kw)


def session_factory(settings):
    from records.db import open_database

    return open_database(settings.database_url)[1]


def publish_synthetic(
    home: Home,
    settings,
    issue_date: dt.date | None = ISSUE_DATE,
    growth: Mapping[str, float] | None = None,
    run_id: str | None = None,
    publish: bool = True,
    review_status: str = "unreviewed",
    model_name: str = "persistence",
    usable: bool = False,
) -> str:
    """Build a synthetic forecast from `home`'s store, add thresholds and risk, write it in the home's forecast
    folder and record it in the database (published as `review_status`, or a draft). Returns the run id."""
    from forecasting.risk import add_risk
    from forecasting.storage import open_store, write_netcdf_atomic
    from forecasting.store import station_table
    from forecasting.thresholds import station_thresholds
    from records.publication import publish_forecast
    from tests.synthetic import synthetic_forecast

    store = open_store(home.observations)
    assert store is not None, "nothing ingested"
    if usable:  # as the daily flow gives the store to the models: QC-flagged values (unconfirmed ones too) masked
        from forecasting import qc

        store = qc.usable(store)
    run_id = run_id or f"test-{issue_date}-{int(time.time() * 1000) % 10**8}"
    fc = synthetic_forecast(
        store, issue_date, growth=GROWTH if growth is None else growth, run_id=run_id, model_name=model_name
    )
    thresholds, _ = station_thresholds(store)
    fc = add_risk(fc, thresholds)
    day = fc.attrs["issue_date"]
    path = home.forecasts_dir / day / f"forecast-{run_id}.nc"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_netcdf_atomic(fc, path)
    table = station_table(store)
    names = {b: b for b in table["basin"]}
    factory = session_factory(settings)
    with factory() as session:
        publish_forecast(
            session,
            fc,
            run_id,
            review_status=review_status if publish else "draft",
            publish=publish,
            forecast_path=str(path),
            basin_of=dict(zip(table.index, table["basin"], strict=True)),
            basin_names=names,
        )
        session.commit()
    return run_id


def publish_dataset(home: Home, settings, fc, run_id: str) -> None:
    """Write a forecast dataset (risk added) into the home's forecast folder and publish it, unreviewed."""
    from forecasting.storage import write_netcdf_atomic
    from records.publication import publish_forecast

    path = home.forecasts_dir / str(fc.attrs["issue_date"]) / f"forecast-{run_id}.nc"
    write_netcdf_atomic(fc, path)
    with session_factory(settings)() as session:
        publish_forecast(session, fc, run_id, review_status="unreviewed", publish=True, forecast_path=str(path))
        session.commit()


def synthetic_registry(home: Home, n: int, seed: int = 1) -> Home:
    """A store of `n` synthetic stations spread over Kazakhstan (90 days of discharge each), for load tests."""
    import xarray as xr

    from forecasting.storage import write_netcdf_atomic

    rng = np.random.default_rng(seed)
    home = home.ensure()
    time_ = pd.date_range("2024-01-01", "2024-03-31", freq="D")
    ids = [f"SYN{i:04d}" for i in range(n)]
    base = rng.lognormal(3.0, 1.0, n)
    q = (
        base[:, None]
        * (1 + 0.3 * np.sin(np.arange(len(time_)) / 9.0)[None, :])
        * rng.lognormal(0, 0.05, (n, len(time_)))
    )
    ds = xr.Dataset(
        {
            "discharge_m3s": (("station", "time"), q, {"units": "m3 s-1"}),
            "discharge_m3s_qc": (("station", "time"), np.zeros_like(q, dtype="int16")),
        },
        coords={
            "station": np.array(ids, dtype=object),
            "time": time_,
            "name": ("station", np.array([f"Synthetic {i}" for i in range(n)], dtype=object)),
            "river": ("station", np.array([f"River {i % 40}" for i in range(n)], dtype=object)),
            "basin": ("station", np.array([f"B{i % 25:02d}" for i in range(n)], dtype=object)),
            "region": ("station", np.array([f"Region {i % 25 % 5}" for i in range(n)], dtype=object)),
            "lat": ("station", rng.uniform(41.0, 55.0, n)),
            "lon": ("station", rng.uniform(48.0, 86.0, n)),
            "area_km2": ("station", rng.uniform(100, 20000, n)),
            "q_warning_m3s": ("station", base * 1.2),
            "q_danger_m3s": ("station", base * 1.6),
            "q_extreme_m3s": ("station", base * 2.2),
        },
    )
    write_netcdf_atomic(ds, home.observations)
    return home


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving `create_app(settings)` in a thread on 127.0.0.1:<free port>."""

    def __init__(self, settings) -> None:
        import uvicorn

        from service.app import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
