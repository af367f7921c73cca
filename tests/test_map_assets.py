"""The dashboard's map and chart assets: the vendored libraries and offline layers are complete and licensed, and, in
Debian's Chromium (Playwright) on a static page served from 127.0.0.1, map_app.js opens on Kazakhstan with the
basin layer shaded by level, finds stations by a Cyrillic name and by post code, separates clustered stations when
zoomed, and chart_app.js draws the climatology band and the forecast fan with thresholds, windows, hover and zoom;
nothing scrolls sideways at 390 px. Screenshots go to tests/artifacts/.

The page is built in tmp_path from the shipped assets and a sample payload in the documented contract: real
Kazhydromet post coordinates (../shared/data/README.md) with invented levels, and the Protva's real discharge with
its climatology from forecasting.climatology (the fan and the earlier forecasts are made from the observed values)."""

from __future__ import annotations

import functools
import gzip
import json
import os
import re
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "service" / "static"
CHROMIUM = os.environ.get("TASQYN_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
COLOURS = {0: "#2e7d32", 1: "#f9a825", 2: "#c62828", 3: "#6a1b9a", None: "#9e9e9e"}

# ---- the assets themselves (no browser) ---------------------------------------------------------------------------


def test_vendored_libraries_have_their_versions_and_licences() -> None:
    v = STATIC / "vendor"
    assert "Leaflet 1.9.4" in (v / "leaflet" / "leaflet.js").read_text(encoding="utf-8")[:300]
    assert "(v1.6.32)" in (v / "uplot" / "uPlot.iife.min.js").read_text(encoding="utf-8")[:200]
    assert "L.MarkerClusterGroup" in (v / "leaflet" / "leaflet.markercluster.js").read_text(encoding="utf-8")[:400]
    assert "Agafonkin" in (v / "leaflet" / "LICENSE-leaflet.txt").read_text(encoding="utf-8")
    assert "David Leaver" in (v / "leaflet" / "LICENSE-markercluster.txt").read_text(encoding="utf-8")
    assert "Leon Sorokin" in (v / "uplot" / "LICENSE-uplot.txt").read_text(encoding="utf-8")
    for png in ("layers.png", "layers-2x.png"):  # referenced by leaflet.css
        assert (v / "leaflet" / "images" / png).stat().st_size > 0
    readme = (v / "README.md").read_text(encoding="utf-8")
    for s in ("leaflet@1.9.4", "leaflet.markercluster@1.5.3", "uplot@1.6.32", "BSD-2-Clause", '"wm_basin_levels"'):
        assert s in readme, s
    # no script or stylesheet of ours or of the libraries loads anything from another host
    ours = [STATIC / "map_app.js", STATIC / "chart_app.js"]
    for p in [*ours, v / "leaflet" / "leaflet.css", v / "uplot" / "uPlot.min.css"]:
        text = p.read_text(encoding="utf-8")
        assert not re.search(r"(fetch|import|url)\(\s*['\"]?https?://", text), p


def test_layers_are_small_complete_and_licensed() -> None:
    layers = STATIC / "layers"
    expect = {"wm_basins.geojson": 8, "subbasins.geojson": 16, "kz_outline.geojson": 1, "oblast_lines.geojson": 1}
    total = total_gz = 0
    for p in sorted(layers.glob("*.geojson")):
        raw = p.read_bytes()
        total += len(raw)
        total_gz += len(gzip.compress(raw))
        doc = json.loads(raw)
        assert doc["type"] == "FeatureCollection" and doc["features"], p.name
        if p.name in expect:
            assert len(doc["features"]) == expect[p.name], p.name
        coords = re.findall(r"-?\d+\.(\d+)", raw.decode("utf-8").split('"features"', 1)[1])
        assert max(len(c) for c in coords) <= 4, p.name  # rounded to 4 decimals
    assert {"rivers.geojson", "lakes.geojson", "world_110m.geojson"} <= {p.name for p in layers.glob("*.geojson")}
    assert 150_000 < total < 600_000 and total_gz < 200_000, (total, total_gz)  # a few hundred KB
    kz = (layers / "LICENSE-kz.txt").read_text(encoding="utf-8")
    assert "Copyright (c) 2025 Aidos Makhanov" in kz and "MIT License" in kz
    assert "public domain" in (layers / "LICENSE-naturalearth.txt").read_text(encoding="utf-8")
    feats = json.loads((layers / "wm_basins.geojson").read_text(encoding="utf-8"))["features"]
    names = {f["properties"]["name"]: f["properties"] for f in feats}
    assert names["Yesil"]["names"] == {"kk": "Есіл", "ru": "Есильский", "en": "Yesil"}


# ---- the sample page ----------------------------------------------------------------------------------------------

# (post code, ru, kk, en, river, lat, lon, level, state, trend) — coordinates from ../shared/data/README.md
POSTS = [
    ("11001", "Боран", "Боран", "Boran", "Қара Ертіс", 48.0045, 85.2222, 1, "ok", "rising"),
    ("11068", "Калжыр", "Қалжыр", "Kalzhyr", "Қалжыр", 48.1332, 85.1965, 3, "ok", "rising"),
    ("11124", "Берель", "Берел", "Berel", "Бұқтырма", 49.3658, 86.4484, 0, "ok", "steady"),
    ("11207", "Шемонаиха", "Шемонаиха", "Shemonaikha", "Үбі", 50.6127, 81.8768, None, "stale", None),
    ("11395", "Приишимское", "Приишимское", "Priishimskoe", "Есіл", 50.6200, 73.0267, 1, "ok", "steady"),
    ("11424", "Калкутан", "Қалқұтан", "Kalkutan", "Қалқұтан", 51.7858, 69.4639, 0, "ok", "falling"),
    ("11433", "Атбасар", "Атбасар", "Atbasar", "Есіл", 51.7978, 68.3689, 2, "ok", "rising"),
    ("11461", "Соколовка", "Соколовка", "Sokolovka", "Есіл", 53.6514, 67.4131, 0, "ok", "steady"),
    ("13061", "Бесоба", "Бесоба", "Besoba", "Нұра", 49.3500, 74.4661, None, "climatology", None),
    ("13148", "Киевка", "Киевка", "Kievka", "Нұра", 50.2547, 71.5667, 1, "ok", "rising"),
    ("CH2141", "Альбула", "Альбула", "Albula - Tiefencastel", "Albula", 46.66252, 9.57413, 2, "ok", "rising"),
    ("CH2185", "Плессур - Кур", "Плессур", "Plessur - Chur", "Plessur", 46.85969, 9.51053, 0, "ok", "falling"),
    ("PROTVA_SZ", "Протва - Спас-Загорье", "Протва", "Protva - Spas-Zagorye", "Протва", None, None, 1, "ok", None),
]  # fmt: skip
WM = {"11001": "Ertis", "11068": "Ertis", "11124": "Ertis", "11207": "Ertis", "11395": "Yesil", "11424": "Yesil",
      "11433": "Yesil", "11461": "Yesil", "13061": "Nura-Sarysu", "13148": "Nura-Sarysu"}  # fmt: skip

LABELS = {
    "ru": {
        "search": "Пост, река или бассейн", "search_hint": "название или код поста", "no_results": "Ничего не найдено",
        "levels": {"0": "Норма", "1": "Неблагоприятная", "2": "Опасная", "3": "Критическая"},
        "no_level": "Нет текущих данных",
        "states": {"stale": "Данные устарели", "climatology": "Только климатический прогноз",
                   "no_forecast": "Нет прогноза"},
        "trends": {"rising": "подъём", "steady": "без изменений", "falling": "спад"},
        "risk": "Степень опасности", "river": "Река", "basin": "Бассейн", "post_code": "Код поста",
        "open": "Открыть страницу поста",
        "kinds": {"station": "пост", "river": "река", "basin": "бассейн", "subbasin": "подбассейн"},
        "layers": {"wm_basins": "Водохозяйственные бассейны", "subbasins": "Подбассейны", "rivers": "Реки",
                   "lakes": "Озёра", "oblasts": "Границы областей (без изменений 2018–2022 гг.)", "stations": "Посты"},
        "n_stations": "Постов: {n}", "zoom_in": "Приблизить", "zoom_out": "Отдалить", "reset": "Весь Казахстан",
        "no_coords": "без координат", "attribution": "Бассейны, реки, озёра © А. Маханов (MIT) · Natural Earth",
    },
    "kk": {  # docs/glossary.md
        "search": "Бекет, өзен немесе алап", "search_hint": "атауы немесе бекет коды", "no_results": "Ештеңе табылмады",
        "levels": {"0": "Қалыпты", "1": "Қолайсыз", "2": "Қауіпті", "3": "Сыни"},
        "no_level": "Ағымдағы деректер жоқ",
        "states": {"stale": "Деректер ескірген", "climatology": "Тек климаттық болжам", "no_forecast": "Болжам жоқ"},
        "trends": {"rising": "көтерілу", "steady": "өзгеріссіз", "falling": "төмендеу"},
        "risk": "Қауіптілік дәрежесі", "river": "Өзен", "basin": "Бассейн", "post_code": "Бекет коды",
        "open": "Бекет бетін ашу",
        "kinds": {"station": "бекет", "river": "өзен", "basin": "бассейн", "subbasin": "кіші алап"},
        "layers": {"wm_basins": "Су шаруашылығы бассейндері", "subbasins": "Кіші алаптар", "rivers": "Өзендер",
                   "lakes": "Көлдер", "oblasts": "Облыс шекаралары (2018–2022 жж. өзгерістерінсіз)",
                   "stations": "Бекеттер"},
        "n_stations": "Бекеттер: {n}", "zoom_in": "Жақындату", "zoom_out": "Алыстату", "reset": "Бүкіл Қазақстан",
        "no_coords": "координатасыз", "attribution": "Бассейндер, өзендер, көлдер © А. Маханов (MIT) · Natural Earth",
    },
}  # fmt: skip
CHART_LABELS_RU = {
    "observed": "Наблюдения", "forecast": "Прогноз (медиана)", "fan90": "5–95%", "fan50": "25–75%",
    "clim": "Обычные значения для этого дня (10–90 % лет, медиана)", "last_year": "Прошлый год",
    "record_year": "Год рекорда ({year})",
    "history": "Прежние прогнозы", "history_run": "прогноз от {date}", "window": "Окно",
    "windows": {"60": "60 дней", "180": "Сезон", "365": "Год"},
    "zoom_hint": "Выделите участок, чтобы приблизить; двойной щелчок возвращает окно",
}  # fmt: skip


REASON = {"ru": "последнее наблюдение 9 дней назад", "kk": "соңғы бақылау 9 күн бұрын"}


def map_payload(lang: str = "ru") -> dict:
    stations = []
    for code, ru, kk, en, river, lat, lon, level, state, trend in POSTS:
        names = {"ru": ru, "kk": kk, "en": en}
        stations.append({
            "id": code, "name": names[lang], "names": names, "river": river, "basin_id": WM.get(code, code),
            "wm_basin": WM.get(code), "lat": lat, "lon": lon, "level": level, "state": state,
            "reason": None if state == "ok" else REASON[lang], "trend": trend,
            "url": f"/stations/{code}",
        })  # fmt: skip
    levels: dict[str, int | None] = {}
    for code, *_rest, level, state, _trend in POSTS:
        b = WM.get(code)
        if b:
            cur = level if state == "ok" else None
            levels[b] = cur if levels.get(b) is None else max(levels[b], cur if cur is not None else -1)
    levels["Tobyl-Torgai"] = None
    return {"lang": lang, "labels": LABELS[lang], "tile_url": None, "tile_attribution": "",
            "layers_base": "static/layers/", "stations": stations, "wm_basin_levels": levels}  # fmt: skip


def chart_payload(real_data: Path) -> dict:
    from forecasting.climatology import hydrograph_context

    q = pd.read_csv(real_data / "PROTVA_SZ.csv", parse_dates=["date"], index_col="date")["discharge_m3s"]
    issue = pd.Timestamp("1994-04-05")
    obs = q[issue - pd.Timedelta(days=400) : issue]
    fan_dates = pd.date_range(issue + pd.Timedelta(days=1), periods=7)
    dates = obs.index.append(fan_dates)
    chart = hydrograph_context(q, dates).to_chart()
    future = q.reindex(fan_dates).to_numpy()
    spread = np.linspace(0.1, 0.45, 7)
    fan = {"dates": [d.date().isoformat() for d in fan_dates]}
    for name, z in (("q05", -1.645), ("q25", -0.674), ("q50", 0.0), ("q75", 0.674), ("q95", 1.645)):
        fan[name] = [round(float(v * np.exp(z * s)), 2) for v, s in zip(future, spread, strict=True)]
    history = []
    for k in (21, 14, 7):  # earlier runs: observed values with an error growing with lead
        d0 = issue - pd.Timedelta(days=k)
        days = pd.date_range(d0 + pd.Timedelta(days=1), periods=7)
        vals = q.reindex(days).to_numpy() * (1 + 0.04 * np.arange(1, 8) * (1 if k != 14 else -1))
        values = [[d.date().isoformat(), round(float(v), 2)] for d, v in zip(days, vals, strict=True)]
        history.append({"issue_date": d0.date().isoformat(), "values": values})
    return {
        "lang": "ru", "units": "м³/с", "labels": CHART_LABELS_RU, "issue_date": issue.date().isoformat(),
        "series": {"obs": [[d.date().isoformat(), None if np.isnan(v) else float(v)] for d, v in obs.items()],
                   "clim": chart["clim"], "last_year": chart["last_year"], "record_year": chart["record_year"],
                   "fan": fan, "history": history},
        "thresholds": [{"kind": "warning", "label": "Неблагоприятная отметка", "value": 150.0},
                       {"kind": "danger", "label": "Опасная отметка", "value": 300.0},
                       {"kind": "extreme", "label": "Критическая отметка", "value": 600.0}],
        "windows": [60, 180, 365],
    }  # fmt: skip


PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tasqyn map and chart test page</title>
<link rel="stylesheet" href="static/dashboard.css">
<link rel="stylesheet" href="static/vendor/leaflet/leaflet.css">
<link rel="stylesheet" href="static/vendor/leaflet/MarkerCluster.css">
<link rel="stylesheet" href="static/vendor/uplot/uPlot.min.css">
</head><body><main>
<section class="card"><div id="map-app"><svg id="map" viewBox="0 0 10 10"><circle cx="5" cy="5" r="1"/></svg></div>
</section>
<section class="card"><h2>Гидрограф</h2>
<div id="chart-app"><svg class="hydrograph" data-print viewBox="0 0 10 10"></svg></div></section>
</main>
<script type="application/json" id="map-data">{map_json}</script>
<script type="application/json" id="chart-data">{chart_json}</script>
<script src="static/vendor/leaflet/leaflet.js"></script>
<script src="static/vendor/leaflet/leaflet.markercluster.js"></script>
<script src="static/vendor/uplot/uPlot.iife.min.js"></script>
<script src="static/map_app.js"></script>
<script src="static/chart_app.js"></script>
</body></html>
"""


def _json_for_script(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False).replace("</", "<\\/")


# a 1x1 grey PNG (Leaflet stretches it to the tile size)
TILE_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c49444154789c6378f1e20500057402b9d9c2c7"
    "650000000049454e44ae426082"
)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith("/tiles/"):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(TILE_PNG)))
            self.end_headers()
            self.wfile.write(TILE_PNG)
            return
        super().do_GET()


@pytest.fixture(scope="module")
def site(tmp_path_factory, real_data):
    root = tmp_path_factory.mktemp("mapsite")
    static = root / "static"
    static.mkdir()
    for name in ("map_app.js", "chart_app.js", "dashboard.css"):
        shutil.copy(STATIC / name, static / name)
    shutil.copytree(STATIC / "vendor", static / "vendor")
    shutil.copytree(STATIC / "layers", static / "layers")
    chart = chart_payload(real_data)
    for lang in ("ru", "kk"):
        html = PAGE.format(lang=lang, map_json=_json_for_script(map_payload(lang)), chart_json=_json_for_script(chart))
        (root / f"index-{lang}.html").write_text(html, encoding="utf-8")
    # with tiles (TASQYN_TILE_URL): one grey 256 px tile served for every z/x/y by the handler below
    tiled = dict(map_payload("ru"), tile_url="tiles/{z}/{x}/{y}.png", tile_attribution="© tile provider")
    html = PAGE.format(lang="ru", map_json=_json_for_script(tiled), chart_json=_json_for_script(chart))
    (root / "index-tiles.html").write_text(html, encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", chart
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser, url: str, width: int, height: int):
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    errors: list[str] = []
    external: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # a failed load is reported with its URL by the response handler (the favicon, which the page has not, is not)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Failed to load" not in m.text else 0)
    page.on("request", lambda r: None if r.url.startswith("http://127.0.0.1") else external.append(r.url))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(url)
    page.wait_for_selector("#map-app[data-ready='1']", timeout=15000)
    page.wait_for_selector("#chart-app[data-ready='1']", timeout=15000)
    return ctx, page, errors, external


def _rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return f"rgb({int(h[0:2], 16)}, {int(h[2:4], 16)}, {int(h[4:6], 16)})"


def _search(page, text: str) -> list[tuple[str, str]]:
    page.fill("#map-search", "")
    page.type("#map-search", text, delay=10)
    page.wait_for_selector("#map-search-results:not([hidden])")
    return page.eval_on_selector_all(
        "#map-search-results li[role=option]", "els => els.map(e => [e.dataset.kind, e.dataset.id])"
    )


def _popup(page, name: str) -> str:
    """The text of the open popup of the station called `name` (a closing popup fades out for 200 ms beside it)."""
    loc = page.locator(".leaflet-popup .tq-pop", has_text=name).last
    loc.wait_for()
    return loc.inner_text()


def _bounds(page) -> list[float]:
    """South, west, north, east of the map's view (degrees)."""
    return page.evaluate("(() => { const b = TasqynMap.map.getBounds(); return [b.getSouth(), b.getWest(), "
                         "b.getNorth(), b.getEast()]; })()")  # fmt: skip


def _visible_station_ids(page) -> set[str]:
    return set(page.evaluate("""() => {
        const out = [], m = window.TasqynMap;
        for (const id in m.markers) { const mk = m.markers[id]; if (mk._icon && m.map.hasLayer(mk)) out.push(id); }
        return out; }"""))  # fmt: skip


@pytest.mark.browser
@pytest.mark.realdata
def test_map_opens_on_kazakhstan_search_and_clusters(site, browser) -> None:
    url, _ = site
    ctx, page, errors, external = _open(browser, f"{url}/index-ru.html", 1400, 950)
    assert page.locator("#map-app svg#map").count() == 0  # the server's SVG was replaced
    # 1. opens on Kazakhstan: the view holds the whole country and not much more
    b = _bounds(page)
    assert b[0] <= 40.6 and b[1] <= 46.5 and b[2] >= 55.4 and b[3] >= 87.3, b
    assert b[3] - b[1] < 90 and b[2] - b[0] < 40, b
    # 2. the 8 water-management basins, shaded by the highest level of their stations
    assert page.locator("path.tq-basin").count() == 8
    fills = page.eval_on_selector_all("path.tq-basin", "els => els.map(e => e.getAttribute('fill'))")
    assert fills.count(COLOURS[3]) == 1 and fills.count(COLOURS[2]) == 1 and fills.count(COLOURS[1]) == 1, fills
    assert fills.count(COLOURS[None]) == 5  # Tobyl-Torgai null, four basins without stations
    assert page.locator("path.tq-river").count() >= 10 and page.locator("path.tq-lake").count() >= 50
    assert page.locator("path.tq-subbasin").count() == 16
    assert page.locator("path.tq-oblast").count() == 0  # off by default
    # 3. stations: Boran and Kalzhyr (14 km apart) are one cluster showing the higher level (Kalzhyr, extreme)
    visible = _visible_station_ids(page)
    assert {"11461", "11124"} <= visible and "11001" not in visible and "11068" not in visible
    clusters = page.eval_on_selector_all(".tq-cluster", "els => els.map(e => [e.className, e.textContent])")
    assert any("tq-l3" in c and n == "2" for c, n in clusters), clusters
    arrow = page.evaluate("TasqynMap.markers['11461']._icon.querySelector('.tq-arrow').textContent")
    assert arrow == "→"  # Sokolovka steady
    page.screenshot(path=str(ARTIFACTS / "map-kz-1400.png"))

    # 4. search by a Cyrillic name, case- and diacritic-insensitive: "атбасар", "калжыр" (Қалжыр), "КИЕВКА"
    assert _search(page, "атбасар")[0] == ["station", "11433"]
    page.keyboard.press("Enter")
    pop = _popup(page, "Атбасар")
    assert "Атбасар" in pop and "Опасная" in pop and "подъём" in pop and "Есіл" in pop and "Есильский" in pop, pop
    assert page.get_attribute("#map-app", "data-selected") == "station:11433"
    assert page.evaluate("TasqynMap.map.getZoom()") >= 9
    page.screenshot(path=str(ARTIFACTS / "map-search-atbasar.png"))
    assert _search(page, "калжыр")[0] == ["station", "11068"]
    assert _search(page, "КИЕВКА")[0] == ["station", "13148"]
    # by post code, and a grey station's popup gives its state and reason
    assert _search(page, "13148")[0] == ["station", "13148"]
    assert _search(page, "11207")[0] == ["station", "11207"]
    page.keyboard.press("Enter")
    pop = _popup(page, "Шемонаиха")
    assert "Данные устарели" in pop and "9 дней" in pop, pop
    # a river by another language's name: Ишим finds the stations on the Есіл; a basin by its Russian name
    res = _search(page, "ишим")
    assert res[0] == ["river", "есил"], res
    page.keyboard.press("Enter")
    page.wait_for_timeout(400)
    s, w, n, e = _bounds(page)  # the four Esil posts, Priishimskoe to Sokolovka, and not the whole country
    assert s <= 50.62 and n >= 53.65 and w <= 67.41 and e >= 73.03 and e - w < 20, (s, w, n, e)
    res = _search(page, "нура-сарысу")
    assert res[0][0] == "basin" and res[0][1] == "WMB_00004", res
    assert _search(page, "zzzz") == [] and "Ничего не найдено" in page.locator("#map-search-results").inner_text()
    # Protva has no coordinates: found, marked, not on the map
    assert _search(page, "протва")[0] == ["station", "PROTVA_SZ"]
    assert "без координат" in page.locator("#map-search-results li").first.inner_text()

    # 5. zooming separates the clustered stations: click the cluster until both show on their own
    page.click("button.tq-reset")
    page.wait_for_timeout(500)
    for _ in range(6):
        if {"11001", "11068"} <= _visible_station_ids(page):
            break
        box = page.evaluate("""() => { const m = TasqynMap.markers['11001'], p = TasqynMap.cluster.getVisibleParent(m);
            const r = p._icon.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }""")
        page.mouse.click(box[0], box[1])
        page.wait_for_timeout(700)
    assert {"11001", "11068"} <= _visible_station_ids(page)
    page.screenshot(path=str(ARTIFACTS / "map-zoomed-ertis.png"))

    # 6. stations outside Kazakhstan are reachable by zooming out
    page.evaluate("TasqynMap.map.setView([50, 50], 3, {animate: false})")
    page.wait_for_timeout(300)
    swiss = page.evaluate("""() => { const m = TasqynMap.markers['CH2141'], p = TasqynMap.cluster.getVisibleParent(m);
        return p && p._icon ? p._icon.className : null; }""")
    assert swiss is not None and "tq-l2" in swiss  # Albula (danger) shows, alone or in a cluster with the Plessur
    ctx.close()
    assert errors == [], errors
    assert external == [], external


@pytest.mark.browser
@pytest.mark.realdata
def test_chart_draws_bands_windows_hover_and_zoom(site, browser) -> None:
    url, chart = site
    ctx, page, errors, external = _open(browser, f"{url}/index-ru.html", 1400, 950)
    page.locator("#chart-app").scroll_into_view_if_needed()
    assert page.locator("#chart-app canvas").count() == 1
    assert page.locator("#chart-app .tq-print-only svg.hydrograph").count() == 1  # kept for print
    assert not page.locator("#chart-app .tq-print-only").is_visible()

    def pixel(date: str, value: float) -> list[int]:
        return page.evaluate(
            """([d, v]) => { const u = TasqynCharts[0], ts = Date.parse(d + 'T00:00:00Z') / 1000;
                 const x = Math.round(u.valToPos(ts, 'x', true)), y = Math.round(u.valToPos(v, 'y', true));
                 return Array.from(u.ctx.getImageData(x, y, 1, 1).data); }""",
            [date, value],
        )

    # the climatology band: grey between p10 and p90 on a day without other lines (mid-March, p10 < p50 < p90)
    clim = chart["series"]["clim"]
    i = clim["dates"].index("1994-03-01")
    mid, hi = clim["p50"][i], clim["p90"][i]
    r, g, bb, a = pixel("1994-03-01", (mid + hi) / 2)
    assert a > 0 and abs(r - g) < 12 and abs(g - bb) < 12 and r < 245, (r, g, bb, a)  # grey, not white
    r, g, bb, a = pixel("1994-03-01", hi * 1.5 + 5)
    assert a == 0 or min(r, g, bb) >= 230  # above the band: empty (or a light grid line)
    # the forecast fan: blue between q25 and q75 on the last forecast day
    fan = chart["series"]["fan"]
    d, q25, q75 = fan["dates"][-2], fan["q25"][-2], fan["q75"][-2]
    r, g, bb, a = pixel(d, (q25 + q75) / 2 * 0.98)
    assert bb > r + 40 and a > 0, (r, g, bb, a)

    def xspan() -> float:
        return page.evaluate("(TasqynCharts[0].scales.x.max - TasqynCharts[0].scales.x.min) / 86400")

    assert 60 <= xspan() <= 70  # 60 days to the issue day plus the 7-day forecast
    assert page.get_attribute(".tq-win[data-days='60']", "aria-pressed") == "true"
    page.click(".tq-win[data-days='365']")
    assert 365 <= xspan() <= 373
    page.screenshot(path=str(ARTIFACTS / "chart-year-1400.png"), full_page=True)
    page.click(".tq-win[data-days='60']")
    # thresholds in the legend, in the page's language and units
    legend = page.locator("#chart-app .tq-legend").inner_text()
    assert "Опасная отметка 300 м³/с" in legend and "Год рекорда (1970)" in legend and "Прежние прогнозы" in legend
    # hover: the date and the observed value of the day under the cursor
    over = page.locator("#chart-app .u-over").bounding_box()
    page.mouse.move(over["x"] + over["width"] * 0.5, over["y"] + over["height"] * 0.5)
    idx = page.evaluate("TasqynCharts[0].cursor.idx")
    day = page.evaluate(f"new Date(TasqynCharts[0].data[0][{idx}] * 1000).toISOString().slice(0, 10)")
    text = page.locator("#chart-app .tq-readout").inner_text()
    obs = dict((dd, vv) for dd, vv in chart["series"]["obs"])
    assert "1994" in text and "Наблюдения" in text and "м³/с" in text, text
    if obs.get(day) is not None:
        shown = re.search(r"Наблюдения: ([\d\s ,]+)", text).group(1).replace("\u00a0", "").replace(" ", "")
        assert float(shown.replace(",", ".")) == pytest.approx(obs[day], rel=0.01), (text, obs[day])
    # drag to zoom, double-click back to the window
    page.mouse.move(over["x"] + over["width"] * 0.3, over["y"] + 40)
    page.mouse.down()
    page.mouse.move(over["x"] + over["width"] * 0.5, over["y"] + 40, steps=5)
    page.mouse.up()
    assert xspan() < 30
    page.mouse.dblclick(over["x"] + over["width"] * 0.4, over["y"] + 40)
    assert 60 <= xspan() <= 70
    # a legend toggle hides the forecast history
    page.click("#chart-app button.tq-leg[data-group='history']")
    runs = page.evaluate(
        "TasqynCharts[0].series.filter(s => (s.label || '').startsWith('прогноз от')).map(s => s.show)"
    )
    assert len(runs) == 3 and not any(runs)
    page.screenshot(path=str(ARTIFACTS / "chart-60d-1400.png"), full_page=True)
    ctx.close()
    assert errors == [], errors
    assert external == [], external


@pytest.mark.browser
@pytest.mark.realdata
@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_phone_width_has_no_sideways_scroll(site, browser, lang: str) -> None:
    url, _ = site
    ctx, page, errors, external = _open(browser, f"{url}/index-{lang}.html", 390, 844)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    map_box = page.locator("#map-leaflet").bounding_box()
    app_width = page.evaluate("document.getElementById('map-app').clientWidth")
    assert map_box["width"] >= 300 and abs(map_box["width"] - app_width) <= 2 and map_box["x"] + map_box["width"] <= 390
    assert page.locator("path.tq-basin").count() == 8
    canvas = page.locator("#chart-app canvas").bounding_box()
    assert canvas["width"] >= 300 and canvas["x"] + canvas["width"] <= 390
    sel = "#chart-app .tq-legend, #chart-app .tq-readout, #chart-app .tq-win, #chart-app .tq-leg, #map-search"
    sizes = page.evaluate(f"[...document.querySelectorAll('{sel}')].map(e => parseFloat(getComputedStyle(e).fontSize))")
    assert min(sizes) >= 11, sizes
    assert page.evaluate("TasqynCharts[0].axes[0].font[0]").startswith("12px")  # axis text 12 CSS px
    # the search still works on the phone: by a Kazakh spelling in the Kazakh page
    assert _search(page, "Қалқұтан")[0] == ["station", "11424"]
    page.keyboard.press("Enter")
    pop = _popup(page, "11424")
    basin = {"ru": "Есильский", "kk": "Есіл"}[lang]
    assert LABELS[lang]["risk"] in pop and LABELS[lang]["levels"]["0"] in pop and basin in pop, pop
    page.wait_for_timeout(300)  # the popup fades in
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(ARTIFACTS / f"phone-390-{lang}.png"), full_page=True)
    ctx.close()
    assert errors == [], errors
    assert external == [], external


@pytest.mark.browser
@pytest.mark.realdata
def test_tiles_only_when_a_tile_url_is_given(site, browser) -> None:
    url, _ = site
    requested: list[str] = []
    ctx, page, errors, external = _open(browser, f"{url}/index-ru.html", 1000, 800)
    assert page.locator(".leaflet-tile").count() == 0
    ctx.close()
    ctx = browser.new_context(viewport={"width": 1000, "height": 800})
    page = ctx.new_page()
    page.on("request", lambda r: requested.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/index-tiles.html")
    page.wait_for_selector("#map-app[data-ready='1']")
    page.wait_for_selector(".leaflet-tile-loaded")
    tiles = [u for u in requested if "/tiles/" in u]
    assert tiles and all(re.search(r"/tiles/\d+/\d+/\d+\.png$", u) for u in tiles), tiles[:3]
    assert not any(u.endswith("world_110m.geojson") for u in requested)  # the tiles replace the grey background
    assert page.locator("path.tq-basin").count() == 8  # the basins still shade over the tiles
    assert "© tile provider" in page.locator(".leaflet-control-attribution").inner_text()
    ctx.close()
    assert errors == [], errors
    assert external == [], external
