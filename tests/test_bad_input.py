"""Bad input never loses data: the station-CSV path through flows.ingest.run_ingest with a fresh home.

Each case asserts what was kept (in the store), flagged, and quarantined (in home/quarantine/*.quarantine.csv,
with file, line, field and reason).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.ingest import run_ingest
from forecasting import flags
from forecasting.storage import open_store

REGISTRY = "station_id,name,river,country,lat,lon,area_km2\nKZ1,Esil - Astana,Esil,KZ,51.17,71.43,7400\n"


def write(folder: Path, files: dict[str, str | bytes], encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding=encoding, newline="")
    return folder


def series(ds, var: str, station: str = "KZ1") -> pd.Series:
    return ds[var].sel(station=station).to_series().dropna()


def quarantine(home) -> pd.DataFrame:
    """All quarantined rows of the home (file, line, field, reason, raw)."""
    files = sorted(home.quarantine_dir.glob("*.quarantine.csv"))
    if not files:
        return pd.DataFrame(columns=["file", "line", "field", "reason", "raw"])
    return pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files], ignore_index=True)


def test_unknown_station_in_a_data_file_is_kept_with_a_message(tmp_path, home):
    src = write(
        tmp_path / "src",
        {
            "stations.csv": REGISTRY,
            "KZ1.csv": "date,discharge_m3s\n2024-03-01,10.5\n2024-03-02,11.0\n",
            "KZ9.csv": "date,discharge_m3s\n2024-03-01,3.2\n2024-03-02,3.4\n",
        },
    )
    report = run_ingest(src, "station-csv", home)
    ds = open_store(home.observations)
    assert series(ds, "discharge_m3s", "KZ9").tolist() == [3.2, 3.4]
    assert str(ds.sel(station="KZ9")["name"].values) == ""  # no metadata invented
    assert any("KZ9" in m and "not in stations.csv" in m for m in report.messages)
    assert report.kept == 4 and report.quarantined == 0


def test_station_files_without_stations_csv(tmp_path, home):
    src = write(tmp_path / "src", {"KZ1.csv": "date,discharge_m3s,precip_mm\n2024-03-01,10.5,0.0\n"})
    report = run_ingest(src, None, home)  # auto-detected from the header
    assert report.format == "station-csv"
    ds = open_store(home.observations)
    assert series(ds, "discharge_m3s").tolist() == [10.5]
    assert np.isnan(float(ds.sel(station="KZ1")["lat"]))
    assert any("no stations.csv" in m for m in report.messages)


def test_wrong_units_header_is_quarantined_and_known_units_are_converted(tmp_path, home):
    src = write(
        tmp_path / "src",
        {
            "stations.csv": REGISTRY,
            "KZ1.csv": "date,discharge_ls,discharge_cfs,precip_mm\n2024-03-01,10500,371,0.5\n2024-03-02,,388,1.0\n",
        },
    )
    report = run_ingest(src, "station-csv", home)
    ds = open_store(home.observations)
    assert series(ds, "discharge_m3s").tolist() == [10.5]  # litres per second -> m3/s
    assert series(ds, "precip_mm").tolist() == [0.5, 1.0]
    q = quarantine(home)
    row = q[q["field"] == "discharge_cfs"]
    assert len(row) == 1
    assert row.iloc[0]["file"].endswith("KZ1.csv") and row.iloc[0]["line"] == "1"
    assert "not understood" in row.iloc[0]["reason"]
    assert "2:371" in row.iloc[0]["raw"] and "3:388" in row.iloc[0]["raw"]  # the values, with their lines
    assert any("discharge_ls" in m and "converted" in m for m in report.messages)


def test_cp1251_file_with_cyrillic_names(tmp_path, home):
    src = write(
        tmp_path / "src",
        {
            "stations.csv": "station_id,name,river,country,lat,lon,area_km2\n"
            "11432,Есиль - Балкашино,Есиль,KZ,52.5369,68.7892,\n",
            "11432.csv": "date,discharge_m3s,water_level_cm\n2024-04-01,35.2,312\n2024-04-02,41.0,330\n",
        },
        encoding="cp1251",
    )
    report = run_ingest(src, "station-csv", home)
    ds = open_store(home.observations)
    st = ds.sel(station="11432")
    assert str(st["name"].values) == "Есиль - Балкашино"
    assert str(st["river"].values) == "Есиль"
    assert series(ds, "water_level_cm", "11432").tolist() == [312.0, 330.0]
    assert report.quarantined == 0


def test_empty_file_is_quarantined_and_the_others_are_kept(tmp_path, home):
    src = write(
        tmp_path / "src",
        {"stations.csv": REGISTRY, "KZ1.csv": "date,discharge_m3s\n2024-03-01,10.5\n", "KZ2.csv": ""},
    )
    report = run_ingest(src, "station-csv", home)
    assert report.ok and report.kept == 1
    q = quarantine(home)
    row = q[q["file"].str.endswith("KZ2.csv")]
    assert len(row) == 1 and "empty" in row.iloc[0]["reason"]


def test_only_an_empty_file_ingests_nothing(tmp_path, home):
    src = write(tmp_path / "src", {"KZ1.csv": ""})
    report = run_ingest(src / "KZ1.csv", "station-csv", home)
    assert not report.ok and report.kept == 0
    assert not home.observations.exists()
    assert report.quarantine_file is not None


def test_truncated_last_line(tmp_path, home):
    src = write(
        tmp_path / "src",
        {
            "stations.csv": REGISTRY,
            "KZ1.csv": "date,discharge_m3s,precip_mm,tmin_c\n2024-03-01,10.5,0.0,-3.1\n2024-03-02,11.0,1.2,-2.5\n"
            "2024-03-03,11",  # the export was cut off mid-row, without its newline
        },
    )
    report = run_ingest(src, "station-csv", home)
    ds = open_store(home.observations)
    assert series(ds, "discharge_m3s").tolist() == [10.5, 11.0]
    q = quarantine(home)
    assert len(q) == 1
    assert q.iloc[0]["line"] == "4" and "truncated" in q.iloc[0]["reason"]
    assert q.iloc[0]["raw"] == "2024-03-03,11"
    assert report.quarantined == 1


def test_non_number_in_one_field_keeps_the_other_fields(tmp_path, home):
    src = write(
        tmp_path / "src",
        {
            "stations.csv": REGISTRY,
            "KZ1.csv": "date,discharge_m3s,precip_mm\n2024-03-01,10.5,0.0\n2024-03-02,1O.8,2.5\n2024-03-03,11.2,0.1\n",
        },
    )
    report = run_ingest(src, "station-csv", home)
    ds = open_store(home.observations)
    assert series(ds, "discharge_m3s").index.strftime("%d").tolist() == ["01", "03"]
    assert series(ds, "precip_mm").tolist() == [0.0, 2.5, 0.1]  # the rest of the row is kept
    q = quarantine(home)
    assert q[["line", "field"]].values.tolist() == [["3", "discharge_m3s"]]
    assert "not a number" in q.iloc[0]["reason"] and "1O.8" in q.iloc[0]["reason"]
    assert report.kept == 5 and report.quarantined == 1


def test_bad_date_quarantines_the_row(tmp_path, home):
    src = write(
        tmp_path / "src",
        {
            "stations.csv": REGISTRY,
            "KZ1.csv": "date,discharge_m3s\n2024-02-28,10.5\n2024-02-30,11.0\n2024-03-01,11.2\n",
        },
    )
    run_ingest(src, "station-csv", home)
    ds = open_store(home.observations)
    assert series(ds, "discharge_m3s").tolist() == [10.5, 11.2]
    q = quarantine(home)
    assert q[["line", "field"]].values.tolist() == [["3", "date"]]
    assert "2024-02-30" in q.iloc[0]["reason"]


def test_duplicated_dates_with_conflicting_values(tmp_path, home):
    src = write(
        tmp_path / "src",
        {
            "stations.csv": REGISTRY,
            "KZ1.csv": "date,discharge_m3s,precip_mm\n2024-03-01,10.5,0.0\n2024-03-02,11.0,1.0\n"
            "2024-03-02,14.0,1.0\n2024-03-03,11.2,0.0\n",
        },
    )
    report = run_ingest(src, "station-csv", home)
    ds = open_store(home.observations)
    assert series(ds, "discharge_m3s").tolist() == [10.5, 11.0, 11.2]  # the first value is kept ...
    qc = ds["discharge_m3s_qc"].sel(station="KZ1").to_series()
    assert qc.loc["2024-03-02"] & flags.DUPLICATE  # ... and flagged
    assert not qc.loc[["2024-03-01", "2024-03-03"]].any()
    assert ds["precip_mm_qc"].sel(station="KZ1").sum() == 0  # the identical repeat of precipitation is no conflict
    q = quarantine(home)
    assert q[["line", "field"]].values.tolist() == [["4", "discharge_m3s"]]  # ... the other one quarantined
    assert "duplicate date 2024-03-02" in q.iloc[0]["reason"] and "kept 11" in q.iloc[0]["reason"]
    assert report.flagged == 1 and report.quarantined == 1


def test_binary_file_is_quarantined_whole(tmp_path, home):
    src = write(
        tmp_path / "src",
        {
            "stations.csv": REGISTRY,
            "KZ1.csv": "date,discharge_m3s\n2024-03-01,10.5\n",
            "KZ2.csv": b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(range(256)),  # an xlsx renamed
        },
    )
    report = run_ingest(src, "station-csv", home)
    assert report.ok and report.kept == 1
    q = quarantine(home)
    row = q[q["file"].str.endswith("KZ2.csv")]
    assert len(row) == 1 and "binary" in row.iloc[0]["reason"]
    assert "KZ2" not in open_store(home.observations)["station"].values


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("discharge_m3s\n10.5\n", "no 'date' column"),
        ("date,discharge_m3s\n", "no data rows"),
        ("date,discharge_m3s\n\n\n", "no data rows"),
    ],
)
def test_files_without_usable_rows_are_reported(tmp_path, home, content, expected):
    registry = REGISTRY + "KZ2,Nura - Romanovka,Nura,KZ,50.2,71.5,\n"
    src = write(tmp_path / "src", {"stations.csv": registry, "KZ1.csv": "date,discharge_m3s\n2024-03-01,10.5\n"})
    write(src, {"KZ2.csv": content})
    report = run_ingest(src, "station-csv", home)
    assert report.ok and report.kept == 1
    notes = [m for m in report.messages if "KZ2.csv" in m] + [q.message() for q in report.quarantine]
    assert len(notes) == 1 and expected in notes[0]
    assert list(open_store(home.observations)["station"].values) == ["KZ1"]


def test_utf8_bom_and_windows_line_endings(tmp_path, home):
    src = write(
        tmp_path / "src",
        {
            "stations.csv": "\ufeff" + REGISTRY.replace("\n", "\r\n"),
            "KZ1.csv": "\ufeffdate,discharge_m3s\r\n2024-03-01,10.5\r\n2024-03-02,NaN\r\n2024-03-03,\r\n",
        },
    )
    report = run_ingest(src, None, home)
    ds = open_store(home.observations)
    assert series(ds, "discharge_m3s").tolist() == [10.5]  # NaN and empty are missing, not errors
    assert str(ds.sel(station="KZ1")["name"].values) == "Esil - Astana"
    assert report.quarantined == 0


def test_irregular_file_gives_the_same_values_as_a_regular_one(tmp_path, home):
    # A quoted field and a blank line send the file through the field-by-field reader; the values must be the
    # same as those of the fast reader of regular files, and 'inf' is no number in either.
    regular = "date,discharge_m3s,precip_mm\n2024-03-01,10.5,0.25\n2024-03-02,inf,1e-1\n2024-03-03, 11.2 ,0\n"
    irregular = 'date,discharge_m3s,precip_mm\n2024-03-01,"10.5",0.25\n\n2024-03-02,inf,1e-1\n2024-03-03, 11.2 ,0\n'
    stores = {}
    for name, text in (("regular", regular), ("irregular", irregular)):
        h = home.__class__(home.root.parent / name)
        report = run_ingest(write(tmp_path / name, {"stations.csv": REGISTRY, "KZ1.csv": text}), "station-csv", h)
        ds = open_store(h.observations)
        stores[name] = (series(ds, "discharge_m3s"), series(ds, "precip_mm"))
        assert [(q.field, "not a number: 'inf'" in q.reason) for q in report.quarantine] == [("discharge_m3s", True)]
    assert stores["regular"][0].tolist() == stores["irregular"][0].tolist() == [10.5, 11.2]
    assert stores["regular"][1].tolist() == stores["irregular"][1].tolist() == [0.25, 0.1, 0.0]
