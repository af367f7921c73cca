"""Gridded CF fields averaged over basin polygons: exact weights on small CF files with known fields."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecasting.basins import read_basins
from forecasting.ingest import ingest
from forecasting.sources import get_adapter
from forecasting.sources.gridded import EARTH_RADIUS_KM, basin_means, basin_weights

pytestmark = pytest.mark.excerpt  # runs on tests/fixtures/real_excerpt where ../shared is absent

DAYS = pd.date_range("2024-02-01", periods=3, freq="D")


def write_geojson(path: Path, polygons: dict[str, list[tuple[float, float]]]) -> Path:
    feats = [
        {
            "type": "Feature",
            "properties": {"basin_id": bid, "name": f"basin {bid}"},
            "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
        }
        for bid, ring in polygons.items()
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    return path


def box(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]


def era5_like(lat: np.ndarray, lon: np.ndarray, fields: dict[str, tuple[np.ndarray, dict]]) -> xr.Dataset:
    """A CF dataset named like an ERA5-Land download (latitude/longitude/valid_time)."""
    ds = xr.Dataset(
        {name: (("valid_time", "latitude", "longitude"), data, attrs) for name, (data, attrs) in fields.items()},
        coords={
            "valid_time": ("valid_time", DAYS.values, {"standard_name": "time"}),
            "latitude": ("latitude", lat, {"units": "degrees_north", "standard_name": "latitude"}),
            "longitude": ("longitude", lon, {"units": "degrees_east", "standard_name": "longitude"}),
        },
        attrs={"Conventions": "CF-1.7"},
    )
    return ds


def band_area(lat0: float, lat1: float) -> float:
    return abs(np.sin(np.deg2rad(lat1)) - np.sin(np.deg2rad(lat0)))


def test_latitude_field_north_to_south_and_0_360_longitudes(tmp_path: Path) -> None:
    # 0.5 degree grid, latitudes north to south, longitudes 0..359.5 (wrapped); basin = 2x2 cells at 10-11E, 50-51N.
    lat = np.arange(60.0, 40.0, -0.5) - 0.25  # 59.75 .. 40.25, descending
    lon = np.arange(0.0, 360.0, 0.5) + 0.25
    field = np.broadcast_to(lat[None, :, None], (3, len(lat), len(lon))).copy()
    sd = np.full_like(field, 0.1)  # 0.1 m of water = 100 mm everywhere
    ds = era5_like(
        lat,
        lon,
        {
            "t2m": (field + 273.15, {"units": "K", "standard_name": "air_temperature"}),
            "sd": (sd, {"units": "m of water equivalent", "standard_name": "lwe_thickness_of_surface_snow_amount"}),
        },
    )
    ds.to_netcdf(tmp_path / "grid.nc")
    gj = write_geojson(tmp_path / "b.geojson", {"A": box(10.0, 50.0, 11.0, 51.0)})
    res = basin_means(tmp_path / "grid.nc", gj)
    assert not res.quarantine
    obs = res.observations
    t = obs[(obs["variable"] == "tmean_c")]["value"].to_numpy()
    # cells centred at 50.25 and 50.75, each 0.5 degree tall: weights proportional to the spherical band areas.
    w = np.array([band_area(50.0, 50.5), band_area(50.5, 51.0)])
    expected = float((w * np.array([50.25, 50.75])).sum() / w.sum())
    assert t == pytest.approx([expected] * 3, abs=1e-9)
    assert expected < 50.5  # the southern cell is larger on the sphere
    swe = obs[(obs["variable"] == "swe_mm")]["value"].to_numpy()
    assert swe == pytest.approx([100.0] * 3, abs=1e-9)
    assert list(obs["source_row"].unique()) == [1, 2, 3]
    assert res.stations.loc["A", "area_km2"] == pytest.approx(
        EARTH_RADIUS_KM**2 * np.deg2rad(1.0) * band_area(50.0, 51.0), rel=0.01
    )


def test_basin_smaller_than_one_cell_and_straddling(tmp_path: Path) -> None:
    lat = np.array([50.25, 50.75, 51.25])  # 0.5 degree cells, edges 50, 50.5, 51, 51.5
    lon = np.array([70.25, 70.75, 71.25])
    vals = np.arange(9, dtype=float).reshape(3, 3)  # value = 3 * i_lat + i_lon
    data = np.broadcast_to(vals, (3, 3, 3)).copy()
    ds = era5_like(lat, lon, {"tp": (data / 1000.0, {"units": "m"})})
    ds.to_netcdf(tmp_path / "g.nc")
    gj = write_geojson(
        tmp_path / "b.geojson",
        {
            "tiny": box(70.6, 50.6, 70.7, 50.7),  # inside the centre cell only
            "lonsplit": box(70.4, 51.1, 70.6, 51.2),  # half in cell (2,0), half in (2,1): same area
            "latsplit": box(71.1, 50.4, 71.2, 50.6),  # half in (0,2), half in (1,2)
        },
    )
    res = basin_means(tmp_path / "g.nc", gj)
    obs = res.observations.groupby("station_id")["value"].first()
    assert obs["tiny"] == pytest.approx(4.0, abs=1e-9)
    assert obs["lonsplit"] == pytest.approx((6.0 + 7.0) / 2, abs=1e-9)
    # Equal shares in degrees; the cells' spherical areas weigh them (the southern cell weighs a little more).
    a0, a1 = band_area(50.0, 50.5), band_area(50.5, 51.0)
    assert obs["latsplit"] == pytest.approx((a0 * 2.0 + a1 * 5.0) / (a0 + a1), abs=1e-9)


def test_missing_cells_are_left_out_per_time_step(tmp_path: Path) -> None:
    lat = np.array([50.25, 50.75])
    lon = np.array([70.25, 70.75])
    data = np.array([[[1.0, 2.0], [3.0, 4.0]]] * 3)
    data[1, 0, 0] = np.nan  # day 2: the south-west cell missing
    data[2, :, :] = np.nan  # day 3: nothing
    ds = era5_like(lat, lon, {"sd": (data / 1000.0, {"units": "m"})})
    ds.to_netcdf(tmp_path / "g.nc")
    gj = write_geojson(tmp_path / "b.geojson", {"B": box(70.0, 50.0, 71.0, 51.0)})
    res = basin_means(tmp_path / "g.nc", gj)
    v = res.observations.set_index("date")["value"]
    a0, a1 = band_area(50.0, 50.5), band_area(50.5, 51.0)
    assert v[DAYS[0]] == pytest.approx((a0 * 3.0 + a1 * 7.0) / (2 * a0 + 2 * a1), abs=1e-9)
    assert v[DAYS[1]] == pytest.approx((a0 * 2.0 + a1 * 7.0) / (a0 + 2 * a1), abs=1e-9)
    assert DAYS[2] not in v.index  # no valid cell: no value (not zero)


def test_bad_grids_and_polygons_give_messages_and_the_rest_proceeds(tmp_path: Path) -> None:
    lat = np.array([50.25, 50.75])
    lon = np.array([70.25, 70.75])
    one = np.ones((3, 2, 2))
    ds = era5_like(
        lat,
        lon,
        {
            "t2m": (one + 273.15, {}),  # no units
            "tp": (one / 1000.0, {"units": "m"}),
            "sd": (np.full((3, 2, 2), np.nan), {"units": "m"}),  # no snow data at all
            "sde": (one, {"units": "furlongs"}),
        },
    )
    ds.to_netcdf(tmp_path / "g.nc")
    gj = write_geojson(tmp_path / "b.geojson", {"in": box(70.1, 50.1, 70.9, 50.9), "far": box(10.0, 10.0, 11.0, 11.0)})
    res = basin_means(tmp_path / "g.nc", gj)
    reasons = {(q.field, q.reason.split(";")[0]) for q in res.quarantine}
    assert ("t2m", "variable 't2m' has no CF 'units' attribute") in reasons
    assert any(q.field == "sde" and "furlongs" in q.reason for q in res.quarantine)
    far = [q for q in res.quarantine if q.field == "far"]
    assert far and "outside the grid" in far[0].reason and far[0].file.endswith("b.geojson")
    assert any("'in' has no data for 'sd'" in m for m in res.messages)
    obs = res.observations
    assert set(obs["station_id"]) == {"in"}
    assert set(obs["variable"]) == {"precip_mm"}
    assert obs["value"].to_numpy() == pytest.approx([1.0] * 3)


def test_regionmask_and_exact_weights_agree_on_the_protva(real_data: Path) -> None:
    basin = read_basins(real_data / "basins" / "PROTVA_SZ.geojson")["PROTVA_SZ"]
    assert basin.area_km2 == pytest.approx(3886, rel=0.02)
    lat = np.arange(54.0, 56.5, 0.1) + 0.05
    lon = np.arange(35.0, 37.5, 0.1) + 0.05
    exact = basin_weights(lat, lon, basin, "exact")
    approx = basin_weights(lat, lon, basin, "regionmask")
    assert exact.covered_km2 == pytest.approx(basin.area_km2, rel=0.01)
    assert approx.covered_km2 == pytest.approx(exact.covered_km2, rel=0.02)
    field = np.broadcast_to(lat[exact.lat_index][:, None], exact.weights.shape)
    m_exact = (exact.weights * field).sum() / exact.weights.sum()
    m_approx = (approx.weights * field).sum() / approx.weights.sum()
    assert m_exact == pytest.approx(m_approx, abs=0.01)
    assert 55.1 < m_exact < 55.3  # the basin's area-weighted latitude


def test_gridded_adapter_ingests_basin_series_into_the_store(tmp_path: Path, real_data: Path) -> None:
    lat = np.arange(56.0, 54.0, -0.25) - 0.125
    lon = np.arange(35.0, 37.5, 0.25) + 0.125
    sd = np.broadcast_to(np.linspace(0.05, 0.07, 3)[:, None, None], (3, len(lat), len(lon))).copy()
    folder = tmp_path / "era5"
    (folder / "basins").mkdir(parents=True)
    era5_like(lat, lon, {"sd": (sd, {"units": "m"})}).to_netcdf(folder / "era5land_2024.nc")
    (folder / "basins" / "PROTVA_SZ.geojson").write_bytes((real_data / "basins" / "PROTVA_SZ.geojson").read_bytes())
    adapter = get_adapter("gridded")
    assert adapter.detect(folder)
    result = adapter.read(folder)
    store, _, report = ingest(result, None, str(folder), "gridded")
    assert report.kept == 3 and not report.quarantine
    assert store["swe_mm"].sel(station="PROTVA_SZ").values == pytest.approx([50.0, 60.0, 70.0])
    assert float(store["area_km2"].sel(station="PROTVA_SZ")) == pytest.approx(3886, rel=0.02)
