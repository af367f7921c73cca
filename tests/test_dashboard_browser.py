"""The served dashboard in Debian's Chromium (Playwright), at 1400 and 390 px, in Kazakh, Russian and English, on a
registry-like store of Kazakh posts (tests/dashboard_support.kz_posts_store: real post codes and coordinates,
Cyrillic names, SYNTHETIC discharge) with nine published daily runs: the map opens on Kazakhstan with the
water-management basins shaded by level, a search finds a post by its Cyrillic name and by its post code, the two
posts 14 km apart are one cluster until zoomed in, the station's hydrograph shows the climatology band and the
earlier forecasts, no page scrolls sideways at 390 px (from the DOM), the pages print on A4 with the server's SVG.
Screenshots go to tests/artifacts/."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest

from records import accounts as auth
from tests import dashboard_support as ds

CHROMIUM = os.environ.get("TASQYN_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CODES = ["11001", "11068", "11124", "11207", "11395", "11424", "11433", "11461", "13061", "13148", "11163", "11242"]
ISSUE = dt.date(2024, 4, 10)
GROWTH = {"11068": 1.25, "11001": 1.12, "11433": 1.18, "13148": 1.08}
N_EARLIER = 8
WIDTHS = (1400, 390)
LANGS = ("kk", "ru", "en")
# what each language's page calls things (its catalogue): the risk level's heading and the history series
WORDS = {
    "ru": {"risk": "Степень опасности", "history_run": "прогноз от", "history": "Прежние прогнозы"},
    "kk": {"risk": "Қауіптілік дәрежесі", "history_run": "болжамы", "history": "Бұрынғы болжамдар"},
    "en": {"risk": "Risk level", "history_run": "forecast of", "history": "Earlier forecasts"},
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"chromium not found at {CHROMIUM}: apt-get install chromium"
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = ds.kz_posts_store(ds.Home(tmp_path_factory.mktemp("kzb") / "home"), CODES)
    settings = ds.settings_for(home)
    for k in range(N_EARLIER, 0, -1):
        day = ISSUE - dt.timedelta(days=k)
        ds.publish_synthetic(home, settings, issue_date=day, growth=GROWTH, run_id=f"kz-{day}")
    ds.publish_synthetic(home, settings, issue_date=ISSUE, growth=GROWTH, run_id=f"kz-{ISSUE}", model_name="lightgbm")
    home.backtest_dir.mkdir(parents=True, exist_ok=True)
    leads = {str(k): {"nse": 0.8, "skill_vs_persistence": 0.4, "coverage_90": 0.9, "csi_warning": 0.5,
                      "s_sigma": 0.5, "accuracy_p": 0.8} for k in range(1, 8)}  # fmt: skip
    (home.backtest_dir / "report.json").write_text(json.dumps({"stations": {"11433": {"leads": leads}}}))
    with ds.session_factory(settings)() as s:
        auth.add_user(s, "hydro1", "river-pass-1", "hydrologist")
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


class Page:
    """A page in a fresh context that records script errors and any request leaving the server."""

    def __init__(self, browser, url: str, width: int) -> None:
        self.ctx = browser.new_context(viewport={"width": width, "height": 900 if width > 500 else 844})
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.external: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("request", lambda r: None if r.url.startswith(url) else self.external.append(r.url))

    def close(self) -> None:
        self.ctx.close()
        assert self.errors == [], self.errors
        assert self.external == [], self.external


def no_sideways_scroll(page) -> None:
    """Asserted from the DOM: the document is no wider than the window, and no element sticks out of it except inside
    a box that scrolls or clips it."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url
    out = page.evaluate("""() => {
        const w = window.innerWidth, bad = [];
        for (const e of document.querySelectorAll('body *')) {
            const r = e.getBoundingClientRect();
            if (r.width === 0 || r.right <= w + 1) continue;
            let p = e.parentElement, clipped = false;
            while (p && p !== document.body) {
                const s = getComputedStyle(p);
                const boxed = p.getBoundingClientRect().right <= w + 1;
                if (['auto', 'scroll', 'hidden', 'clip'].includes(s.overflowX) && boxed) { clipped = true; break; }
                p = p.parentElement;
            }
            if (!clipped) bad.push(e.tagName + '#' + e.id + '.' + e.className);
        }
        return bad.slice(0, 5); }""")
    assert out == [], (page.url, out)


