"""One source each for what the API and the dashboard both show: station metadata (forecasting.store.station_table
through service.api.station_records) and basin polygons (forecasting.basins.read_basins through
service.api.basin_geometries)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from forecasting.basins import BasinFileError, read_basins
from forecasting.store import station_table
from service.api import basin_geometries, station_records
from service.dashboard import _rings, station_metadata

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
    rec = station_records(store)
    assert rec["A"]["lat"] == 51.5 and rec["A"]["area_km2"] is None and rec["B"]["lat"] is None
    assert rec["B"]["basin"] == "B" and rec["B"]["name"] == "" and rec["B"]["area_km2"] == 120.0
    assert station_records(store) is rec and station_records(None) == {}  # made once per loaded store
    meta = station_metadata(store)
    assert meta["B"].name == "B" and meta["B"].basin == "B" and not meta["B"].has_coords
    assert (meta["A"].name, meta["A"].river, meta["A"].region, meta["A"].lat) == ("Alpha", "Esil", "Akmola", 51.5)
    assert station_metadata(store) is meta and station_metadata(None) == {}


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

    polys = basin_geometries(folder, _rings)
    assert polys == {"A": [[[tuple(p) for p in SQUARE[0]]]]}
    assert basin_geometries(folder, _rings) is polys  # read once while nothing changes
    (folder / "b.geojson").write_text(json.dumps(_feature("B")))
    assert set(basin_geometries(folder, _rings)) == {"A", "B"}
    assert set(basin_geometries(folder / "b.geojson", _rings)) == {"B"}  # a single file works too
    assert basin_geometries(None, _rings) == {} and basin_geometries(tmp_path / "none", _rings) == {}
