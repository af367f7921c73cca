"""The `kazhydromet-yearbook` adapter on ЕДС-layout fixtures (tests/fixtures/yearbook) and an XLSX built from them.

balkashino_11432_2022_2023.csv: comma-separated UTF-8, two yearly tables of post 11432 (Kylshakty at
Balkashino), `нб` in winter, decimal points and one quoted decimal comma, summary rows (Средний/Наибольший/
Наименьший/Год..., Сред./Макс/Мин), a value on 30 II 2023, a malformed cell, a `-`.
kievka_13148_2021_cp1251.csv: semicolons, cp1251, CRLF, decimal commas, header typed with Cyrillic І and Х, blank
lines between the decades, a value on 31 IV, a malformed cell, summary rows Среднее/Наиб./Наим./Дата наиб.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from flows.ingest import run_ingest
from forecasting.sources import detect_format, get_adapter
from forecasting.sources.numbers import parse_number
from forecasting.sources.yearbook import ROMAN, header_months, month_of, parse_title
from forecasting.storage import open_store

FIX = Path(__file__).resolve().parent / "fixtures" / "yearbook"
BALK = FIX / "balkashino_11432_2022_2023.csv"
KIEV = FIX / "kievka_13148_2021_cp1251.csv"


def _day_line(path: Path, encoding: str, delim: str, year_marker: str, day: int) -> int:
    """1-based line of day `day` in the table whose title line contains `year_marker`."""
    lines = path.read_bytes().decode(encoding).splitlines()
    start = next(i for i, ln in enumerate(lines) if year_marker in ln)
    return next(i for i in range(start, len(lines)) if lines[i].split(delim)[0] == str(day)) + 1


def _series(obs: pd.DataFrame, sid: str) -> pd.Series:
    one = obs[obs["station_id"] == sid]
    return pd.Series(one["value"].to_numpy(), index=pd.DatetimeIndex(one["date"]))


@pytest.fixture(scope="module")
def balk():
    return get_adapter("kazhydromet-yearbook").read(BALK)


@pytest.fixture(scope="module")
def kiev():
    return get_adapter("kazhydromet-yearbook").read(KIEV)


def test_month_labels_and_titles():
    assert [month_of(x) for x in ["I", "ІV", "Х", "ХІІ", "янв.", "Сентябрь", "Ⅻ", "13", "Итого"]] == [
        1,
        4,
        10,
        12,
        1,
        9,
        12,
        None,
        None,
    ]
    assert header_months(["Число", *ROMAN]) == {m: m for m in range(1, 13)}
    assert header_months(["", "I", "III", "II"]) is None  # not in order
    t = parse_title(["Таблица 3.12. Ежедневные расходы воды, м3/с", "р. Нура – с. Киевка (13148)", "Год 2021"])
    assert (t.code, t.name, t.river, t.year, t.factor) == ("13148", "с. Киевка", "р. Нура", 2021, 1.0)
    t = parse_title(["р. Кылшакты – с. Балкашино, код поста 11432", "2022 г."])
    assert (t.code, t.name, t.river, t.year, t.factor) == ("11432", "с. Балкашино", "р. Кылшакты", 2022, None)
    assert parse_title(["Расходы воды, л/с. Пост 11163, 1985"]).factor == 1e-3


def test_two_years_of_one_post_from_a_comma_csv(balk):
    obs = balk.observations
    assert set(obs["station_id"]) == {"11432"} and set(obs["variable"]) == {"discharge_m3s"}
    q = _series(obs, "11432")
    assert q.index.min() == pd.Timestamp("2022-01-01") and q.index.max() == pd.Timestamp("2023-12-31")
    assert q.index.is_unique
    assert q[q.index.year == 2022].size == 365  # every day, 29 II left empty
    assert q[q.index.year == 2023].size == 363  # a '-' and a malformed cell fewer
    assert q["2022-01-01"] == 0.0  # нб
    assert q["2022-04-14"] == 24.1  # the quoted decimal comma
    assert q["2022-04-15"] == 24.7  # the flood peak
    assert q["2022-05-01"] == 2.55
    assert pd.Timestamp("2023-10-05") not in q.index  # '-': missing, not an error
    # summary rows are not read as days: monthly counts equal the days of the month
    counts = q[q.index.year == 2022].groupby(q[q.index.year == 2022].index.month).size()
    assert counts.tolist() == [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    # provenance: the row of the day in the file
    row = obs[obs["date"] == pd.Timestamp("2023-04-01")].iloc[0]
    assert row["source_row"] == _day_line(BALK, "utf-8", ",", "2023 г.", 1)
    assert obs[obs["date"] == pd.Timestamp("2022-01-01")].iloc[0]["source_row"] == 5


def test_comma_csv_quarantine_and_summary_messages(balk):
    got = sorted((r.line, r.field) for r in balk.quarantine)
    assert got == [
        (_day_line(BALK, "utf-8", ",", "2023 г.", 12), "VII (column 8)"),
        (_day_line(BALK, "utf-8", ",", "2023 г.", 30), "II (column 3)"),
    ]
    reasons = " | ".join(r.reason for r in balk.quarantine)
    assert "'1.2.3'" in reasons and "day 30 does not exist in II 2023" in reasons
    text = " | ".join(balk.messages)
    for word in ("Средний", "Наибольший", "Наименьший", "Год: средний", "Сред.", "Макс", "Мин"):
        assert word in text
    st = balk.stations.loc["11432"]
    assert (st["name"], st["river"], st["basin"], st["country"]) == ("с. Балкашино", "р. Кылшакты", "Есіл", "KZ")
    assert st["lat"] == pytest.approx(52.5369)


def test_cp1251_semicolon_table_with_lookalike_header(kiev):
    raw = KIEV.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert b"\r\n" in raw
    q = _series(kiev.observations, "13148")
    assert q.size == 363 and (q.index.year == 2021).all()
    assert q["2021-04-01"] == 9.9 and q["2021-12-31"] > 0
    assert q.max() == pytest.approx(352, rel=0.05)  # the April flood
    assert pd.Timestamp("2021-01-07") not in q.index  # '-'
    # the blank lines between decades do not shift the rows: day 11 is on its own line
    lines = raw.decode("cp1251").splitlines()
    r11 = kiev.observations[kiev.observations["date"] == pd.Timestamp("2021-01-11")].iloc[0]["source_row"]
    assert lines[r11 - 1].startswith("11;") and parse_number(lines[r11 - 1].split(";")[1]).value == q["2021-01-11"]
    got = sorted((r.line, r.field) for r in kiev.quarantine)
    assert got == [
        (_day_line(KIEV, "cp1251", ";", "Год 2021", 8), "VIII (column 9)"),
        (_day_line(KIEV, "cp1251", ";", "Год 2021", 31), "IV (column 5)"),
    ]
    assert any("day 31 does not exist in IV 2021" in r.reason for r in kiev.quarantine)
    assert any("Дата наиб." in m and "Среднее" in m for m in kiev.messages)
    assert kiev.stations.loc["13148", "name"] == "с. Киевка"


def _xlsx_from_csv(path: Path) -> Path:
    """A workbook as a hydrologist would retype the Balkashino tables: numbers as numbers, the table from column B,
    the second year titled only by its year (the post carries over), and a notes sheet."""
    rows = list(csv.reader(BALK.read_text(encoding="utf-8").splitlines()))
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "11432"
    for r in rows:
        if r and r[0].startswith("р. Кылшакты") and ws.max_row > 5:
            continue  # second title: only '2023 г.' remains
        out: list[object] = [None]
        for c in r:
            cell = parse_number(c)
            out.append(cell.value if cell.kind == "value" and c.strip() not in ("",) else (c or None))
        ws.append(out)
    notes = wb.create_sheet("Примечания")
    notes.append(["Значения 2023 г. предварительные"])
    target = path / "balkashino.xlsx"
    wb.save(target)
    return target


def test_xlsx_all_sheets_same_values_as_csv(balk, tmp_path):
    xlsx = _xlsx_from_csv(tmp_path)
    assert detect_format(xlsx) == "kazhydromet-yearbook"
    r = get_adapter("kazhydromet-yearbook").read(xlsx)
    a = _series(balk.observations, "11432")
    b = _series(r.observations, "11432")
    pd.testing.assert_series_equal(a.sort_index(), b.sort_index(), check_freq=False)
    assert set(r.observations["source_file"]) == {f"{xlsx}#11432"}
    # provenance: rows of the sheet (one title row fewer before the 2023 table than in the CSV)
    row = r.observations[r.observations["date"] == pd.Timestamp("2022-01-01")].iloc[0]["source_row"]
    assert row == 5
    # quarantined cells named by their column letter (the table starts in column B)
    assert sorted(q.field for q in r.quarantine) == ["II (column D)", "VII (column I)"]
    assert any("names no post" in m and "11432" in m for m in r.messages)
    assert any("Примечания" in m and "no yearbook table" in m for m in r.messages)


def _write(tmp_path: Path, name: str, lines: list[str], encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding=encoding)
    return p


HEADER = "День;I;II;III;IV;V;VI;VII;VIII;IX;X;XI;XII"


def _days(values: dict[int, str], n: int = 31) -> list[str]:
    return [f"{d};" + ";".join([values.get(d, "")] * 12) for d in range(1, n + 1)]


def test_bad_tables(tmp_path):
    # no year in the title: every row with values quarantined, nothing invented
    p = _write(
        tmp_path, "noyear.csv", ["р. Ульби – г. Риддер, код 11163, расходы воды, л/с", HEADER, *_days({1: "5"}, 2)]
    )
    r = get_adapter("kazhydromet-yearbook").read(p)
    assert r.observations.empty
    assert [(q.line, "gives no year" in q.reason) for q in r.quarantine] == [(3, True)]
    # l/s converted; day 32 and an unknown row with values quarantined; leap day of 2024 kept
    p = _write(
        tmp_path,
        "ls.csv",
        ["Расходы воды, л/с", "р. Ульби – г. Риддер (11163) 2024", HEADER, *_days({1: "1 250", 29: "800"}, 31)]
        + ["32;" + ";".join(["7"] * 12), "Пропуск;" + ";".join(["9"] * 12), "Наиб.;" + ";".join(["1 250"] * 12)],
    )
    r = get_adapter("kazhydromet-yearbook").read(p)
    q = _series(r.observations, "11163")
    assert q["2024-01-01"] == pytest.approx(1.25)
    assert q["2024-02-29"] == pytest.approx(0.8)
    assert any("l/s" in m for m in r.messages)
    reasons = {q.line: q.reason for q in r.quarantine}
    assert "day number 32" in reasons[35] and "not recognised" in reasons[36]
    assert 37 not in reasons  # Наиб. is a summary row
    # 29 II of a common year holding a value is quarantined
    p = _write(tmp_path, "c.csv", ["р. Ульби – г. Риддер (11163) 2023", HEADER, *_days({29: "3,1"}, 29)])
    r = get_adapter("kazhydromet-yearbook").read(p)
    assert len(r.observations) == 11 and [q.field for q in r.quarantine] == ["II (column 3)"]
    # a post named but without a code: the name becomes the station id, with a message
    p = _write(tmp_path, "n.csv", ["р. Тихая – г. Риддер, 1999 г.", HEADER, *_days({1: "2"}, 1)])
    r = get_adapter("kazhydromet-yearbook").read(p)
    assert set(r.observations["station_id"]) == {"г. Риддер"} and any("no post code" in m for m in r.messages)


def test_empty_and_foreign_files_are_quarantined(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "other.csv").write_text("date,discharge_m3s\n2024-01-01,1.0\n")
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    a = get_adapter("kazhydromet-yearbook")
    assert not a.detect(tmp_path)
    r = a.read(tmp_path)
    got = {Path(q.file).name: q.reason for q in r.quarantine}
    assert set(got) == {"empty.csv", "other.csv", "broken.xlsx"}
    assert got["empty.csv"] == "empty file" and "no yearbook table" in got["other.csv"]
    assert r.observations.empty


def test_detection_is_unambiguous():
    for p in (FIX, BALK, KIEV):
        assert detect_format(p) == "kazhydromet-yearbook"
        assert not get_adapter("kazhydromet").detect(p)
        assert not get_adapter("station-csv").detect(p)


def test_ingest_yearbooks_then_portal_export_into_one_store(home):
    report = run_ingest(FIX, None, home)
    assert report.format == "kazhydromet-yearbook"
    assert report.stations == ["11432", "13148"]
    assert report.kept == 728 + 363 and report.quarantined == 4
    ds = open_store(home.observations)
    assert float(ds["discharge_m3s"].sel(station="11432", time="2022-04-15")) == 24.7
    assert str(ds["name"].sel(station="13148").values) == "с. Киевка"
    assert float(ds["lat"].sel(station="13148")) == pytest.approx(50.2547)
    # the 2024 portal export appends to the same posts; the yearbook years stay
    portal = Path(__file__).resolve().parent / "fixtures" / "kazhydromet" / "portal"
    run_ingest(portal, "kazhydromet", home)
    ds = open_store(home.observations)
    q = ds["discharge_m3s"].sel(station="11432")
    assert float(q.sel(time="2022-04-15")) == 24.7 and float(q.sel(time="2024-04-13")) == 61.3
    assert np.isnan(float(q.sel(time="2024-01-15")))  # nothing invented between the sources
    assert str(ds["basin"].sel(station="11432").values) == "Есіл"


def test_sheet_names_give_a_missing_year_or_post(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "2019"
    ws.append(["р. Кылшакты – с. Балкашино, код 11432"])  # no year in the title: the sheet name gives it
    ws.append(["Число", *ROMAN])
    ws.append([1, *[0.5] * 12])
    ws2 = wb.create_sheet("11432")
    ws2.append(["р. Кылшакты – с. Балкашино, 2020 г."])  # a name but no code: the sheet name gives it
    ws2.append(["Число", *ROMAN])
    ws2.append([2, *["0,7"] * 12])
    path = tmp_path / "two.xlsx"
    wb.save(path)
    r = get_adapter("kazhydromet-yearbook").read(path)
    assert r.quarantine == []
    q = _series(r.observations, "11432")
    assert q.size == 24 and q["2019-03-01"] == 0.5 and q["2020-12-02"] == 0.7
    assert any("year 2019 taken from the name '2019'" in m for m in r.messages)
    assert any("post 11432 taken from the name '11432'" in m for m in r.messages)


def test_level_tables_are_levels_and_other_tables_are_not_discharge(tmp_path):
    lines = [
        "Ежедневные уровни воды над нулём графика, см",
        "р. Нура – с. Киевка (13148) 2021",
        HEADER,
        *_days({1: "248", 2: "251", 3: "нб"}, 3),
        "Ежедневная температура воды, °С",
        "р. Нура – с. Киевка (13148) 2021",
        HEADER,
        *_days({1: "0,2"}, 1),
        "Ежедневные расходы воды, м3/с",
        "р. Нура – с. Киевка (13148) 2021",
        HEADER,
        *_days({1: "6,1"}, 1),
    ]
    r = get_adapter("kazhydromet-yearbook").read(_write(tmp_path, "mixed.csv", lines))
    obs = r.observations
    h = obs[obs["variable"] == "water_level_cm"]
    q = obs[obs["variable"] == "discharge_m3s"]
    assert len(h) == 24 and h["value"].max() == 251.0 and h["value"].min() == 248.0  # 'нб' is not a level
    assert sum("is not a level" in m for m in r.messages) == 12
    assert len(q) == 12 and set(q["value"]) == {6.1}
    assert [(x.line, "температур" in x.reason) for x in r.quarantine] == [(10, True)]


def test_rows_with_values_are_never_swallowed_as_title_text(tmp_path):
    lines = [
        "р. Ульби – г. Риддер (11163) 2023",
        HEADER,
        *_days({1: "5"}, 1),
        "Примечание: лёд до 20 апреля",
        "Поправка;" + ";".join(["4,2"] * 12),
        "р. Ульби – г. Риддер (11163) 2024",
        HEADER,
        *_days({1: "6"}, 1),
    ]
    r = get_adapter("kazhydromet-yearbook").read(_write(tmp_path, "notes.csv", lines))
    assert [(q.line, "not recognised" in q.reason) for q in r.quarantine] == [(5, True)]
    q = _series(r.observations, "11163")
    assert q.size == 24 and q["2023-01-01"] == 5.0 and q["2024-01-01"] == 6.0


def test_old_workbooks_are_quarantined_with_a_hint(tmp_path):
    (tmp_path / "1985.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64)
    r = get_adapter("kazhydromet-yearbook").read(tmp_path)
    assert [(Path(q.file).name, "save it as .xlsx" in q.reason) for q in r.quarantine] == [("1985.xls", True)]