def search(page, text: str) -> list[list[str]]:
    page.fill("#map-search", "")
    page.type("#map-search", text, delay=10)
    page.wait_for_selector("#map-search-results:not([hidden])")
    return page.eval_on_selector_all(
        "#map-search-results li[role=option]", "els => els.map(e => [e.dataset.kind, e.dataset.id])"
    )


def visible_markers(page) -> set[str]:
    return set(page.evaluate("""() => { const m = TasqynMap, out = [];
        for (const id in m.markers) { const k = m.markers[id]; if (k._icon && m.map.hasLayer(k)) out.push(id); }
        return out; }"""))  # fmt: skip


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", LANGS)
def test_map_basins_search_and_clusters(server, browser, lang, width):
    p = Page(browser, server.url, width)
    page = p.page
    page.goto(f"{server.url}/?lang={lang}")
    page.wait_for_selector("#map-app[data-ready='1']", timeout=15000)
    data = json.loads(page.locator("#map-data").text_content())
    # opens on Kazakhstan (the whole country in view, not Europe), with the 8 water-management basins shaded
    s, w, n, e = page.evaluate("(() => { const b = TasqynMap.map.getBounds(); "
                               "return [b.getSouth(), b.getWest(), b.getNorth(), b.getEast()]; })()")  # fmt: skip
    assert s <= 41.0 and w <= 47.0 and n >= 55.0 and e >= 87.0 and e - w < 100, (s, w, n, e)
    assert page.locator("path.tq-basin").count() == 8
    classes = page.eval_on_selector_all("path.tq-basin", "els => els.map(e => e.getAttribute('class'))")
    levels = data["wm_basin_levels"]
    for k in range(4):
        want = sum(1 for v in levels.values() if v == k)
        assert sum(f"tq-l{k}" in c for c in classes) == want, (k, classes, levels)
    assert sum("tq-lx" in c for c in classes) == 8 - sum(1 for v in levels.values() if v is not None)
    assert levels["Ertis"] == 3  # Kalzhyr at the extreme level
    map_box = page.locator("#map-leaflet").bounding_box()
    assert map_box["width"] >= min(width - 40, 600)  # the map fills the width it has
    page.screenshot(path=str(ARTIFACTS / f"kz-map-{lang}-{width}.png"))

    # search by a Cyrillic name (the Russian one on every page; the Kazakh one too) and by post code
    assert search(page, "атбасар")[0] == ["station", "11433"]
    assert search(page, "Қалқұтан")[0] == ["station", "11424"]  # Kazakh spelling from the names registry
    assert search(page, "13148")[0] == ["station", "13148"]
    page.keyboard.press("Enter")
    popup = page.locator(".leaflet-popup .tq-pop").last
    popup.wait_for()
    text = popup.inner_text()
    assert WORDS[lang]["risk"] in text and "13148" in text, text
    assert page.get_attribute("#map-app", "data-selected") == "station:13148"
    page.screenshot(path=str(ARTIFACTS / f"kz-map-search-{lang}-{width}.png"))

    # Boran and Kalzhyr (14 km apart) are one cluster at the country's zoom, coloured by the higher (extreme) level;
    # clicking into it separates them
    page.evaluate("TasqynMap.map.closePopup()")
    page.click("button.tq-reset")
    for _ in range(40):  # the reset flies back to the whole country (wait_for_function would need eval: CSP)
        if page.evaluate("Math.abs(TasqynMap.map.getCenter().lng - 66.9) < 3 && TasqynMap.map.getZoom() < 5"):
            break
        page.wait_for_timeout(100)
    page.wait_for_timeout(400)
    assert not {"11001", "11068"} <= visible_markers(page)
    cls = page.evaluate("TasqynMap.cluster.getVisibleParent(TasqynMap.markers['11001'])._icon.className")
    assert "tq-l3" in cls
    for _ in range(8):
        if {"11001", "11068"} <= visible_markers(page):
            break
        page.evaluate("""() => { document.getElementById('map-leaflet').scrollIntoView({block: 'center'});
            const p = TasqynMap.cluster.getVisibleParent(TasqynMap.markers['11001']);
            TasqynMap.map.panTo(p.getLatLng(), {animate: false}); }""")  # the cluster in the middle of the map
        page.wait_for_timeout(300)
        x, y = page.evaluate("""() => { const p = TasqynMap.cluster.getVisibleParent(TasqynMap.markers['11001']);
            const r = p._icon.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }""")
        page.mouse.click(x, y)
        page.wait_for_timeout(700)
    assert {"11001", "11068"} <= visible_markers(page)
    # the post abroad is on the map too (reached by zooming out)
    assert "CH2185" in page.evaluate("Object.keys(TasqynMap.markers)")
    if width < 500:
        no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"kz-map-zoomed-{lang}-{width}.png"))
    p.close()


