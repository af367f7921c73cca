"""Station metadata has one source for the API and the dashboard: forecasting.store.station_table through
service.api.station_records."""

from __future__ import annotations

import numpy as np
import xarray as xr

from forecasting.store import station_table
from service.api import station_records
from service.dashboard import station_metadata


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
