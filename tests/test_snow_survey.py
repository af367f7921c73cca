"""Snow surveys: Cyrillic cp1251 tables with decimal commas, SWE from depth x density, basin means, bad rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecasting.ingest import ingest
from forecasting.sources import get_adapter
from forecasting.sources.snow_survey import COMPUTED_NOTE, parse_survey_file, read_surveys
from forecasting.validate import date_window

FIX = Path(__file__).resolve().parent / "fixtures" / "snow" / "surveys"
SURVEY = FIX / "ertis_2024.csv"


def test_fixture_is_a_real_kazhydromet_style_table() -> None:
    raw = SURVEY.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("cp1251").startswith("Дата;Пункт;Высота снега, см;Плотность, г/см3;Запас воды, мм\r\n")


def obs_value(result, station: str, date: str, var: str) -> float:
    o = result.observations
    sel = o[(o["station_id"] == station) & (o["date"] == pd.Timestamp(date)) & (o["variable"] == var)]
    assert len(sel) == 1, (station, date, var, sel)
    return float(sel["value"].iloc[0])


def test_basin_means_with_computed_swe_and_provenance() -> None:
    res = get_adapter("snow-survey").read(FIX)
    # 11117 on 15.02: route 1 measured 108 mm; route 2 only depth 52 cm x density 0.26 -> 135.2 mm (computed)
    assert obs_value(res, "11117", "2024-02-15", "swe_mm") == pytest.approx((108.0 + 135.2) / 2)
    assert obs_value(res, "11117", "2024-02-15", "snow_depth_cm") == pytest.approx((45 + 52) / 2)
    o = res.observations.set_index(["station_id", "date", "variable"])
    assert o.loc[("11117", pd.Timestamp("2024-02-15"), "swe_mm"), "note"] == "mean of 2 points, 1 computed"
    assert o.loc[("11117", pd.Timestamp("2024-02-15"), "swe_mm"), "source_row"] == 2
    assert o.loc[("11117", pd.Timestamp("2024-02-15"), "swe_mm"), "source_file"].endswith("ertis_2024.csv")
    # 11124 on 15.02: Берель measured 134.2; Катон-Карагай depth 38 without density -> depth only
    assert obs_value(res, "11124", "2024-02-15", "swe_mm") == pytest.approx(134.2)
    assert obs_value(res, "11124", "2024-02-15", "snow_depth_cm") == pytest.approx((61 + 38) / 2)
    # depth 0 without density: no snow, SWE 0 (computed)
    assert o.loc[("11124", pd.Timestamp("2024-02-20"), "swe_mm"), "note"] == COMPUTED_NOTE
    assert obs_value(res, "11124", "2024-02-20", "swe_mm") == 0.0
    msgs = "\n".join(res.messages)
    assert "SWE computed from depth x density" in msgs and "lines 3" in msgs
    assert "depth without density (and no SWE) on lines 5" in msgs


def test_bad_rows_are_quarantined_with_file_line_and_field() -> None:
    res = get_adapter("snow-survey").read(FIX)
    q = {(Path(r.file).name, r.line, r.field): r.reason for r in res.quarantine}
    assert "larger than a 40 cm snow cover allows" in q[("ertis_2024.csv", 9, "Запас воды, мм")]
    assert "unparsable date '31.02.2024'" in q[("ertis_2024.csv", 11, "Дата")]
    assert "not a number: '4О'" in q[("ertis_2024.csv", 12, "Высота снега, см")]
    assert "density 0.75" in q[("ertis_2024.csv", 13, "Плотность, г/см3")]
    assert len(q) == 4
    # the valid parts of those rows are kept: depth 40 of line 9, SWE 100 of line 12, depth 50 of line 13
    assert obs_value(res, "11124", "2024-02-25", "swe_mm") == 100.0
    assert obs_value(res, "11117", "2024-02-25", "snow_depth_cm") == 50.0
    assert not (
        (res.observations["station_id"] == "11117")
        & (res.observations["date"] == "2024-02-25")
        & (res.observations["variable"] == "swe_mm")
    ).any()


def test_unknown_survey_point_is_kept_with_a_message() -> None:
    res = get_adapter("snow-survey").read(FIX)
    assert obs_value(res, "Новый пункт", "2024-02-15", "swe_mm") == 40.0
    assert any("Новый пункт" in m and "not in the station-to-basin table" in m for m in res.messages)


def test_english_headers_iso_dates_kg_m3_and_per_station(tmp_path: Path) -> None:
    f = tmp_path / "routes.csv"
    f.write_text(
        "date,station,snow_depth_cm,density_kg_m3,swe_mm\n"
        "2023-03-01,R1,80,300,\n"
        "2023-03-01,R2,60,250,150\n"
        "2023-03-06,R1,75,,\n",
        encoding="utf-8",
    )
    pts, res = parse_survey_file(f)
    assert list(pts["swe_mm"].round(6).fillna(-1)) == [240.0, 150.0, -1]
    assert list(pts["computed"]) == [True, False, False]
    out = read_surveys([f], per="station")
    assert obs_value(out, "R1", "2023-03-01", "swe_mm") == pytest.approx(240.0)
    assert obs_value(out, "R1", "2023-03-06", "snow_depth_cm") == 75.0


def test_surveys_ingest_into_the_store_beside_discharge() -> None:
    res = get_adapter("snow-survey").read(FIX)
    store, _, report = ingest(res, None, str(FIX), "snow-survey")
    assert report.ok
    assert float(store["swe_mm"].sel(station="11117", time="2024-02-20")) == pytest.approx((120 + 150) / 2)
    assert float(store["snow_depth_cm"].sel(station="11124", time="2024-02-20")) == pytest.approx((40 + 0) / 2)


def test_cells_are_read_with_the_shared_kazhydromet_parsers(tmp_path: Path) -> None:
    f = tmp_path / "cells.csv"
    f.write_text(
        "Дата;Пункт;Высота снега, см;Запас воды, мм\n"
        "15.02.24;A;1 040,5;\n"  # two-digit year (dd.mm.yy); a space as thousands separator
        "16.02.2024;A;−5;\n"  # Unicode minus: a negative depth
        "17.02.2024;A;нб;10\n"  # 'нб' (no flow) is not a snow survey value
        "18.02.2024;A;inf;20\n"  # not a finite number
        "19.02.2024;A;40;н/д\n"  # missing SWE: depth kept
        ";A;30;60\n"  # no date
        "15.02.1024;A;30;60\n",  # a typo: outside the store's time range, quarantined (not a crash)
        encoding="utf-8",
    )
    pts, res = parse_survey_file(f)
    q = {(r.line, r.field): r.reason for r in res.quarantine}
    assert q == {
        (3, "Высота снега, см"): "negative value -5",
        (4, "Высота снега, см"): "not a number: 'нб'",
        (5, "Высота снега, см"): "not a number: 'inf'",
        (7, "Дата"): "unparsable date ''",
        (8, "Дата"): f"date 1024-02-15 outside the accepted window 1850-01-01..{date_window()[1]} "
        "($TASQYN_DATE_MIN, $TASQYN_DATE_MAX)",
    }
    assert list(pts["date"].dt.strftime("%Y-%m-%d")) == ["2024-02-15", "2024-02-17", "2024-02-18", "2024-02-19"]
    assert list(pts["snow_depth_cm"].fillna(-1)) == [1040.5, -1, -1, 40.0]
    assert list(pts["swe_mm"].fillna(-1)) == [-1, 10.0, 20.0, -1]
