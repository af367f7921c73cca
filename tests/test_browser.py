"""Browser tests: Playwright driving Debian's Chromium against the service on loopback (10 real stations, a
published synthetic forecast). The map renders with coloured stations; a click on a station point opens its page
with the hydrograph; a hydrologist logs in, overrides a level with a reason and approves; the akimat view shows the
override. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from records import accounts as auth
from service import i18n
from tests import dashboard_support as ds

CHROMIUM = os.environ.get("TASQYN_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.realdata,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"chromium not found at {CHROMIUM}: apt-get install chromium"
    ),
]


@pytest.fixture(scope="module")
def server(real_data, tmp_path_factory):
    h = ds.copy_home(ds.prepared_store(real_data), tmp_path_factory.mktemp("browser") / "home")
    settings = ds.settings_for(h)
    ds.publish_synthetic(h, settings)
    with ds.session_factory(settings)() as s:
        auth.add_user(s, "hydro1", "river-pass-1", "hydrologist")
        auth.add_user(s, "akim1", "akim-pass-1", "akimat")
        s.commit()
    with ds.LiveServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _login(page, url: str, user: str, password: str) -> None:
    page.goto(f"{url}/login?lang=en")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(f"{url}/")


def _circle_fill(page, sid: str) -> str:
    return page.eval_on_selector(f'circle[data-station="{sid}"]', "e => getComputedStyle(e).fill")


def _rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return f"rgb({int(h[0:2], 16)}, {int(h[2:4], 16)}, {int(h[4:6], 16)})"


def test_map_click_override_and_akimat_view(server, browser):
    url = server.url
    ctx = browser.new_context(viewport={"width": 1400, "height": 950})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    external: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(url) or r.url.startswith("data:") else external.append(r.url))

    # 1. the interactive map renders (Leaflet over the offline layers) with the stations coloured by level (0-3 all
    # present); the server's SVG stays in the page for print; the Protva (no coordinates) is listed beside it
    page.goto(f"{url}/?lang=en")
    page.wait_for_selector("#map-app[data-ready='1']")
    assert page.evaluate("Object.keys(TasqynMap.markers).length") == 9
    classes = page.evaluate("Object.values(TasqynMap.markers).map(m => m.options.icon.options.className)")
    assert {c.split()[-1] for c in classes} == {"tq-l0", "tq-l1", "tq-l2", "tq-l3", "tq-lx"}
    assert page.locator("#map-app .tq-print-only svg#map circle.st").count() == 9  # the SVG, kept for print
    assert page.locator("#no-coords").inner_text().count("Protva") == 1
    assert page.locator("#issue-date").inner_text() == "1 June 2020"
    assert "without review" in page.locator("#review-status").inner_text()
    box = page.locator("#map-leaflet").bounding_box()
    assert box["width"] > 600 and box["height"] > 300
    page.screenshot(path=str(ARTIFACTS / "map-en.png"), full_page=True)

    # 2. find the Plessur by name, its point is coloured by its level; the popup's link opens its page
    page.fill("#map-search", "Plessur")
    page.click("#map-search-results li[data-kind='station'][data-id='CH2185']")
    page.wait_for_selector(".leaflet-popup .tq-pop a.tq-pop-link")
    dot = page.evaluate("getComputedStyle(TasqynMap.markers['CH2185']._icon.querySelector('.tq-dot')).backgroundColor")
    assert dot == _rgb(i18n.level_colour(2))
    page.screenshot(path=str(ARTIFACTS / "map-zoomed.png"))
    page.click(".leaflet-popup a.tq-pop-link")
    page.wait_for_url(f"{url}/stations/CH2185")
    assert page.locator("#station-name").inner_text() == "Plessur - Chur"
    page.wait_for_selector("#chart-app[data-ready='1']")
    chart = page.locator("#chart-app canvas").first
    assert chart.is_visible() and chart.bounding_box()["width"] > 600
    assert page.locator("#chart-app svg.hydrograph polyline.observed").count() >= 1  # the SVG, kept for print
    assert page.locator("#station-level").get_attribute("data-level") == "2"
    page.screenshot(path=str(ARTIFACTS / "station-en.png"), full_page=True)

    # 3. a hydrologist logs in, overrides the level with a reason, approves the forecast
    _login(page, url, "hydro1", "river-pass-1")
    page.goto(f"{url}/stations/CH2185?lang=en")
    page.select_option("#override-level", "1")
    page.click("#override-submit")  # without a reason the browser refuses (required field)
    assert page.url.endswith("/stations/CH2185?lang=en")
    page.fill("#override-reason", "ice cleared at the gauge, rise slower than modelled")
    page.click("#override-submit")
    page.wait_for_selector("#flash")
    assert "Warning" in page.locator("#flash").inner_text()
    assert page.locator("#station-level").get_attribute("data-level") == "1"
    page.screenshot(path=str(ARTIFACTS / "station-override.png"), full_page=True)
    page.goto(f"{url}/runs?lang=en")
    page.click("a.approve")  # what will be published, before the click that publishes it
    page.wait_for_selector("#approve-basins")
    assert "ice cleared at the gauge" in page.locator("#approve-overrides").inner_text()
    page.screenshot(path=str(ARTIFACTS / "approve-summary.png"), full_page=True)
    page.click("#approve-submit")
    page.wait_for_selector("#flash")
    assert "approved" in page.locator("#review-status").inner_text()
    assert "ice cleared at the gauge" in page.locator("#audit-table").inner_text()
    page.screenshot(path=str(ARTIFACTS / "runs-audit.png"), full_page=True)
    ctx.close()

    # 4. the akimat view (another browser session) shows the override, in Russian by default
    ctx2 = browser.new_context(viewport={"width": 1400, "height": 950})
    page2 = ctx2.new_page()
    page2.on("pageerror", lambda e: errors.append(str(e)))
    _login(page2, url, "akim1", "akim-pass-1")
    page2.goto(f"{url}/?lang=ru")
    assert page2.locator('circle[data-station="CH2185"]').get_attribute("data-level") == "1"
    assert _circle_fill(page2, "CH2185") == _rgb(i18n.level_colour(1))
    assert "проверен гидрологом" in page2.locator("#review-status").inner_text()
    row = page2.locator('#station-list tr[data-station="CH2185"]').inner_text()
    assert "Неблагоприятная" in row and "ice cleared at the gauge" in row
    assert page2.locator("#override-reason").count() == 0  # akimats cannot review
    page2.screenshot(path=str(ARTIFACTS / "map-akimat-ru.png"), full_page=True)
    page2.goto(f"{url}/stations/CH2185")
    assert "установлено гидрологом: ice cleared" in page2.locator("#station-level").inner_text().lower()
    page2.click("a.lang[lang=kk]")
    assert "Қауіптілік дәрежесі" in page2.content()
    page2.screenshot(path=str(ARTIFACTS / "station-akimat-kk.png"), full_page=True)
    ctx2.close()

    assert errors == [], errors
    assert external == [], external  # nothing loaded from outside the service
