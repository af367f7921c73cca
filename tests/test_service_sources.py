"""One source each for what the API and the dashboard both show: station metadata (forecasting.store.station_table
through records.published.station_infos), basin polygons (forecasting.basins.read_basins through
ServiceState.basin_geometries) and the backtest skill (ServiceState.backtest_skill, the newest report with the
station)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from fastapi.testclient import TestClient

from forecasting.basins import BasinFileError, read_basins
from forecasting.home import Home
from forecasting.store import station_table
from records.published import station_infos, usable_series
from service.cache import ResponseCache
from service.settings import Settings
from service.state import ServiceState, _load_store, backtest_reports
from service.svg.geo_map import rings
from tests import dashboard_support as ds

SQUARE = [[[10.0, 50.0], [11.0, 50.0], [11.0, 51.0], [10.0, 51.0], [10.0, 50.0]]]


def _store() -> xr.Dataset:
    """A store as netCDF may give it back: an empty string read as NaN, a basin left empty, a missing position."""
    return xr.Dataset(
        coords={
            "station": ["A", "B"],
            "name": ("station", np.array(["Alpha", np.nan], dtype=object)),
            "river": ("station", np.array(["Esil", ""], dtype=object)),
            "basin": ("station", np.array(["ESIL", np.nan], dtype=object)),
            "region": ("station", np.array(["Akmola", ""], dtype=object)),
            "lat": ("station", [51.5, np.nan]),
            "lon": ("station", [68.3, np.nan]),
            "area_km2": ("station", [np.nan, 120.0]),
        }
    )


def test_station_metadata_has_one_source() -> None:
    store = _store()
    table = station_table(store)
    assert table.loc["B", "name"] == "" and table.loc["B", "basin"] == "B" and table.loc["A", "basin"] == "ESIL"
    meta = station_infos(store)
    assert meta["A"].lat == 51.5 and meta["A"].area_km2 is None and meta["B"].lat is None
    assert meta["B"].basin_id == "B" and meta["B"].name == "B" and meta["B"].area_km2 == 120.0
    assert meta["B"].name == "B" and meta["B"].basin_id == "B" and not meta["B"].has_coords
    assert (meta["A"].name, meta["A"].river, meta["A"].region, meta["A"].lat) == ("Alpha", "Esil", "Akmola", 51.5)
    assert station_infos(None) == {}


def _feature(bid: str) -> dict:
    return {"type": "Feature", "properties": {"basin_id": bid}, "geometry": {"type": "Polygon", "coordinates": SQUARE}}


def test_basin_polygons_skip_a_bad_file_and_follow_changes(tmp_path: Path) -> None:
    folder = tmp_path / "basins"
    folder.mkdir()
    (folder / "a.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [_feature("A")]}))
    (folder / "broken.geojson").write_text("{not json")
    with pytest.raises(BasinFileError, match="broken.geojson"):
        read_basins(folder)
    errors: list[str] = []
    assert set(read_basins(folder, errors)) == {"A"} and "broken.geojson" in errors[0]
    (folder / "broken.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [_feature("X"), 3]}))
    with pytest.raises(BasinFileError, match="broken.geojson: feature 2 is not a GeoJSON object"):
        read_basins(folder)
    (folder / "broken.geojson").unlink()

    def geometries(path: Path | None) -> dict:
        return _state(Home(tmp_path / "h"), basins_path=path).basin_geometries(rings)

    state = _state(Home(tmp_path / "h"), basins_path=folder)
    polys = state.basin_geometries(rings)
    assert polys == {"A": [[[tuple(p) for p in SQUARE[0]]]]}
    assert state.basin_geometries(rings) is polys  # read once while nothing changes
    (folder / "b.geojson").write_text(json.dumps(_feature("B")))
    assert set(state.basin_geometries(rings)) == {"A", "B"}
    assert set(geometries(folder / "b.geojson")) == {"B"}  # a single file works too
    assert geometries(None) == {} and geometries(tmp_path / "none") == {}


def _state(home: Home, **settings: object) -> ServiceState:
    return ServiceState(Settings.from_env(home, "sqlite://", **settings), None, None, ResponseCache())  # type: ignore[arg-type]


def _report(path: Path, stations: dict, mtime: float, test_years: int = 5) -> None:
    path.write_text(json.dumps({"test_years": test_years, "stations": stations}))
    os.utime(path, (mtime, mtime))


def test_backtest_skill_comes_from_the_newest_report_with_the_station(home: Home) -> None:
    state = _state(home)
    assert state.backtest_skill("A") is None and backtest_reports(home.backtest_dir) == []
    home.backtest_dir.mkdir(parents=True, exist_ok=True)
    _report(home.backtest_dir / "report.json", {"A": {"leads": {"1": {"nse": 0.5}}}, "B": {"n_issues": 3}}, 1e9)
    _report(home.backtest_dir / "newer.json", {"A": {"leads": {"1": {"nse": 0.7}}}}, 2e9, test_years=3)
    (home.backtest_dir / "notes.json").write_text("[1, 2]")  # not a report: passed over
    a = state.backtest_skill("A")
    assert a == {"report": "backtest/newer.json", "test_years": 3, "leads": {"1": {"nse": 0.7}}}
    assert state.backtest_skill("B") == {"report": "backtest/report.json", "test_years": 5, "n_issues": 3}
    assert state.backtest_skill("C") is None
    assert [Path(p).name for p, _ in backtest_reports(home.backtest_dir)] == ["newer.json", "notes.json", "report.json"]


@pytest.mark.realdata
def test_api_and_station_page_show_the_same_skill(real_data: Path, tmp_path: Path) -> None:
    from service.app import create_app

    h = ds.copy_home(ds.prepared_store(real_data, ["CH2141"]), tmp_path / "home")
    settings = ds.settings_for(h, cache_revalidate_s=0.0)
    ds.publish_synthetic(h, settings, model_name="lightgbm")  # the skill shown is that of the model that made it
    h.backtest_dir.mkdir(parents=True, exist_ok=True)

    def entry(skill: float) -> dict:
        lead = {"nse": 0.9, "skill_vs_persistence": skill, "coverage_90": 0.88, "csi_warning": None}
        return {"test_start": "2016-01-01", "test_end": "2020-12-31", "leads": {"1": lead}}

    _report(h.backtest_dir / "report.json", {"CH2141": entry(0.11)}, 1e9)
    with TestClient(create_app(settings)) as c:
        assert c.get("/api/v1/stations/CH2141").json()["skill"]["report"] == "backtest/report.json"
        newer = entry(0.77)
        _report(h.backtest_dir / "spring.json", {"CH2141": newer}, 2e9)
        skill = c.get("/api/v1/stations/CH2141").json()["skill"]  # a new report: the cached answer is renewed
        assert skill["report"] == "backtest/spring.json" and skill["leads"]["1"]["skill_vs_persistence"] == 0.77
        page = c.get("/stations/CH2141?lang=en").text
        table = page[page.index('id="skill-table"') :]
        assert "0.77" in table and "0.11" not in table and "spring.json" in page
        # a report that leaves metrics out (the contract says null, but older reports exist): shown as dashes
        _report(h.backtest_dir / "old.json", {"CH2141": {"leads": {"1": {"nse": 0.5}}}}, 3e9)
        page = c.get("/stations/CH2141?lang=en")
        assert page.status_code == 200
        row = page.text[page.text.index('id="skill-table"') :].split('<tr data-lead="1">')[1].split("</tr>")[0]
        assert row.count("–") == 5 and "0.50" in row  # skill, S/sigma, accuracy, coverage, CSI: not in the report
    shutil.rmtree(h.root, ignore_errors=True)


def test_observations_served_from_the_cached_store_leave_out_flagged_levels(tmp_path: Path) -> None:
    """The dashboard's level chart reads the API's cached store: its QC flags must come along with the levels."""
    import datetime as dt

    from forecasting.flags import SPIKE
    from forecasting.storage import write_netcdf_atomic

    days = np.array(["2024-04-01", "2024-04-02", "2024-04-03"], dtype="datetime64[ns]")
    store = xr.Dataset(
        {
            "water_level_cm": (("station", "time"), [[310.0, 999.0, 320.0]]),
            "water_level_cm_qc": (("station", "time"), np.array([[0, SPIKE, 0]], dtype="int32")),
            "discharge_m3s": (("station", "time"), [[5.0, 6.0, np.nan]]),
            "discharge_m3s_qc": (("station", "time"), np.zeros((1, 3), dtype="int32")),
        },
        coords={"station": ["A"], "time": days},
    )
    path = write_netcdf_atomic(store, tmp_path / "observations.nc")
    cached = _load_store(path).data
    levels = usable_series(cached, "A", dt.date(2024, 4, 1), dt.date(2024, 4, 3), "water_level_cm")
    assert levels == [(dt.date(2024, 4, 1), 310.0), (dt.date(2024, 4, 3), 320.0)]  # the spike of 999 cm left out
    assert usable_series(cached, "A", dt.date(2024, 4, 1), dt.date(2024, 4, 3)) == [
        (dt.date(2024, 4, 1), 5.0),
        (dt.date(2024, 4, 2), 6.0),
    ]
