"""The spring flood outlook on the basin page: two real Swiss stations (measured basin SWE from 1998), the outlook of
1 March 2019 computed by flows.outlook.run_outlook, a published synthetic forecast of 15 March 2019; the sentence
with % of normal and the peak range in ru/kk/en, the numbers the API gives, the SWE-vs-climatology SVG, and basin
pages without a current outlook (none yet, season over, no result) rendering with at most a one-line note."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service import i18n
from tests import dashboard_support as ds

STATIONS = ["CH2141", "CH2185"]
RUN_DATE = dt.date(2019, 3, 15)
OUTLOOK_DATE = "2019-03-01"
CHROMIUM = os.environ.get("TASQYN_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def outlook_home(real_data, tmp_path_factory):
    from flows.outlook import run_outlook

    h = ds.copy_home(ds.prepared_store(real_data, STATIONS), tmp_path_factory.mktemp("dash-outlook") / "home")
    settings = ds.settings_for(h)
    ds.publish_synthetic(h, settings, issue_date=RUN_DATE)
    _, doc = run_outlook(OUTLOOK_DATE, h)
    _, late = run_outlook("2019-08-15", h)  # after the flood season (March-July): no result for any basin
    return h, settings, doc, late


@pytest.fixture(scope="module")
def client(outlook_home):
    from service.app import create_app

    _, settings, _, _ = outlook_home
    with TestClient(create_app(settings)) as c:
        yield c


def _peak_range(basin: dict, lang: str) -> str:
    from forecasting.outlook import _round

    low, high = _round(basin["peak"]["low"]), _round(basin["peak"]["high"])
    if lang != "en":
        low, high = low.replace(".", ","), high.replace(".", ",")
    return f"{low}–{high}"


def test_basin_page_shows_the_outlook_in_three_languages(client, outlook_home):
    _, _, doc, _ = outlook_home
    words = {"en": "of normal", "ru": "нормы", "kk": "норманың"}
    units = {"en": "m³/s", "ru": "м³/с", "kk": "м³/с"}
    for sid in STATIONS:
        basin = doc["basins"][sid]
        assert basin["status"] == "ok", basin
        vol = basin["volume"]
        pct = f"{vol['pct_of_norm']:.0f}%"
        band = f"{vol['pct_low']:.0f}–{vol['pct_high']:.0f}%"
        assert 50 < vol["pct_of_norm"] < 250 and vol["pct_low"] < vol["pct_of_norm"] < vol["pct_high"]
        for lang in ("ru", "kk", "en"):
            r = client.get(f"/basins/{sid}?lang={lang}")
            assert r.status_code == 200, r.text
            html = r.text
            sentence = re.search(r'<p class="phrase-big" id="outlook-sentence">([^<]+)</p>', html)
            assert sentence, html
            text = sentence.group(1)
            assert pct in text and band in text and words[lang] in text, text
            assert f"{_peak_range(basin, lang)} {units[lang]}" in text, text
            assert i18n.t("outlook.title", lang) in html
            assert i18n.format_date(dt.date(2019, 3, 1), lang) in html  # the outlook's issue date
            assert i18n.format_date(dt.date(2019, 7, 31), lang) in html  # the end of the flood season
            # the SWE chart: this season's line, the climatological median and 10-90% band, the issue line
            svg = re.search(r'<svg class="hydrograph swe-chart".*?</svg>', html, re.S)
            assert svg, "no SWE chart"
            svg = svg.group(0)
            assert 'class="band90 climband"' in svg and 'class="median climmedian"' in svg
            assert i18n.t("outlook.swe_units", lang) in svg
            assert i18n.t("outlook.swe_median", lang) in html and i18n.t("outlook.swe_band", lang) in html
        assert basin["swe_climatology"]["source"] == "measured"


def test_swe_chart_follows_the_outlook_data(client, outlook_home):
    """This season's SWE is drawn from 1 October up to the day before the issue date, never after it; the
    climatology over the whole season; the volume table agrees with the API's numbers."""
    _, _, doc, _ = outlook_home
    html = client.get("/basins/CH2141?lang=en").text
    svg = re.search(r'<svg class="hydrograph swe-chart".*?</svg>', html, re.S).group(0)
    current = [len(m.split()) for m in re.findall(r'<polyline class="observed swe-current" points="([^"]+)"', svg)]
    days = doc["basins"]["CH2141"]["swe_climatology"]["days"]
    expected = sum(1 for d in days if d["current"] is not None)
    assert sum(current) == expected and expected == (dt.date(2019, 3, 1) - dt.date(2018, 10, 1)).days
    issue_x = float(re.search(r'<line class="issue" x1="([\d.]+)"', svg).group(1))
    last_x = max(
        float(p.split(",")[0])
        for m in re.findall(r'<polyline class="observed swe-current" points="([^"]+)"', svg)
        for p in m.split()
    )
    assert last_x < issue_x
    api = client.get("/api/v1/basins/CH2141/outlook?issue_date=2019-03-15").json()
    table = re.search(r'<table class="grid num" id="outlook-table">.*?</table>', html, re.S).group(0)
    assert i18n.format_number(api["volume"]["value"], "en") in table
    assert i18n.format_number(api["peak"]["norm"], "en") in table
    assert i18n.format_pct(api["skill"]["volume"]["accuracy_p"]) in html  # the cross-validated accuracy
    # the API's English text and the page's sentence give the same numbers
    assert f"{api['volume']['pct_of_norm']:.0f}% of normal" in api["text"]
    assert _peak_range(api, "en").replace("–", "-") + " m3/s" in api["text"]


