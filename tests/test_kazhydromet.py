"""The `kazhydromet` adapter on portal-export fixtures (tests/fixtures/kazhydromet, values of April 2024).

portal/: posts.csv (UTF-8 with BOM, CRLF, Russian header, marks for 13148), discharge.csv (cp1251, CRLF,
decimal commas, `нб`, `-`, mixed date forms, a malformed number, a bad date, a row with an extra field, a
duplicated date with a conflicting value, a post absent from the post list, a truncated last line without newline),
level.csv (UTF-8, Kazakh header, ice symbols, a symbol on a day without level). headerless/: files told apart by
their column count. single/: one discharge file with a Latin header and no post list beside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.ingest import run_ingest
from forecasting import flags
from forecasting.sources import detect_format, get_adapter
from forecasting.sources.kazhydromet import classify, header_field, parse_numbers, post_registry
from forecasting.sources.numbers import parse_date, parse_number
from forecasting.storage import open_store

pytestmark = pytest.mark.excerpt  # runs on tests/fixtures/real_excerpt where ../shared is absent

FIX = Path(__file__).resolve().parent / "fixtures" / "kazhydromet"
PORTAL = FIX / "portal"


def _value(obs: pd.DataFrame, sid: str, day: str, var: str = "discharge_m3s") -> pd.Series:
    return obs[(obs["station_id"] == sid) & (obs["date"] == pd.Timestamp(day)) & (obs["variable"] == var)]


@pytest.fixture(scope="module")
def portal():
    return get_adapter("kazhydromet").read(PORTAL)


# --- cells -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        ("12,5", "value", 12.5),
        ("0,012", "value", 0.012),
        ("1 140,0", "value", 1140.0),
        ("1\u00a0140", "value", 1140.0),
        ("1.140,5", "value", 1140.5),
        ("-3,5", "value", -3.5),
        ("\u22123,5", "value", -3.5),  # the Unicode minus sign
        ("нб", "noflow", 0.0),
        ("НБ", "noflow", 0.0),
        ("-", "missing", None),
        ("", "missing", None),
        ("3О,5", "bad", None),  # Cyrillic О typed for zero
        ("12,5,3", "bad", None),
        (7.25, "value", 7.25),
    ],
)
def test_parse_number(raw, kind, value):
    cell = parse_number(raw)
    assert cell.kind == kind
    assert cell.value == value


def test_parse_date_both_forms_and_invalid_days():
    assert str(parse_date("01.04.2024")) == "2024-04-01"
    assert str(parse_date("2024-04-21")) == "2024-04-21"
    assert str(parse_date("2024-04-21 00:00:00")) == "2024-04-21"
    assert str(parse_date("1.4.2024")) == "2024-04-01"
    assert parse_date("31.04.2024") is None
    assert parse_date("29.02.2023") is None
    assert str(parse_date("29.02.2024")) == "2024-02-29"
    assert parse_date("30.04.20") is None
    assert parse_date("апрель") is None


def test_headers_in_latin_russian_and_kazakh():
    assert [header_field(h) for h in ["basin", "water_object", "object_code", "post_name", "post_code"]] == [
        "basin",
        "water_object",
        "object_code",
        "post_name",
        "post_code",
    ]
    assert [header_field(h) for h in ["Бассейн", "Водный объект", "Код объекта", "Пост", "Код поста"]] == [
        "basin",
        "water_object",
        "object_code",
        "post_name",
        "post_code",
    ]
    assert header_field("Расход воды, м3/с") == "discharge"
    assert header_field("Уровень воды (см)") == "level"
    assert header_field("Бекет коды") == "post_code"
    assert header_field("Су деңгейі, см") == "level"
    assert header_field("Опасная отметка, см") == "level_danger_cm"
    assert header_field("Критическая отметка") == "level_extreme_cm"
    assert header_field("Неблагоприятная отметка") == "level_warning_cm"
    assert classify([["Код поста", "Дата", "Расход воды, м3/с"]]).label == "discharge"
    assert classify([["11432", "01.04.2024", "245", "Лд"]]).label == "level"
    assert classify([["11432", "2024-04-01", "12,5"]]).label == "discharge"
    assert classify([["date", "discharge_m3s"], ["2024-04-01", "1.0"]]) is None  # station-CSV is not ours


def test_registry_holds_the_kazflow85_posts():
    reg = post_registry()
    assert len(reg) == 30
    assert reg.loc["11432", "name"] == "Balkashino"
    assert reg.loc["11432", "lat"] == pytest.approx(52.5369)
    assert reg.loc["13148", "lon"] == pytest.approx(71.5667)
    assert set(reg["basin"]) == {"Ертіс", "Есіл", "Нұра-Сарысу"}


# --- the portal folder ------------------------------------------------------------------------------------------


def test_fixture_files_are_as_hydrologists_have_them():
    raw = (PORTAL / "discharge.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert b"\r\n" in raw and not raw.endswith(b"\n")
    assert (PORTAL / "posts.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_discharge_values_units_and_provenance(portal):
    obs = portal.observations
    q = obs[obs["variable"] == "discharge_m3s"]
    assert q["value"].dtype == np.float64
    # нб = no flow = 0 m3/s; decimal commas; the flood peak of the Kylshakty
    assert _value(q, "11432", "2024-04-01")["value"].tolist() == [0.0]
    assert _value(q, "11432", "2024-04-03")["value"].tolist() == [0.012]
    assert _value(q, "11432", "2024-04-13")["value"].tolist() == [61.3]
    # ISO dates in the same file
    assert _value(q, "11432", "2024-04-21")["value"].tolist() == [10.6]
    # thousands separated by a space
    assert _value(q, "13148", "2024-04-14")["value"].tolist() == [1130.0]
    # '-' is no observation: not stored and not quarantined
    assert _value(q, "11432", "2024-04-20").empty
    assert not any("20.04.2024" in r.raw for r in portal.quarantine)
    # provenance: 1-based line of discharge.csv (header on line 1)
    peak = _value(q, "11432", "2024-04-13").iloc[0]
    assert peak["source_row"] == 14 and peak["source_file"].endswith("discharge.csv")
    lines = (PORTAL / "discharge.csv").read_bytes().decode("cp1251").splitlines()
    assert lines[peak["source_row"] - 1] == "11432;13.04.2024;61,3"


def test_bad_rows_are_quarantined_with_file_line_and_field(portal):
    got = sorted((Path(r.file).name, r.line, r.field) for r in portal.quarantine)
    assert got == [
        ("discharge.csv", 17, "discharge"),  # '3О,5'
        ("discharge.csv", 19, None),  # four fields
        ("discharge.csv", 33, "date"),  # 31.04.2024
        ("discharge.csv", 66, None),  # truncated last line '13148;30.04.20'
    ]
    by_line = {r.line: r for r in portal.quarantine}
    assert "3О,5" in by_line[17].reason and by_line[17].raw == "11432;16.04.2024;3О,5"
    assert "too many fields" in by_line[19].reason
    assert "31.04.2024" in by_line[33].reason
    assert "truncated" in by_line[66].reason and by_line[66].raw == "13148;30.04.20"
    assert "line 17" in by_line[17].message() and "field 'discharge'" in by_line[17].message()


def test_duplicate_dates_reach_the_store_for_resolution(portal):
    q = portal.observations[portal.observations["variable"] == "discharge_m3s"]
    dup = _value(q, "11432", "2024-04-12")
    assert sorted(dup["value"]) == [57.9, 59.7]
    assert sorted(dup["source_row"]) == [13, 34]


def test_levels_keep_their_symbols(portal):
    h = portal.observations[portal.observations["variable"] == "water_level_cm"]
    assert len(h[h["station_id"] == "11432"]) == 29 and len(h[h["station_id"] == "13148"]) == 30
    row = _value(h, "11432", "2024-04-04", "water_level_cm").iloc[0]
    assert row["value"] == 125.0 and row["symbol"] == "≡"
    assert _value(h, "11432", "2024-04-08", "water_level_cm").iloc[0]["symbol"] == "Лд"
    assert _value(h, "11432", "2024-04-06", "water_level_cm").iloc[0]["symbol"] == "Зб"
    assert _value(h, "11432", "2024-04-02", "water_level_cm").iloc[0]["symbol"] == "Ледостав"
    assert _value(h, "11432", "2024-04-20", "water_level_cm").iloc[0]["symbol"] is None
    # ISO dates and a decimal comma in the level column of 13148
    assert _value(h, "13148", "2024-04-15", "water_level_cm")["value"].tolist() == [676.0]
    # day 1: level '-' with the symbol Ледостав: no value, the symbol is reported, not lost silently
    assert _value(h, "11432", "2024-04-01", "water_level_cm").empty
    assert any("Ледостав" in m and "line 2" in m for m in portal.messages)
    # discharge rows carry no symbol
    assert portal.observations.loc[portal.observations["variable"] == "discharge_m3s", "symbol"].isna().all()


def test_station_metadata_from_post_list_and_kazflow85(portal):
    st = portal.stations
    assert set(st.index) == {"11432", "13148", "11480"}
    b = st.loc["11432"]
    assert (b["name"], b["river"], b["basin"], b["country"]) == ("с. Балкашино", "р. Кылшакты", "Есіл", "KZ")
    assert (b["lat"], b["lon"]) == (pytest.approx(52.5369), pytest.approx(68.7892))
    assert np.isnan(b["level_danger_cm"])
    k = st.loc["13148"]
    assert k["basin"] == "Нұра"
    assert (k["level_warning_cm"], k["level_danger_cm"], k["level_extreme_cm"]) == (600.0, 650.0, 720.0)
    # the unknown post is kept, with a message naming the file and line
    assert st.loc["11480", "country"] == "KZ" and np.isnan(st.loc["11480", "lat"])
    assert len(_value(portal.observations, "11480", "2024-04-10")) == 1
    assert any("11480" in m and "not in the post list" in m and "line 35" in m for m in portal.messages)
    # a listed post without data is reported, not turned into an empty station
    assert any("11433" in m for m in portal.messages)


def test_headerless_files_are_told_apart_by_column_count():
    r = get_adapter("kazhydromet").read(FIX / "headerless")
    obs = r.observations
    assert len(obs[obs["variable"] == "discharge_m3s"]) == 10
    assert len(obs[obs["variable"] == "water_level_cm"]) == 9
    assert _value(obs, "11432", "2024-04-10")["value"].tolist() == [34.6]
    assert _value(obs, "11432", "2024-04-10", "water_level_cm").iloc[0]["symbol"] == "Лд"
    assert _value(obs, "11432", "2024-04-10")["source_row"].tolist() == [10]  # no header: line 1 is day 1
    assert sum("by count" in m for m in r.messages) == 2
    assert r.quarantine == []
    assert r.stations.loc["11432", "name"] == "Balkashino"  # no post list: the KazFlow85 name


def test_single_file_without_post_list_takes_kazflow85_metadata():
    r = get_adapter("kazhydromet").read(FIX / "single" / "13148_discharge.csv")
    assert len(r.observations) == 15 and r.quarantine == []
    assert _value(r.observations, "13148", "2024-04-15")["value"].tolist() == [1160.0]
    st = r.stations.loc["13148"]
    assert (st["name"], st["basin"], st["country"]) == ("Kievka", "Нұра-Сарысу", "KZ")
    assert st["lat"] == pytest.approx(50.2547)
    assert any("no post list" in m for m in r.messages)


def test_single_data_file_uses_the_post_list_beside_it():
    r = get_adapter("kazhydromet").read(PORTAL / "level.csv")
    assert r.stations.loc["11432", "name"] == "с. Балкашино"
    assert r.stations.loc["13148", "level_danger_cm"] == 650.0
    assert set(r.stations.index) == {"11432", "13148"}


# --- bad files (written here) ------------------------------------------------------------------------------------


def test_empty_and_foreign_files_in_a_folder_are_quarantined_the_rest_kept(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "blank.txt").write_text("\n\n  \n")
    (tmp_path / "notes.txt").write_text("Примечание: данные предварительные\n", encoding="utf-8")
    (tmp_path / "q.csv").write_text("\ufeffКод поста;Дата;Расход воды, м3/с\n13148;01.04.2024;6,10\n", encoding="utf-8")
    r = get_adapter("kazhydromet").read(tmp_path)
    reasons = {Path(q.file).name: q.reason for q in r.quarantine}
    assert reasons["empty.csv"] == "empty file" and reasons["blank.txt"] == "empty file"
    assert "not recognised" in reasons["notes.txt"]
    assert _value(r.observations, "13148", "2024-04-01")["value"].tolist() == [6.1]  # BOM header understood


def test_units_in_the_header_are_converted_or_rejected(tmp_path):
    (tmp_path / "ls.csv").write_text("Код поста;Дата;Расход воды, л/с\n11432;01.04.2024;120\n", encoding="cp1251")
    r = get_adapter("kazhydromet").read(tmp_path / "ls.csv")
    assert r.observations["value"].tolist() == [pytest.approx(0.12)]
    assert any("converted to m3/s" in m for m in r.messages)
    (tmp_path / "m.csv").write_text("post_code;date;level (m)\n11432;2024-04-01;2,45\n", encoding="utf-8")
    r = get_adapter("kazhydromet").read(tmp_path / "m.csv")
    assert r.observations["value"].tolist() == [pytest.approx(245.0)]
    (tmp_path / "bad.csv").write_text("Код поста;Дата;Расход воды, бочек/день\n11432;01.04.2024;3\n", encoding="utf-8")
    r = get_adapter("kazhydromet").read(tmp_path / "bad.csv")
    assert r.observations.empty
    assert len(r.quarantine) == 1 and "бочек/день" in r.quarantine[0].reason and r.quarantine[0].line == 1


def test_post_list_bad_marks_and_duplicates(tmp_path):
    (tmp_path / "posts.csv").write_text(
        "Бассейн;Водный объект;Код объекта;Пост;Код поста;Опасная отметка\n"
        "Нура;р. Нура;0131;с. Киевка;13148;65О\n"
        "Нура;р. Нура;0131;с. Киевка (дубль);13148;700\n"
        "Нура;р. Нура;0131;без кода;;700\n",
        encoding="cp1251",
    )
    (tmp_path / "h.csv").write_text("post_code;date;level;symbol\n13148;2024-04-01;248;Ледостав\n")
    r = get_adapter("kazhydromet").read(tmp_path)
    got = sorted((q.line, q.field) for q in r.quarantine)
    assert got == [(2, "level_danger_cm"), (4, "post_code")]
    st = r.stations.loc["13148"]
    assert st["name"] == "с. Киевка" and np.isnan(st["level_danger_cm"])
    assert any("listed twice" in m for m in r.messages)


# --- detection and the store -------------------------------------------------------------------------------------


def test_detect_format_picks_kazhydromet_and_station_csv_is_not_confused(tmp_path):
    for p in [PORTAL, *sorted(PORTAL.iterdir()), FIX / "headerless", FIX / "single" / "13148_discharge.csv"]:
        assert detect_format(p) == "kazhydromet", p
        assert not get_adapter("station-csv").detect(p)
        assert not get_adapter("kazhydromet-yearbook").detect(p)
    sc = tmp_path / "sc"
    sc.mkdir()
    (sc / "stations.csv").write_text("station_id,name,river,country,lat,lon,area_km2\nX,x,y,KZ,50,70,100\n")
    (sc / "X.csv").write_text("date,discharge_m3s\n2024-04-01,1.5\n")
    assert detect_format(sc) == "station-csv"
    assert not get_adapter("kazhydromet").detect(sc)
    assert not get_adapter("kazhydromet").detect(sc / "X.csv")


def test_detect_on_the_real_station_csv_folder(real_data):
    assert not get_adapter("kazhydromet").detect(real_data)
    assert detect_format(real_data) == "station-csv"


def test_ingest_portal_into_the_store(home):
    report = run_ingest(PORTAL, None, home)
    assert report.format == "kazhydromet"
    assert report.stations == ["11432", "11480", "13148"]
    # 4 bad rows + the later of the conflicting duplicates
    assert report.quarantined == 5
    assert report.kept == 119 - 1
    ds = open_store(home.observations)
    one = ds.sel(station="11432")
    assert float(one["discharge_m3s"].sel(time="2024-04-13")) == 61.3
    assert float(one["discharge_m3s"].sel(time="2024-04-01")) == 0.0
    assert np.isnan(float(one["discharge_m3s"].sel(time="2024-04-20")))
    # the duplicated date: first value kept and flagged, the other quarantined
    assert float(one["discharge_m3s"].sel(time="2024-04-12")) == 57.9
    assert int(one["discharge_m3s_qc"].sel(time="2024-04-12")) & flags.DUPLICATE
    assert any(q.line == 34 and "59.7" in q.reason for q in report.quarantine)
    # levels and their symbols
    assert float(one["water_level_cm"].sel(time="2024-04-14")) == 467.0
    sym = ds["water_level_cm_symbol"].sel(station="11432")
    assert str(sym.sel(time="2024-04-08").values) == "Лд"
    assert str(sym.sel(time="2024-04-04").values) == "≡"
    assert str(sym.sel(time="2024-04-20").values) == ""
    # provenance of a level: line 15 of level.csv (the peak of 14 April)
    src = ds["source_file"].values[int(one["water_level_cm_src"].sel(time="2024-04-14"))]
    assert str(src).endswith("level.csv") and int(one["water_level_cm_row"].sel(time="2024-04-14")) == 15
    # station metadata as coordinates
    assert str(one["name"].values) == "с. Балкашино" and str(one["basin"].values) == "Есіл"
    assert float(one["lat"]) == pytest.approx(52.5369)
    k = ds.sel(station="13148")
    assert float(k["level_danger_cm"]) == 650.0 and float(k["level_extreme_cm"]) == 720.0
    assert str(k["country"].values) == "KZ"
    # the quarantine file names the malformed cell
    text = Path(report.quarantine_file).read_text(encoding="utf-8")
    assert "3О,5" in text and "31.04.2024" in text
    # re-ingesting the same export changes nothing
    again = run_ingest(PORTAL, "kazhydromet", home)
    assert again.revised == 0
    assert open_store(home.observations)["discharge_m3s"].equals(ds["discharge_m3s"])


def test_spreadsheet_exports_padded_with_empty_cells(tmp_path):
    (tmp_path / "q.csv").write_bytes(
        "Код поста;Дата;Расход воды, м3/с;;\r\n11432;01.04.2024;12,5;;\r\n11432;02.04.2024;13,1\r\n".encode("cp1251")
    )
    (tmp_path / "posts.csv").write_text(
        "Бассейн;Водный объект;Код объекта;Пост;Код поста;;\nЕсіл;р. Кылшакты;0114;с. Балкашино;11432;;\n"
    )
    r = get_adapter("kazhydromet").read(tmp_path)
    assert r.quarantine == []
    assert r.observations["value"].tolist() == [12.5, 13.1]
    assert r.stations.loc["11432", "name"] == "с. Балкашино"


def test_post_list_alone_stores_nothing_and_says_why(home):
    r = get_adapter("kazhydromet").read(PORTAL / "posts.csv")
    assert r.observations.empty and set(r.stations.index) == {"11432", "11433", "13148"}
    assert any("post list only" in m for m in r.messages)
    report = run_ingest(PORTAL / "posts.csv", None, home)
    assert not report.ok and report.kept == 0
    assert open_store(home.observations) is None


def test_other_semicolon_tables_are_not_claimed_and_headerless_post_lists_are(tmp_path):
    survey = tmp_path / "survey.csv"
    survey.write_bytes(
        "Дата;Пункт;Высота снега, см;Плотность, г/см3;Запас воды, мм\r\n"
        "15.02.2024;Улькен Нарын, маршрут 1;45;0,24;108\r\n".encode("cp1251")
    )
    assert not get_adapter("kazhydromet").detect(survey)
    posts = tmp_path / "posts.txt"
    posts.write_text("Есіл;р. Кылшакты;0114;с. Балкашино;11432\nНұра;р. Нура;0131;с. Киевка;13148\n")
    assert get_adapter("kazhydromet").detect(posts)
    r = get_adapter("kazhydromet").read(posts)
    assert r.quarantine == [] and r.stations.loc["13148", "name"] == "с. Киевка"


def test_excel_unicode_text_export_utf16_with_tabs(tmp_path):
    text = "Код поста\tДата\tУровень воды, см\tСимвол\r\n11432\t08.04.2024\t226\tЛд\r\n11432\t09.04.2024\t284\t≡\r\n"
    path = tmp_path / "level.txt"
    path.write_bytes(text.encode("utf-16"))  # with its BOM, as Excel writes it
    assert detect_format(path) == "kazhydromet"
    r = get_adapter("kazhydromet").read(path)
    assert r.quarantine == []
    assert r.observations["value"].tolist() == [226.0, 284.0]
    assert r.observations["symbol"].tolist() == ["Лд", "≡"]


def test_vectorised_numbers_agree_with_the_cell_parser():
    cells = ["12,5", "12.5", "1 140,0", "1.140,5", "1,140.5", "нб", "-", "", "inf", "nan", "1e3", "3О,5", "12,5,3"]
    values, kinds = parse_numbers(np.array(cells, dtype=object))
    names = ["value", "missing", "noflow", "bad"]
    for raw, v, k in zip(cells, values, kinds, strict=True):
        cell = parse_number(raw)
        assert names[k] == cell.kind, raw
        assert (np.isnan(v) and cell.value is None) or v == cell.value, raw


def test_title_lines_above_the_table_are_skipped_and_reported(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes(
        "Ежедневные расходы воды\r\nГидропост 13148 с. Киевка\r\n\r\nКод поста;Дата;Расход воды, м3/с\r\n"
        "13148;01.04.2024;6,10\r\n13148;02.04.2024;6,45\r\n".encode("cp1251")
    )
    assert detect_format(path) == "kazhydromet"
    r = get_adapter("kazhydromet").read(path)
    assert r.quarantine == [] and r.observations["value"].tolist() == [6.1, 6.45]
    assert r.observations["source_row"].tolist() == [5, 6]
    assert any("2 title lines above the table skipped" in m for m in r.messages)
