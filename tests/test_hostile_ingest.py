"""A hostile corpus for ingest, generated per test: every case ends without a traceback, quarantines only what is
bad (with file, line and reason), keeps the rest, and never stops the other sources of the same command."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from flows.cli import app
from flows.ingest import run_ingest
from forecasting.home import Home
from forecasting.ingest import IngestError
from forecasting.sources import get_adapter
from forecasting.storage import open_store
from forecasting.thresholds import read_thresholds_csv

runner = CliRunner()
REGISTRY = "station_id,name,river,country,lat,lon,area_km2\n"


def station_file(n: int = 60, start: str = "2020-01-01", q0: float = 10.0) -> list[str]:
    dates = pd.date_range(start, periods=n, freq="D")
    return [f"{d:%Y-%m-%d},{q0 + 3 * np.sin(k / 9):.2f}" for k, d in enumerate(dates)]


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def reasons(result) -> dict[int | None, str]:
    return {q.line: q.reason for q in result.quarantine}


# ------------------------------------------------------------------------------------------------ portal exports


def test_portal_export_dates_outside_the_window_are_quarantined_not_a_traceback(tmp_path: Path) -> None:
    lines = ["Код поста;Дата;Расход воды, м3/с", "11432;01.04.2024;12,5", "11432;01.01.1500;3", "11432;31.12.2300;4"]
    lines += ["11432;1700-01-01;5", "11432;02.04.2024;13", "11432;29.02.2023;1"]
    f = write(tmp_path / "q.csv", "\n".join(lines) + "\n")
    home = Home(tmp_path / "home")
    report = run_ingest(f, "kazhydromet", home)
    r = {q.line: q.reason for q in report.quarantine}
    assert "outside the accepted window 1850-01-01.." in r[3] and "2300-12-31" in r[4] and "1700-01-01" in r[5]
    assert "not a valid date" in r[7]
    ds = open_store(home.observations)
    assert str(ds["time"].values[0])[:10] == "2024-04-01" and ds.sizes["time"] == 2


@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n"])
def test_any_line_ending_cr_only_included(tmp_path: Path, ending: str) -> None:
    kz = write(
        tmp_path / "kz" / "q.csv",
        ending.join(["Код поста;Дата;Расход воды, м3/с", "11432;01.04.2024;12,5", "11432;02.04.2024;13"]) + ending,
    )
    r = get_adapter("kazhydromet").read(kz)
    assert len(r.observations) == 2 and not r.quarantine
    st = tmp_path / "st"
    write(st / "stations.csv", ending.join(["station_id,name,lat,lon", "S1,One,50,70"]) + ending)
    write(st / "S1.csv", ending.join(["date,discharge_m3s", *station_file(30)]) + ending)
    r = get_adapter("station-csv").read(st)
    assert len(r.observations) == 30 and r.stations.loc["S1", "name"] == "One" and not r.quarantine


def test_an_over_long_line_quarantines_only_that_line_of_a_portal_export(tmp_path: Path) -> None:
    body = [f"11432;{d:%d.%m.%Y};{10 + k}" for k, d in enumerate(pd.date_range("2024-04-01", periods=20))]
    body.insert(5, "11432;06.04.2024;" + "9" * 200_000)
    f = write(tmp_path / "q.csv", "\n".join(["Код поста;Дата;Расход воды, м3/с", *body]) + "\n")
    r = get_adapter("kazhydromet").read(f)
    assert len(r.observations) == 20
    assert [q.line for q in r.quarantine] == [7] and "200017 characters" in r.quarantine[0].reason


def test_a_stray_quote_costs_one_line_not_the_rest_of_the_file(tmp_path: Path) -> None:
    st = tmp_path / "st"
    rows = station_file(40)
    rows[9] = rows[9].replace(",", ',"', 1)  # 2020-01-10,"12.3  (the quote never closes)
    write(st / "S1.csv", "\n".join(["date,discharge_m3s", *rows]) + "\n")
    r = get_adapter("station-csv").read(st)
    assert len(r.observations) == 39
    assert [q.line for q in r.quarantine] == [11] and "unbalanced double quote" in r.quarantine[0].reason
    kz = write(
        tmp_path / "kz.csv",
        'Код поста;Дата;Расход воды, м3/с\n11432;01.04.2024;"12,5\n11432;02.04.2024;13\n11432;03.04.2024;14\n',
    )
    r = get_adapter("kazhydromet").read(kz)
    assert len(r.observations) == 2 and [q.line for q in r.quarantine] == [2]


def test_encoding_is_decided_per_line(tmp_path: Path) -> None:
    utf8 = "Бассейн;Водный объект;Код объекта;Пост;Код поста\nЕсіл;р. Есиль;01;г. Астана;11432\n".encode()
    cp = "Нура;р. Нура;02;с. Киевка;13148\n".encode("cp1251")
    folder = tmp_path / "kz"
    write(folder / "posts.csv", utf8 + cp)
    write(folder / "q.csv", "Код поста;Дата;Расход воды, м3/с\n11432;01.04.2024;12,5\n13148;01.04.2024;7\n")
    r = get_adapter("kazhydromet").read(folder)
    assert r.stations.loc["11432", "basin"] == "Есіл" and r.stations.loc["11432", "name"] == "г. Астана"
    assert r.stations.loc["13148", "name"] == "с. Киевка" and r.stations.loc["13148", "river"] == "р. Нура"
    # the reverse: a UTF-8 line in a cp1251 file
    write(
        folder / "posts.csv",
        "Бассейн;Водный объект;Код объекта;Пост;Код поста\n".encode("cp1251") + cp + utf8.split(b"\n")[1] + b"\n",
    )
    r = get_adapter("kazhydromet").read(folder)
    assert r.stations.loc["11432", "basin"] == "Есіл" and r.stations.loc["13148", "name"] == "с. Киевка"


# ------------------------------------------------------------------------------------------------ registries, surveys


def test_a_field_over_128_kb_in_a_registry_or_a_survey_costs_its_line(tmp_path: Path) -> None:
    st = tmp_path / "st"
    write(
        st / "stations.csv",
        REGISTRY + "S1,One,R,KZ,50,70,100\nS2," + "N" * 200_000 + ",R,KZ,51,71,100\nS3,Three,R,KZ,52,72,1\n",
    )
    for sid in ("S1", "S2", "S3"):
        write(st / f"{sid}.csv", "\n".join(["date,discharge_m3s", *station_file(10)]) + "\n")
    r = get_adapter("station-csv").read(st)
    assert [q.line for q in r.quarantine] == [3] and "characters" in r.quarantine[0].reason
    assert set(r.observations["station_id"]) == {"S1", "S2", "S3"}
    assert r.stations.loc["S3", "name"] == "Three"
    sv = tmp_path / "sv"
    write(
        sv / "s.csv",
        "Дата;Пункт;Высота снега, см;Плотность, г/см3;Запас воды, мм\n15.02.2024;A;40;0,25;100\n"
        f"16.02.2024;{'B' * 200_000};40;0,25;100\n17.02.2024;A;42;0,25;105\n",
    )
    r = get_adapter("snow-survey").read(sv)
    assert [q.line for q in r.quarantine] == [3]
    assert sorted(r.observations.loc[r.observations["variable"] == "swe_mm", "value"]) == [100.0, 105.0]


def test_years_1700_and_2200_do_not_stretch_the_time_axis(tmp_path: Path) -> None:
    st = tmp_path / "st"
    rows = station_file(30)
    rows[3] = "1700-01-04,5"
    rows[7] = "2200-01-08,5"
    rows[8] = "2300-01-09,5"
    write(st / "S1.csv", "\n".join(["date,discharge_m3s", *rows]) + "\n")
    home = Home(tmp_path / "home")
    report = run_ingest(st, "station-csv", home)
    r = {q.line: q.reason for q in report.quarantine}
    assert "date 1700-01-04 outside the accepted window" in r[5] and "2200-01-08" in r[9] and "2300-01-09" in r[10]
    ds = open_store(home.observations)
    assert ds.sizes["time"] == 30 and str(ds["time"].values[-1])[:10] == "2020-01-30"


def test_implausible_station_metadata_is_left_out_and_reported(tmp_path: Path) -> None:
    st = tmp_path / "st"
    write(
        st / "stations.csv",
        "station_id,name,lat,lon,area_km2,q_warning_m3s,q_danger_m3s,q_extreme_m3s,level_warning_cm,level_danger_cm\n"
        "S1,One,91,500,-5,300,200,400,350,420\nS2,Two,50.5,70.5,0,,,,inf,\nS3,Three,-90,180,12.5,100,200,300,,\n",
    )
    for sid in ("S1", "S2", "S3"):
        write(st / f"{sid}.csv", "\n".join(["date,discharge_m3s", *station_file(10)]) + "\n")
    home = Home(tmp_path / "home")
    report = run_ingest(st, "station-csv", home)
    msgs = [q.message() for q in report.quarantine]
    assert any("line 2, field 'lat'" in m and "latitude must be -90..90" in m for m in msgs)
    assert any("line 2, field 'lon'" in m and "longitude" in m for m in msgs)
    assert any("line 2, field 'area_km2'" in m and "-5 must be greater than 0" in m for m in msgs)
    assert any("line 2, field 'thresholds'" in m and "warning 300, danger 200, extreme 400" in m for m in msgs)
    assert any("line 3, field 'area_km2'" in m for m in msgs) and any(
        "line 3, field 'level_warning_cm'" in m for m in msgs
    )
    ds = open_store(home.observations)
    s1 = ds.sel(station="S1")
    assert np.isnan(float(s1["lat"])) and np.isnan(float(s1["lon"])) and np.isnan(float(s1["area_km2"]))
    assert np.isnan(float(s1["q_warning_m3s"])) and float(s1["level_danger_cm"]) == 420.0  # cm set is in order
    s3 = ds.sel(station="S3")
    assert float(s3["lat"]) == -90 and float(s3["q_extreme_m3s"]) == 300
    # a thresholds file with an inverted set
    tf = write(
        tmp_path / "th.csv", "station_id,kind,value,units\nS1,warning,500,m3/s\nS1,danger,450,m3/s\nS3,warning,100,cm\n"
    )
    table, bad = read_thresholds_csv(tf)
    assert list(table["station_id"]) == ["S3"] and [q.line for q in bad] == [2, 3]
    assert "not in increasing order" in bad[0].reason


def test_unquoted_decimal_comma_in_a_comma_yearbook_quarantines_the_row(tmp_path: Path) -> None:
    header = "День,I,II,III,IV,V,VI,VII,VIII,IX,X,XI,XII"
    days = [f"{d}," + ",".join(str(10 * m + d) for m in range(1, 13)) for d in range(1, 29)]
    days[4] = "5,15,25,35,45,55,65,7,5,85,95,105,115,125"  # 75 typed as 7,5 (unquoted decimal comma)
    f = write(tmp_path / "yb.csv", "\n".join(["р. Нура – с. Киевка (13148) 2021 г.", header, *days]) + "\n")
    r = get_adapter("kazhydromet-yearbook").read(f)
    assert [q.line for q in r.quarantine] == [7] and "too many fields: 14" in r.quarantine[0].reason
    q = r.observations.set_index("date")["value"]
    assert pd.Timestamp("2021-07-05") not in q.index and q[pd.Timestamp("2021-08-06")] == 86.0
    assert len(r.observations) == 27 * 12


# ------------------------------------------------------------------------------------------------ grids


def _grid(path: Path, calendar: str, n: int = 6, units: str = "days since 2024-02-25") -> Path:
    lat, lon = np.arange(49.25, 52, 0.5), np.arange(69.25, 72, 0.5)
    ds = xr.Dataset(
        {"t2m": (("time", "lat", "lon"), np.full((n, len(lat), len(lon)), 271.15), {"units": "K"})},
        coords={
            "time": ("time", np.arange(n, dtype="float64"), {"units": units, "calendar": calendar}),
            "lat": lat,
            "lon": lon,
        },
    )
    ds.to_netcdf(path)
    write(
        path.parent / "b.geojson",
        '{"type":"Feature","properties":{"basin_id":"Nura"},"geometry":{"type":"Polygon",'
        '"coordinates":[[[70,50],[71,50],[71,51],[70,51],[70,50]]]}}',
    )
    return path


@pytest.mark.parametrize(("calendar", "days"), [("noleap", 6), ("360_day", 5), ("proleptic_gregorian", 6)])
def test_grids_with_cftime_calendars(tmp_path: Path, calendar: str, days: int) -> None:
    f = _grid(tmp_path / "g.nc", calendar)
    r = get_adapter("gridded").read(f)
    obs = r.observations
    assert len(obs) == days and np.allclose(obs["value"], -2.0)
    assert obs["date"].min() == pd.Timestamp("2024-02-25")
    if calendar == "360_day":  # 2024-02-25 + 5 days of 30-day months holds 30 February
        assert any("do not exist" in m for m in r.messages)


def test_a_grid_too_large_for_memory_is_refused_with_a_message(tmp_path: Path, monkeypatch) -> None:
    f = _grid(tmp_path / "g.nc", "standard", n=400)
    monkeypatch.setenv("TASQYN_MAX_GRID_MB", "0.01")
    r = get_adapter("gridded").read(f)
    assert r.observations.empty
    assert "MB in memory" in r.quarantine[0].reason and "TASQYN_MAX_GRID_MB" in r.quarantine[0].reason
    monkeypatch.setenv("TASQYN_MAX_GRID_MB", "50")
    assert len(get_adapter("gridded").read(f).observations) == 400


def test_grid_dates_outside_the_window(tmp_path: Path) -> None:
    f = _grid(tmp_path / "g.nc", "standard", n=3, units="days since 1600-01-01")
    r = get_adapter("gridded").read(f)
    assert r.observations.empty and "outside the accepted window" in r.quarantine[0].reason


# ------------------------------------------------------------------------------------------------ one command, many


def test_one_failing_source_never_stops_the_others(tmp_path: Path) -> None:
    good1 = tmp_path / "good1"
    write(good1 / "A.csv", "\n".join(["date,discharge_m3s", *station_file(20)]) + "\n")
    good2 = tmp_path / "good2"
    write(good2 / "B.csv", "\n".join(["date,discharge_m3s", *station_file(20)]) + "\n")
    unknown = write(tmp_path / "notes.txt", "nothing to see\n")
    binary = write(tmp_path / "blob.csv", b"\x00\x01\x02" * 100)
    home = tmp_path / "home"
    out = runner.invoke(
        app,
        ["ingest", str(good1), str(tmp_path / "missing"), str(unknown), str(binary), str(good2), "--home", str(home)],
    )
    assert out.exit_code == 0, out.output
    assert "no such file or folder" in out.stderr and "no known format" in out.stderr
    assert sorted(open_store(Home(home).observations)["station"].values.astype(str)) == ["A", "B"]
    with pytest.raises(IngestError, match="no such file or folder"):
        run_ingest(tmp_path / "missing", None, Home(home))
    with pytest.raises(IngestError, match="unknown format 'nope'"):
        run_ingest(good1, "nope", Home(home))


def test_window_is_configurable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TASQYN_DATE_MIN", "2020-01-15")
    st = tmp_path / "st"
    write(st / "S1.csv", "\n".join(["date,discharge_m3s", *station_file(30)]) + "\n")
    r = get_adapter("station-csv").read(st)
    assert len(r.observations) == 16 and len(r.quarantine) == 14
    monkeypatch.setenv("TASQYN_DATE_MAX", "not a date")
    with pytest.raises(ValueError, match="TASQYN_DATE_MAX"):
        from forecasting.validate import date_window

        date_window()
    assert dt.date(2020, 1, 15)