def test_basin_pages_without_a_current_outlook_render(client):
    # before the first outlook: nothing at all
    r = client.get("/basins/CH2141?lang=ru&issue_date=2019-02-01")
    assert r.status_code == 200 and 'id="basin-stations"' in r.text
    assert 'id="outlook"' not in r.text and 'id="outlook-note"' not in r.text and "swe-chart" not in r.text
    # the outlook issued after the flood season has no result: one line, no error
    r = client.get("/basins/CH2185?lang=en&issue_date=2019-08-20")
    assert r.status_code == 200
    note = re.search(r'<p class="muted" id="outlook-note">([^<]+)</p>', r.text).group(1)
    assert note.startswith("No spring flood outlook for this basin on 15 August 2019") and "swe-chart" not in r.text
    # a basin that no outlook covers
    r = client.get("/basins/NOPE?lang=kk")
    assert r.status_code == 404 and "outlook" not in r.text


def test_outlook_of_a_past_season_is_one_line(outlook_home, tmp_path):
    """Only outlooks up to 1 March 2019 exist; on 1 September 2019 that season is over: a one-line note."""
    from service.pages.outlook_view import outlook_view

    h, _, _, _ = outlook_home
    (tmp_path / "outlooks").mkdir()
    (tmp_path / "outlooks" / f"{OUTLOOK_DATE}.json").write_bytes(
        (h.root / "outlooks" / f"{OUTLOOK_DATE}.json").read_bytes()
    )
    from forecasting.home import Home

    view = outlook_view(Home(tmp_path), "CH2141", dt.date(2019, 9, 1), "ru")
    assert view == {
        "note": "Последний прогноз весеннего половодья (выпущен 1 марта 2019\u202fг.) относился к "
        "периоду до 31 июля 2019\u202fг."
    }  # fmt: skip (CLDR dates: a narrow no-break space before г.)
    assert outlook_view(Home(tmp_path), "CH2141", dt.date(2019, 2, 28), "ru") is None
    assert outlook_view(Home(tmp_path), "OTHER", dt.date(2019, 3, 2), "ru") is None
    # a new outlook file is seen at once (the page's reader is cached only while the files are unchanged)
    doc = json.loads((tmp_path / "outlooks" / f"{OUTLOOK_DATE}.json").read_text(encoding="utf-8"))
    doc["issue_date"] = "2019-02-01"
    (tmp_path / "outlooks" / "2019-02-01.json").write_text(json.dumps(doc), encoding="utf-8")
    view = outlook_view(Home(tmp_path), "CH2141", dt.date(2019, 2, 28), "en")
    assert view is not None and view["issue_date"] == dt.date(2019, 2, 1) and "of normal" in view["sentence"]


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"chromium not found at {CHROMIUM}")
def test_browser_screenshot_of_the_basin_outlook(outlook_home):
    from playwright.sync_api import sync_playwright

    from tests.test_browser import ARGS

    _, settings, _, _ = outlook_home
    ARTIFACTS.mkdir(exist_ok=True)
    with ds.LiveServer(settings) as srv, sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = b.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{srv.url}/basins/CH2141?lang=ru")
        # the SWE chart is interactive (chart_app.js over the same data); the server's SVG stays for print
        page.wait_for_selector("#swe-chart-app[data-ready='1']")
        box = page.locator("#swe-chart-app canvas").first.bounding_box()
        assert box is not None and box["width"] > 500 and box["height"] > 120
        assert page.locator("#swe-chart-app .tq-print-only svg.swe-chart").count() == 1
        legend = page.locator("#swe-chart-app .tq-legend").inner_text()
        assert "Текущий сезон" in legend and page.evaluate("TasqynCharts.map(u => u.axes[1].label)") == ["мм"]
        page.locator("#outlook").screenshot(path=str(ARTIFACTS / "basin-outlook.png"))
        b.close()
    assert errors == []
