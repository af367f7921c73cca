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


KZ_POSTS = Path(__file__).resolve().parents[1] / "forecasting" / "sources" / "kazhydromet_posts.csv"
# Russian names as Kazhydromet's portal gives them (Cyrillic) and the rivers of some posts
KZ_NAMES_RU = {
    "11001": "Боран",
    "11068": "Калжыр",
    "11124": "Берель",
    "11207": "Шемонаиха",
    "11395": "Приишимское",
    "11424": "Калкутан",
    "11433": "Атбасар",
    "11461": "Соколовка",
    "13061": "Бесоба",
    "13148": "Киевка",
}
KZ_RIVERS = {
    "11001": "Қара Ертіс",
    "11068": "Қалжыр",
    "11124": "Бұқтырма",
    "11207": "Үбі",
    "11395": "Есіл",
    "11424": "Қалқұтан",
    "11433": "Есіл",
    "11461": "Есіл",
    "13061": "Нұра",
    "13148": "Нұра",
}
KZ_BASIN = {"Ертіс": "ERTIS", "Есіл": "ESIL", "Нұра-Сарысу": "NURA"}


def kz_posts_store(
    home: Home,
    codes: list[str] | None = None,
    start: str = "2016-01-01",
    end: str = "2024-04-30",
    seed: int = 7,
    abroad: bool = True,
) -> Home:
    """A registry-like store of Kazhydromet posts (forecasting/sources/kazhydromet_posts.csv: real post codes and
    coordinates; Cyrillic names as the portal gives them; three forecasting basins) with SYNTHETIC daily discharge
    (m3/s): a winter base flow and a snowmelt flood in April-May whose size changes from year to year, noise, per
    post scale. Atbasar (11433) also has water levels (cm) from a rating curve and official marks in m3/s and cm;
    Shemonaikha's (11207) record stops on 2023-10-01.
    With `abroad`, one post outside Kazakhstan (Chur, CH) is added. For dashboard tests; NOT real river data."""
    import xarray as xr

    from forecasting.storage import write_netcdf_atomic

    posts = pd.read_csv(KZ_POSTS, dtype={"post_code": str})
    if codes is not None:
        posts = posts[posts["post_code"].isin(codes)]
    rng = np.random.default_rng(seed)
    time_ = pd.date_range(start, end, freq="D")
    doy = time_.dayofyear.to_numpy()
    years = time_.year.to_numpy()
    ids, names, rivers, basins, lats, lons = [], [], [], [], [], []
    for r in posts.itertuples(index=False):
        ids.append(r.post_code)
        names.append(KZ_NAMES_RU.get(r.post_code, r.name))
        rivers.append(KZ_RIVERS.get(r.post_code, ""))
        basins.append(KZ_BASIN.get(r.basin, r.basin))
        lats.append(r.lat)
        lons.append(r.lon)
    if abroad:
        ids.append("CH2185")
        names.append("Plessur - Chur")
        rivers.append("Plessur")
        basins.append("CH2185")
        lats.append(46.85969)
        lons.append(9.51053)
    n = len(ids)
    q = np.empty((n, len(time_)))
    for i in range(n):
        base = rng.uniform(3.0, 40.0)
        peak_of_year = {y: base * rng.uniform(6.0, 30.0) for y in np.unique(years)}
        centre = rng.uniform(105, 125)  # mid-April
        flood = np.array([peak_of_year[y] for y in years]) * np.exp(-0.5 * ((doy - centre) / 12.0) ** 2)
        q[i] = (base + flood) * rng.lognormal(0.0, 0.06, len(time_))
    if "11207" in ids:  # Shemonaikha's record stops in October 2023: no current data (grey, with its reason)
        q[ids.index("11207"), time_ > pd.Timestamp("2023-10-01")] = np.nan
    h = np.full_like(q, np.nan)
    marks = {k: np.full(n, np.nan) for k in ("q_warning_m3s", "q_danger_m3s", "q_extreme_m3s", "level_warning_cm",
                                             "level_danger_cm", "level_extreme_cm")}  # fmt: skip
    if "11433" in ids:
        i = ids.index("11433")
        h[i] = 120.0 + 95.0 * np.log1p(q[i] / 10.0)  # a rating curve: stage above the gauge zero, cm
        top = np.nanmax(q[i])
        for kind, f in (("warning", 0.35), ("danger", 0.6), ("extreme", 0.95)):
            marks[f"q_{kind}_m3s"][i] = round(f * top, 1)
            marks[f"level_{kind}_cm"][i] = round(120.0 + 95.0 * np.log1p(f * top / 10.0))
    ds = xr.Dataset(
        {
            "discharge_m3s": (("station", "time"), q, {"units": "m3 s-1"}),
            "discharge_m3s_qc": (("station", "time"), np.zeros_like(q, dtype="int16")),
            "water_level_cm": (("station", "time"), h, {"units": "cm"}),
            "water_level_cm_qc": (("station", "time"), np.zeros_like(q, dtype="int16")),
        },
        coords={
            "station": np.array(ids, dtype=object),
            "time": time_,
            "name": ("station", np.array(names, dtype=object)),
            "river": ("station", np.array(rivers, dtype=object)),
            "country": ("station", np.array(["KZ"] * (n - int(abroad)) + ["CH"] * int(abroad), dtype=object)),
            "basin": ("station", np.array(basins, dtype=object)),
            "region": ("station", np.array([""] * n, dtype=object)),
            "lat": ("station", np.array(lats, dtype=float)),
            "lon": ("station", np.array(lons, dtype=float)),
            "area_km2": ("station", rng.uniform(500, 30000, n)),
            **{k: ("station", v) for k, v in marks.items()},
        },
    )
    home = home.ensure()
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
