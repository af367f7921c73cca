"""The canonical store: CF layout, idempotent re-ingest, appends that never lose data, recorded revisions."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.ingest import run_ingest
from forecasting import flags
from forecasting.storage import open_store, read_station

REAL_STATIONS = {
    "CH2109",
    "CH2141",
    "CH2185",
    "CH2203",
    "CH2232",
    "CH2268",
    "CH2426",
    "CH2474",
    "PROTVA_SZ",
    "UZ16279_chatkal_khudaydod",
}


def _write_station_folder(folder: Path, rows: list[tuple[str, float, float]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stations.csv").write_text(
        "station_id,name,river,country,lat,lon,area_km2\nKZ1,Test - Post,Esil,KZ,51.1,71.4,1000\n"
    )
    lines = ["date,discharge_m3s,precip_mm"] + [f"{d},{q},{p}" for d, q, p in rows]
    (folder / "KZ1.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_real_data_ingests_all_stations_with_cf_attributes(real_data, home):
    report = run_ingest(real_data, None, home)
    assert report.format == "station-csv"
    assert set(report.stations) == REAL_STATIONS
    ds = open_store(home.observations)
    assert set(ds["station"].values) == REAL_STATIONS
    assert ds["discharge_m3s"].attrs["units"] == "m3 s-1"
    assert ds["discharge_m3s"].attrs["standard_name"] == "water_volume_transport_in_river_channel"
    assert ds["tmean_c"].attrs["units"] == "degC"
    assert "discharge_m3s_qc" in ds and "flag_meanings" in ds["discharge_m3s_qc"].attrs
    # Provenance: the value of CH2141 on 1981-01-03 came from line 4 of CH2141.csv.
    one = ds.sel(station="CH2141", time="1981-01-03")
    assert float(one["discharge_m3s"]) == pytest.approx(5.992)
    assert int(one["discharge_m3s_row"]) == 4
    assert str(ds["source_file"].values[int(one["discharge_m3s_src"])]).endswith("CH2141.csv")
    # Station metadata as coordinates; the Protva has no coordinates and is kept as it is.
    assert np.isnan(float(ds.sel(station="PROTVA_SZ")["lat"]))
    assert str(ds.sel(station="CH2141")["river"].values) == "Albula"


def test_reingest_is_idempotent(real_data, home):
    run_ingest(real_data, None, home)
    first = open_store(home.observations)
    report = run_ingest(real_data, None, home)
    second = open_store(home.observations)
    assert report.revised == 0
    assert first.identical(second)
    assert not home.revisions.exists()


def test_append_newer_data_keeps_older_and_records_revisions(tmp_path, home):
    src1 = _write_station_folder(tmp_path / "a", [("2024-03-01", 10.0, 0.0), ("2024-03-02", 11.0, 1.5)])
    run_ingest(src1, "station-csv", home)
    # A later export: overlaps on 03-02 with a corrected value, adds 03-03, lacks 03-01.
    src2 = _write_station_folder(tmp_path / "b", [("2024-03-02", 12.5, 1.5), ("2024-03-03", 14.0, 0.2)])
    report = run_ingest(src2, "station-csv", home)
    ds = open_store(home.observations)
    q = ds["discharge_m3s"].sel(station="KZ1").to_series()
    assert q.loc["2024-03-01"] == 10.0  # older data never lost
    assert q.loc["2024-03-02"] == 12.5  # the newer value wins ...
    assert q.loc["2024-03-03"] == 14.0
    assert report.revised == 1
    rev = pd.read_csv(home.revisions)  # ... and what was known before is recorded
    assert rev.loc[0, "old_value"] == 11.0 and rev.loc[0, "new_value"] == 12.5
    assert rev.loc[0, "variable"] == "discharge_m3s"
    assert int(ds["discharge_m3s_qc"].sel(station="KZ1", time="2024-03-02")) & flags.REVISED
    assert str(ds.sel(station="KZ1")["name"].values) == "Test - Post"


def test_sample_is_ingested_from_the_installed_spotpy_package(home):
    report = run_ingest("sample", None, home)
    ds = open_store(home.observations)
    assert report.stations == ["FULDA"]
    q = ds["discharge_m3s"].sel(station="FULDA").to_series().dropna()
    assert q.index.min() == pd.Timestamp("1979-01-01") and q.index.max() == pd.Timestamp("1988-12-31")
    assert q.iloc[0] == 143.0
    assert {"precip_mm", "tmin_c", "tmax_c", "tmean_c"} <= set(ds.data_vars)


def test_store_file_is_replaced_atomically(real_data, home, tmp_path):
    run_ingest(real_data, None, home)
    leftovers = [p for p in home.store_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    one = read_station(home.observations, "PROTVA_SZ")
    assert one["discharge_m3s"].notnull().sum() > 18000
    shutil.rmtree(home.root)