def _band_pixel(page, chart: dict) -> tuple[str, float]:
    """A day and value inside the climatology band (between its median and 90 %) far from every other line drawn."""
    clim, obs = chart["series"]["clim"], dict(chart["series"]["obs"])
    others: dict[str, list[float]] = {}
    for h in chart["series"]["history"]:
        for d, v in h["values"]:
            others.setdefault(d, []).append(v)
    ly = dict(chart["series"]["last_year"] or [])
    rec = dict((chart["series"]["record_year"] or {}).get("values") or [])
    best, pick = 0.0, None
    for i, d in enumerate(clim["dates"]):
        if not (ISSUE - dt.timedelta(days=55)).isoformat() <= d <= (ISSUE - dt.timedelta(days=3)).isoformat():
            continue
        p50, p90 = clim["p50"][i], clim["p90"][i]
        if p50 is None or p90 is None or p90 <= p50:
            continue
        mid = (p50 + p90) / 2
        near = [v for v in [obs.get(d), ly.get(d), rec.get(d), *others.get(d, [])] if v is not None]
        gap = min([abs(v - mid) for v in near] or [p90]) / (p90 - p50)
        if gap > best:
            best, pick = gap, (d, mid)
    assert pick is not None and best > 0.5, best
    return pick


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", LANGS)
def test_station_chart_band_and_history(server, browser, lang, width):
    p = Page(browser, server.url, width)
    page = p.page
    page.goto(f"{server.url}/stations/11433?lang={lang}")
    page.wait_for_selector("#chart-app[data-ready='1']", timeout=15000)
    chart = json.loads(page.locator("#chart-data").text_content())
    page.locator("#chart-app").scroll_into_view_if_needed()
    # the climatology band: grey between its median and 90 % on a day away from the other lines
    day, value = _band_pixel(page, chart)
    r, g, b, a = page.evaluate(
        """([d, v]) => { const u = TasqynCharts[0], ts = Date.parse(d + 'T00:00:00Z') / 1000;
             const x = Math.round(u.valToPos(ts, 'x', true)), y = Math.round(u.valToPos(v, 'y', true));
             return Array.from(u.ctx.getImageData(x, y, 1, 1).data); }""",
        [day, value],
    )
    assert a > 0 and abs(r - g) < 14 and abs(g - b) < 14 and r < 246, (day, r, g, b, a)
    # the earlier forecasts: one series per earlier run, named in the page's language, on in the legend
    labels = page.evaluate("TasqynCharts[0].series.map(s => s.label || '')")
    runs = [x for x in labels if WORDS[lang]["history_run"] in x]
    assert len(runs) == N_EARLIER, labels
    assert WORDS[lang]["history"] in page.locator("#chart-app .tq-legend").inner_text()
    assert page.locator("#history-summary p").count() == 1
    # readable and within the page: axis text 12 px, the canvas in the width
    assert page.evaluate("TasqynCharts[0].axes[0].font[0]").startswith("12px")
    canvas = page.locator("#chart-app canvas").first.bounding_box()
    assert canvas["width"] >= min(width - 80, 900) * 0.9 and canvas["x"] + canvas["width"] <= width
    # the water level against the marks in cm
    assert page.locator("#level-chart canvas").count() == 1
    if width < 500:
        no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"kz-station-{lang}-{width}.png"), full_page=True)
    p.close()


