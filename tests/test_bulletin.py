"""The daily bulletin (records.bulletin + bulletins/): PDF, XLSX and HTML of a published run of the real stations,
in kk, ru and en; the API, the command line and the files in the home; bad input.

The run is the real observations of ../shared/data/real (else the excerpt) with a synthetic forecast published
through records.publication (tests/dashboard_support.py): every level occurs and the Protva and the Chatkal have
no current data. The end-to-end run of the daily flow on real stations is in tests/test_bulletin_flow.py.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from records.accounts import ANONYMOUS, Principal
from tests.dashboard_support import (
    ISSUE_DATE,
    copy_home,
    prepared_store,
    publish_synthetic,
    session_factory,
    settings_for,
)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
KAZAKH_LETTERS = "әғқңөұүһі"
pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def published(real_data, tmp_path_factory):
    """A home with every real station, a published synthetic run of ISSUE_DATE, and its bulletin."""
    from bulletins.files import home_bulletin

    home = copy_home(prepared_store(real_data), tmp_path_factory.mktemp("bulletin") / "home")
    settings = settings_for(home)
    run_id = publish_synthetic(home, settings)
    with session_factory(settings)() as s:
        content = home_bulletin(home.root, s, ISSUE_DATE)
    return home, settings, run_id, content


def pdf_text(data: bytes) -> list[str]:
    from pypdf import PdfReader

    return [p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages]


def test_content_lists_every_station_with_its_level_or_state(published):
    home, _, run_id, b = published
    from forecasting.storage import open_store

    store = open_store(home.observations)
    ids = {str(s) for s in store["station"].values}
    assert {s.station_id for s in b.stations} == ids
    assert b.run_id == run_id and b.issue_date == ISSUE_DATE and b.review_status == "unreviewed"
    stale = {s.station_id: s for s in b.no_level}
    assert set(stale) == {"PROTVA_SZ", "UZ16279_chatkal_khudaydod"} & ids
    for s in stale.values():
        assert s.level is None and s.state == "stale" and s.reason.startswith("no current data")
    for s in b.stations:
        if s.level is not None:
            assert s.state == "ok" and len(s.leads) == 7
            q = [(ld.q_low, ld.q_median, ld.q_high) for ld in s.leads]
            assert all(lo <= m <= hi for lo, m, hi in q)
            assert [ld.valid_date for ld in s.leads] == [ISSUE_DATE + dt.timedelta(days=k) for k in range(1, 8)]
            assert {th.kind for th in s.thresholds} == {"warning", "danger", "extreme"}
    levels = {s.level for s in b.stations}
    assert {0, 1, 2, 3} <= levels  # GROWTH makes every level occur
    assert b.basins[0].level == 3 and b.basins[-1].level is None  # highest first, no-data basins last
    plessur = next(s for s in b.stations if s.station_id == "CH2185")
    assert plessur.obs_date == ISSUE_DATE and plessur.discharge_m3s is not None
    assert plessur.discharge_change_m3s is not None and len(plessur.history) >= 25


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_pdf_a4_with_labels_every_station_and_page_footer(published, lang):
    from pypdf import PdfReader

    from bulletins import render
    from bulletins.text import Words

    _, _, run_id, b = published
    data = render(b, "pdf", lang)
    reader = PdfReader(io.BytesIO(data))
    pages = [p.extract_text() for p in reader.pages]
    for p in reader.pages:  # A4 portrait, in points
        assert abs(float(p.mediabox.width) - 595.28) < 1 and abs(float(p.mediabox.height) - 841.89) < 1
    text = "\n".join(pages)
    labels = {
        "kk": ["Күнделікті гидрологиялық бюллетень", "Қауіптілік дәрежесі", "Алаптар бойынша жиынтық"],
        "ru": ["Ежедневный гидрологический бюллетень", "Степень опасности", "Сводка по бассейнам"],
        "en": ["Daily hydrological bulletin", "Risk level", "Summary by basin"],
    }[lang]
    for label in labels:
        assert label in text, label
    w = Words(lang)
    flat = " ".join(text.split())
    for s in b.stations:  # the heading "<name> — <river> (<id>)" beside its level (or state) badge
        at = flat.find(f"({s.station_id})")
        assert at > 0 and " ".join(s.name.split())[:25] in flat[max(0, at - 200) : at], s.station_id
        assert w.level(s.level, s.state) in flat[max(0, at - 250) : at + 60], (s.station_id, flat[at - 250 : at + 60])
    # every page: the service, the run id and "page k of n"
    n = len(pages)
    for k, page in enumerate(pages, start=1):
        footer = w.footer(b, k, n)
        assert footer.replace(" ", "") in page.replace(" ", "").replace("\n", ""), (k, page[-200:])
    assert run_id in pages[-1]


def test_pdf_renders_every_kazakh_letter_with_the_shipped_font(published):
    """A station named with the nine Kazakh letters comes back out of the PDF as those letters (the DejaVu font
    of matplotlib has their glyphs; nothing was downloaded)."""
    from fontTools.ttLib import TTFont

    from bulletins import render
    from bulletins.pdf import font_files

    cmap = TTFont(str(font_files()[""])).getBestCmap()
    assert all(ord(c) in cmap and ord(c.upper()) in cmap for c in KAZAKH_LETTERS)
    _, _, _, b = published
    b2 = b.model_copy(deep=True)
    name = "Үлкен Өзен: " + KAZAKH_LETTERS + " " + KAZAKH_LETTERS.upper()
    b2.basins[0].stations[0].name = name
    text = "\n".join(pdf_text(render(b2, "pdf", "kk")))
    assert KAZAKH_LETTERS in text and KAZAKH_LETTERS.upper() in text


def test_pdf_first_page_screenshot(published):
    """The first page of the Kazakh PDF as a PNG (tests/artifacts/bulletin-kk-page1.png) where poppler-utils'
    pdftoppm is installed; pdftotext reads the same labels as pypdf."""
    from bulletins import render

    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdftoppm, pdftotext) not installed")
    _, _, _, b = published
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "bulletin-kk.pdf"
    pdf.write_bytes(render(b, "pdf", "kk"))
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(pdf),
            str(ARTIFACTS / "bulletin-kk-page1"),
        ],
        check=True,
    )
    png = ARTIFACTS / "bulletin-kk-page1.png"
    assert png.stat().st_size > 20_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Күнделікті гидрологиялық бюллетень" in text and "Қауіптілік" in text


def test_xlsx_one_row_per_station_and_lead_with_marks_beside(published):
    import openpyxl

    from bulletins import render
    from bulletins.text import Words

    _, _, _, b = published
    wb = openpyxl.load_workbook(io.BytesIO(render(b, "xlsx", "ru")))
    assert wb.sheetnames[0] == "Сводка" and len(wb.sheetnames) == 1 + len(b.basins)
    summary = wb["Сводка"]
    assert summary.freeze_panes is not None
    seen: dict[tuple[str, int | None], int] = {}
    for basin, name in zip(b.basins, wb.sheetnames[1:], strict=True):
        ws = wb[name]
        assert ws.freeze_panes == "C2"
        head = [c.value for c in ws[1]]
        assert head[0] == "Код поста" and "P: опасная отметка" in head and "опасная отметка" in head
        lead_col = head.index(Words("ru").t("col.lead"))
        for row in ws.iter_rows(min_row=2):
            sid, lead = row[0].value, row[lead_col].value
            seen[(sid, lead)] = seen.get((sid, lead), 0) + 1
            st = next(s for s in basin.stations if s.station_id == sid)
            if lead is not None:
                ld = st.leads[lead - 1]
                assert row[15].value == pytest.approx(ld.q_median) and row[15].number_format == "#,##0.00"
                p = row[head.index("P: опасная отметка")]
                assert p.value == pytest.approx(ld.p_exceed["danger"]) and p.number_format == "0%"
                danger = next(th for th in st.thresholds if th.kind == "danger")
                assert row[head.index("опасная отметка")].value == pytest.approx(danger.value)
            else:
                assert st.leads == []
    expected = {(s.station_id, ld.lead) for s in b.stations for ld in s.leads} | {
        (s.station_id, None) for s in b.stations if not s.leads
    }
    assert set(seen) == expected and set(seen.values()) == {1}


def test_xlsx_text_is_never_a_formula(published):
    import openpyxl

    from bulletins import render

    _, _, _, b = published
    b2 = b.model_copy(deep=True)
    st = b2.basins[0].stations[0]
    st.name = '=HYPERLINK("http://example.invalid","x")'
    ws = openpyxl.load_workbook(io.BytesIO(render(b2, "xlsx", "en"))).worksheets[1]
    cell = ws.cell(row=2, column=2)
    assert cell.value == st.name and cell.data_type == "s"


def test_html_prints_on_a4_and_lists_every_station(published):
    from bulletins import render

    _, _, run_id, b = published
    html = render(b, "html", "kk").decode()
    assert "size: A4 portrait" in html and "@media print" in html and "counter(pages)" in html
    assert "<script" not in html and "http" not in html.split("<body>")[1].replace("http://www.w3.org/2000/svg", "")
    for s in b.stations:
        assert f'data-station="{s.station_id}"' in html
    assert run_id in html and "Қауіптілік дәрежесі" in html
    assert html.count('<svg class="thumb"') >= len([s for s in b.stations if s.history or s.leads])


def test_basin_limited_reader_gets_its_basins_only(published):
    from bulletins import render
    from records.bulletin import bulletin_for
    from records.published import station_infos

    home, settings, _, full = published
    from forecasting.storage import open_store

    store = open_store(home.observations)
    limited = Principal("akimat-albula", "akimat", frozenset({"CH2141"}), "key")
    with session_factory(settings)() as s:
        b = bulletin_for(s, ISSUE_DATE, limited, station_infos(store), None, store, home.root)
    assert [x.basin_id for x in b.basins] == ["CH2141"] and b.scope == ["CH2141"]
    assert {x.station_id for x in b.stations} == {"CH2141"}
    text = "\n".join(pdf_text(render(b, "pdf", "en")))
    assert "CH2141" in text and "CH2185" not in text and "Plessur" not in text
    assert len(full.basins) > 1


def test_only_published_runs_make_a_bulletin(published, tmp_path):
    from records.bulletin import BulletinNotFound, bulletin_for

    home, settings, _, _ = published
    draft_day = dt.date(2020, 6, 2)
    publish_synthetic(home, settings, issue_date=draft_day, publish=False)
    reviewer = Principal("aigul", "hydrologist", None, "session")
    with session_factory(settings)() as s:
        for who in (ANONYMOUS, reviewer):
            with pytest.raises(BulletinNotFound, match="no published forecast for issue date 2020-06-02"):
                bulletin_for(s, draft_day, who, {}, None)
        assert bulletin_for(s, None, reviewer, {}, None).issue_date == ISSUE_DATE  # newest *published*


def test_files_named_by_run_and_never_overwritten(real_data, tmp_path):
    from bulletins.files import bulletin_dir, home_bulletin, write_bulletins

    home = copy_home(prepared_store(real_data), tmp_path / "home")
    settings = settings_for(home)
    run_id = publish_synthetic(home, settings)
    with session_factory(settings)() as s:
        b = home_bulletin(home.root, s, ISSUE_DATE)
    first = write_bulletins(home.root, b, langs=["ru"], formats=["pdf", "xlsx"])
    assert len(first["written"]) == 2 and all(run_id in p.name for p in first["written"])
    before = {p: p.read_bytes() for p in first["written"]}
    again = write_bulletins(home.root, b, langs=["ru"], formats=["pdf", "xlsx"])
    assert again["written"] == [] and sorted(again["kept"]) == sorted(first["written"])
    assert all(p.read_bytes() == data for p, data in before.items())
    rerun = publish_synthetic(home, settings, growth={"CH2141": 1.0}, run_id="rerun-same-day")
    with session_factory(settings)() as s:
        b2 = home_bulletin(home.root, s, ISSUE_DATE)
    assert b2.run_id == rerun
    second = write_bulletins(home.root, b2, langs=["ru"], formats=["pdf"])
    assert [p.name for p in second["written"]] == [f"bulletin-{ISSUE_DATE}-{rerun}-r1-ru.pdf"]
    assert all(p.read_bytes() == data for p, data in before.items())  # the first run's files are untouched
    names = sorted(p.name for p in bulletin_dir(home.root, ISSUE_DATE).iterdir())
    assert len(names) == 3 and not any(n.startswith(".") for n in names)


# --- the API --------------------------------------------------------------------------------------------------


@pytest.fixture()
def api(real_data, tmp_path):
    from records import accounts
    from service.app import create_app

    home = copy_home(prepared_store(real_data), tmp_path / "home")
    settings = settings_for(home)
    run_id = publish_synthetic(home, settings)
    publish_synthetic(home, settings, issue_date=dt.date(2020, 6, 2), publish=False)
    with session_factory(settings)() as s:
        key, _ = accounts.create_api_key(s, "akimat-albula", "akimat", ["CH2141"])
        hydro, _ = accounts.create_api_key(s, "hydro", "hydrologist")
        s.commit()
    with TestClient(create_app(settings)) as c:
        yield c, run_id, key, hydro, settings


def test_api_serves_pdf_and_xlsx_under_the_access_rules(api):
    import openpyxl

    c, run_id, key, hydro, _ = api
    r = c.get("/api/v1/bulletins/2020-06-01.pdf?lang=kk")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert run_id in r.headers["content-disposition"]
    assert "Күнделікті гидрологиялық бюллетень" in "\n".join(pdf_text(r.content))
    x = c.get("/api/v1/bulletins/2020-06-01.xlsx")
    assert x.status_code == 200 and "attachment" in x.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(x.content))
    assert wb.sheetnames[0] == "Сводка"
    h = c.get("/api/v1/bulletins/2020-06-01.html?lang=en")
    assert h.status_code == 200 and "Daily hydrological bulletin" in h.text
    limited = c.get("/api/v1/bulletins/2020-06-01.pdf?lang=en", headers={"Authorization": f"Bearer {key}"})
    text = "\n".join(pdf_text(limited.content))
    assert limited.status_code == 200 and "CH2141" in text and "CH2185" not in text
    lx = c.get("/api/v1/bulletins/2020-06-01.xlsx", headers={"Authorization": f"Bearer {key}"})
    assert openpyxl.load_workbook(io.BytesIO(lx.content)).sheetnames == ["Сводка", "Albula"]


def test_api_bad_input(api):
    c, _, _, hydro, _ = api
    r = c.get("/api/v1/bulletins/2020-06-02.pdf", headers={"Authorization": f"Bearer {hydro}"})
    assert r.status_code == 404 and r.json()["detail"] == "no published forecast for issue date 2020-06-02"
    assert c.get("/api/v1/bulletins/2021-01-01.xlsx").status_code == 404
    bad_lang = c.get("/api/v1/bulletins/2020-06-01.pdf?lang=de")
    assert bad_lang.status_code == 422 and "unsupported language 'de'" in bad_lang.json()["detail"]
    assert "ru, kk, en" in bad_lang.json()["detail"]
    assert c.get("/api/v1/bulletins/2020-06-01.docx").status_code == 422
    bad_date = c.get("/api/v1/bulletins/2020-13-01.pdf")
    assert bad_date.status_code == 422 and "YYYY-MM-DD" in bad_date.json()["detail"]


def test_api_bulletin_needs_a_key_when_anonymous_reading_is_off(real_data, tmp_path):
    from service.app import create_app

    home = copy_home(prepared_store(real_data), tmp_path / "home")
    settings = settings_for(home, anonymous_read=False)
    publish_synthetic(home, settings)
    with TestClient(create_app(settings)) as c:
        assert c.get("/api/v1/bulletins/2020-06-01.pdf").status_code == 401


def test_runs_page_links_the_bulletin_of_a_published_run(api):
    c, run_id, _, _, _ = api
    page = c.get("/runs?lang=kk").text
    row = page[page.index(f'data-run="{run_id}"') :][:3000]
    assert 'href="/api/v1/bulletins/2020-06-01.pdf?lang=kk"' in row
    assert re.search(r"Бюллетень \(PDF\)", row)


# --- the command line -------------------------------------------------------------------------------------------


def test_cli_bulletin(published, tmp_path):
    import openpyxl

    from flows.cli import app

    home, _, run_id, _ = published
    out = tmp_path / "b.xlsx"
    res = CliRunner().invoke(
        app, ["bulletin", "--home", str(home.root), "--lang", "kk", "--format", "xlsx", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert openpyxl.load_workbook(out).sheetnames[0] == "Жиынтық"
    res = CliRunner().invoke(app, ["bulletin", "--home", str(home.root), "--issue-date", "2020-06-01"])
    assert res.exit_code == 0, res.output
    assert f"bulletin-2020-06-01-{run_id}" in res.output.replace("\n", "") or "exists" in res.output
    bad = CliRunner().invoke(app, ["bulletin", "--home", str(home.root), "--lang", "de"])
    assert bad.exit_code == 2 and "unsupported language 'de'" in bad.output
    none = CliRunner().invoke(app, ["bulletin", "--home", str(home.root), "--issue-date", "1999-01-01"])
    assert none.exit_code == 1 and "no published forecast for issue date 1999-01-01" in none.output


def test_lead_tables_are_what_the_station_forecast_view_says(published):
    """The bulletin reads the forecast file in bulk; per station it gives what records.published's station
    forecast view (the API's and the station page's) gives: quantiles, probabilities, lead levels, marks."""
    from bulletins.files import forecast_loader
    from forecasting.storage import open_store
    from records.bulletin import bulletin_run
    from records.published import station_forecast_view, station_infos

    home, settings, _, b = published
    infos = station_infos(open_store(home.observations))
    with session_factory(settings)() as s:
        run = bulletin_run(s, ANONYMOUS, ISSUE_DATE)
        ds = forecast_loader(home.root)(run)
        for st in b.stations:
            view = station_forecast_view(s, run, ds, st.station_id, infos, None, observation_days=0)
            assert [ld.lead for ld in st.leads] == [ld.lead for ld in view.leads]
            for mine, theirs in zip(st.leads, view.leads, strict=True):
                assert (mine.q_low, mine.q_median, mine.q_high) == tuple(theirs.quantiles[k] for k in b.quantiles)
                assert mine.p_exceed == theirs.p_exceed and mine.level == theirs.level
                wl = theirs.water_level_quantiles or {}
                assert (mine.h_low, mine.h_median, mine.h_high) == tuple(wl.get(k) for k in b.quantiles)
            assert [t.model_dump() for t in st.thresholds] == [t.model_dump() for t in view.thresholds]