@pytest.mark.parametrize("lang", LANGS)
def test_no_page_scrolls_sideways_at_390(server, browser, lang):
    p = Page(browser, server.url, 390)
    page = p.page
    day = ISSUE.isoformat()
    for path in ("/", "/stations/11207", "/stations/CH2185", "/basins/ERTIS", "/runs", "/login", "/stations/NOPE"):
        page.goto(f"{server.url}{path}?lang={lang}")
        page.wait_for_load_state("load")
        page.wait_for_timeout(150)
        no_sideways_scroll(page)
        name = re.sub(r"\W+", "-", path).strip("-") or "map"
        page.screenshot(path=str(ARTIFACTS / f"kz-390-{name}-{lang}.png"), full_page=True)
    # a hydrologist's pages: the runs with the audit trail, the approval summary, the review form
    page.goto(f"{server.url}/login?lang={lang}")
    page.fill("#username", "hydro1")
    page.fill("#password", "river-pass-1")
    page.click("#login-submit")
    page.wait_for_url(f"{server.url}/")
    for path in ("/runs", f"/runs/{day}/approve", "/stations/11433", "/basins/ESIL"):
        page.goto(f"{server.url}{path}?lang={lang}")
        page.wait_for_load_state("load")
        no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"kz-390-station-review-{lang}.png"), full_page=True)
    p.errors = [e for e in p.errors if "404" not in e]  # the unknown station's page answers 404 on purpose
    p.close()


def test_pages_print_on_a4_with_the_server_svg(server, browser, tmp_path):
    import subprocess

    p = Page(browser, server.url, 1200)
    page = p.page
    for path, svg in (("/", "svg.map"), ("/stations/11433", "svg.hydrograph"), ("/basins/ERTIS", "svg.map"),
                      ("/runs", None)):  # fmt: skip
        page.goto(f"{server.url}{path}?lang=ru")
        page.wait_for_load_state("load")
        page.wait_for_timeout(400)
        page.emulate_media(media="print")
        shown = page.evaluate(
            """(sel) => ({
            svg: sel ? [...document.querySelectorAll(sel)].filter(e => e.getBoundingClientRect().width > 0).length : 0,
            live: [...document.querySelectorAll('.leaflet-container, .tq-chart, .tq-search, form')]
                    .filter(e => e.getBoundingClientRect().width > 0).length })""",
            svg,
        )
        if svg:
            assert shown["svg"] >= 1, (path, shown)
        assert shown["live"] == 0, (path, shown)
        pdf = tmp_path / (re.sub(r"\W+", "-", path).strip("-") or "map")
        page.pdf(path=str(pdf) + ".pdf", format="A4", print_background=True)
        info = subprocess.run(["pdfinfo", str(pdf) + ".pdf"], capture_output=True, text=True).stdout
        assert "A4" in info and 1 <= int(re.search(r"Pages:\s+(\d+)", info).group(1)) <= 4, info
        page.emulate_media(media="screen")
    p.close()
