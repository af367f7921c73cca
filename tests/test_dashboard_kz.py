"""The dashboard on a registry-like store of Kazakh posts (real post codes and coordinates of Kazhydromet's
KazFlow85 list, Cyrillic names, SYNTHETIC discharge: tests/dashboard_support.kz_posts_store) with nine daily runs
published: the map's data (levels, water-management basins, names in three languages, grey stations with their
reason in the reader's language, the post abroad), the station page's chart data (observations, the climatology band
without the shown years, last and record year, marks, the fan, the forecast history of the runs the reader sees) and
the skill table with Kazhydromet's criteria."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from forecasting.kz_basins import basin_at
from records.db import ForecastRun, StationLevel
from tests import dashboard_support as ds

CODES = ["11001", "11068", "11124", "11207", "11395", "11424", "11433", "11461", "13061", "13148", "11163", "11242"]
ISSUE = dt.date(2024, 4, 10)
GROWTH = {"11068": 1.25, "11001": 1.12, "11433": 1.18, "13148": 1.08}
N_EARLIER = 8


@pytest.fixture(scope="module")
def kz(tmp_path_factory):
    home = ds.kz_posts_store(ds.Home(tmp_path_factory.mktemp("kz") / "home"), CODES)
    settings = ds.settings_for(home)
    for k in range(N_EARLIER, 0, -1):
        day = ISSUE - dt.timedelta(days=k)
        ds.publish_synthetic(home, settings, issue_date=day, growth=GROWTH, run_id=f"kz-{day}")
    # the newest run as if made by the backtested model, so that its skill is shown beside it
    ds.publish_synthetic(home, settings, issue_date=ISSUE, growth=GROWTH, run_id=f"kz-{ISSUE}", model_name="lightgbm")
    # a draft of an earlier date: reviewers see it among the earlier forecasts, the public does not
    draft_day = ISSUE - dt.timedelta(days=N_EARLIER + 1)
    ds.publish_synthetic(
        home, settings, issue_date=draft_day, growth=GROWTH, run_id=f"kz-draft-{draft_day}", publish=False
    )
    home.backtest_dir.mkdir(parents=True, exist_ok=True)
    leads = {
        str(k): {
            "nse": 0.9 - 0.05 * k,
            "skill_vs_persistence": 0.5 - 0.03 * k,
            "coverage_90": 0.88,
            "csi_warning": 0.4,
            "s_sigma": 0.42 + 0.04 * k,
            "accuracy_p": 0.86 - 0.03 * k,
        }
        for k in range(1, 8)
    }
    report = {"stations": {"11433": {"test_start": "2020-01-01", "test_end": "2023-12-31", "leads": leads}}}
    (home.backtest_dir / "report.json").write_text(json.dumps(report))
    from records.accounts import create_api_key
    from service.app import create_app

    with ds.session_factory(settings)() as s:
        hydro_key, _ = create_api_key(s, "hydro-test", "hydrologist")
        s.commit()
    with ds.session_factory(settings)() as s:
        run = s.scalars(select(ForecastRun).where(ForecastRun.run_id == f"kz-{ISSUE}")).one()
        rows = s.scalars(select(StationLevel).where(StationLevel.run_id == run.id))
        levels = {r.station_id: r.effective_level for r in rows}
    with TestClient(create_app(settings)) as c:
        c.levels = levels
        c.home = home
        c.settings = settings
        c.hydro = {"Authorization": f"Bearer {hydro_key}"}
        yield c


def script_data(page: str, element_id: str) -> dict:
    m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S)
    assert m, f"no #{element_id}"
    return json.loads(m.group(1))


def test_map_data_levels_basins_names_and_reasons(kz):
    page = kz.get("/?lang=ru").text
    data = script_data(page, "map-data")
    stations = {s["id"]: s for s in data["stations"]}
    assert set(stations) == {*CODES, "CH2185"}
    # levels as the read model gives them; grey (null) with the state otherwise
    for sid, s in stations.items():
        assert s["level"] == kz.levels[sid], sid
        assert (s["state"] == "ok") == (s["level"] is not None)
    # the water-management basin of each post from its coordinates; the post abroad has none but is on the map
    for sid, s in stations.items():
        wm = basin_at(s["lon"], s["lat"])
        assert s["wm_basin"] == (wm.name if wm else None), sid
    assert stations["CH2185"]["wm_basin"] is None and stations["CH2185"]["lat"] == pytest.approx(46.85969)
    # each basin takes the highest current level of its posts (null when none is current)
    expect: dict[str, int | None] = {}
    for s in stations.values():
        if s["wm_basin"]:
            cur = expect.get(s["wm_basin"])
            lv = s["level"]
            expect[s["wm_basin"]] = lv if cur is None else max(cur, lv) if lv is not None else cur
    assert data["wm_basin_levels"] == expect and expect["Ertis"] == max(kz.levels[c] for c in ("11001", "11068"))
    # names in three languages where the registry knows them (service/locale/station_names.csv)
    assert stations["11424"]["names"] == {"ru": "Калкутан", "kk": "Қалқұтан", "en": "Kalkutan"}
    assert stations["11424"]["name"] == "Калкутан" and stations["CH2185"]["names"] is None
    kk = {s["id"]: s for s in script_data(kz.get("/?lang=kk").text, "map-data")["stations"]}
    assert kk["11424"]["name"] == "Қалқұтан"
    # a post whose record stops in October 2023: grey, its reason in the reader's language from its data age
    grey = stations["11207"]
    assert grey["level"] is None and grey["state"] == "stale"
    assert grey["reason"] == "последнее наблюдение 1 октября 2023\u202fг., за 192 дня до даты выпуска"
    assert kk["11207"]["reason"] == "соңғы бақылау 2023\u202fж. 1 қазан, шығарылған күннен 192 күн бұрын"

    # the labels: every one in Russian (Cyrillic), nothing left for the script's English defaults
    def texts(x):
        return [t for v in x.values() for t in texts(v)] if isinstance(x, dict) else [x]

    words = texts(data["labels"])
    assert len(words) >= 39 and all(re.search(r"[А-Яа-яЁё]", w) for w in words), words


def test_map_page_markup_keeps_the_svg_and_runs_no_inline_script(kz):
    page = kz.get("/?lang=en").text
    app = page[page.index('<div id="map-app">') : page.index('<script type="application/json" id="map-data">')]
    assert '<div class="mapwrap" data-print>' in app and '<svg id="map"' in app  # print and no-JS
    assert app.count('class="wm lvl') == 8  # the water-management basins, shaded in the SVG too
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    for attrs, body in scripts:  # CSP script-src 'self': code only from files, data blocks only as JSON
        assert ('src="/static/' in attrs and not body.strip()) or 'type="application/json"' in attrs, attrs
    for layer in ("wm_basins", "subbasins", "rivers", "lakes", "kz_outline"):
        assert f'<link rel="preload" href="/static/layers/{layer}.geojson" as="fetch" crossorigin>' in page
    for js in ("vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.markercluster.js", "map_app.js"):
        assert f'<script src="/static/{js}" defer></script>' in page
        assert kz.get(f"/static/{js}").status_code == 200


def test_script_json_cannot_end_its_element():
    from service.pages.map_data import script_json

    text = str(script_json({"name": "</script><script>alert(1)</script><!--"}))
    assert "</" not in text and "<!--" not in text
    assert json.loads(text)["name"] == "</script><script>alert(1)</script><!--"


# --- the station page -----------------------------------------------------------------------------------------


def test_station_chart_data_band_years_fan_and_history(kz):
    import numpy as np

    from forecasting.climatology import day_of_year
    from forecasting.storage import open_store

    page = kz.get("/stations/11433?lang=ru").text
    chart = script_data(page, "chart-data")
    assert chart["units"] == "м³/с" and chart["issue_date"] == ISSUE.isoformat() and chart["windows"] == [60, 180, 365]
    store = open_store(kz.home.observations)
    q = store["discharge_m3s"].sel(station="11433").to_series()
    # observations: the year up to the issue date, as stored (usable values), nothing after it
    obs = dict(chart["series"]["obs"])
    assert min(obs) == (ISSUE - dt.timedelta(days=364)).isoformat() and max(obs) == ISSUE.isoformat()
    assert obs["2024-03-01"] == pytest.approx(q["2024-03-01"], rel=1e-6)
    # the band: from the record up to the issue date without the shown years (2023, 2024): never the season itself
    clim = chart["series"]["clim"]
    assert clim["years"] == [2016, 2022] and clim["n_years"] == 7
    doy, days = day_of_year(["2024-04-15"])[0], day_of_year(q.index)  # the 365-day calendar of the band
    pooled = q[(q.index.year >= 2016) & (q.index.year <= 2022) & (abs(days - doy) <= 7)].to_numpy()
    i = clim["dates"].index("2024-04-15")
    assert clim["p50"][i] == pytest.approx(np.quantile(pooled, 0.5), rel=0.02)
    assert chart["series"]["last_year"][0] == [
        clim["dates"][0],
        pytest.approx(q["2022-04-12"], rel=1e-3),
    ]  # a year back
    record = chart["series"]["record_year"]
    assert record["year"] not in (2023, 2024) and record["year"] == int(q[q.index.year < 2023].idxmax().year)
    # the marks in m3/s, named in Russian; the fan is the forecast's quantiles
    marks = {t["kind"]: t for t in chart["thresholds"]}
    assert marks["danger"]["label"] == "Опасная отметка" and set(marks) == {"warning", "danger", "extreme"}
    fan = chart["series"]["fan"]
    assert len(fan["dates"]) == 7 and fan["dates"][0] == (ISSUE + dt.timedelta(days=1)).isoformat()
    assert all(a <= b <= c for a, b, c in zip(fan["q05"], fan["q50"], fan["q95"], strict=True))
    # the earlier forecasts the public sees: the 8 published runs before the issue date, not the draft
    hist = chart["series"]["history"]
    assert [h["issue_date"] for h in hist] == [
        (ISSUE - dt.timedelta(days=k)).isoformat() for k in range(N_EARLIER, 0, -1)
    ]
    first = hist[0]
    assert first["values"][0][0] == (ISSUE - dt.timedelta(days=N_EARLIER - 1)).isoformat()
    # a synthetic run's median at lead 1 is the last observation times the growth factor
    last_obs = q[(ISSUE - dt.timedelta(days=N_EARLIER)).isoformat()]
    assert first["values"][0][1] == pytest.approx(last_obs * GROWTH["11433"], rel=1e-3)
    assert "Медианы прежних прогнозов (8," in page and 'id="history-summary"' in page


def test_forecast_history_follows_visibility(kz):
    from records.accounts import ANONYMOUS, Principal
    from records.published import forecast_history
    from service.pages.station_page import _safe_ds

    state = kz.app.state.tasqyn
    hydro = Principal("h", "hydrologist", via="session")
    with ds.session_factory(kz.settings)() as s:
        public = forecast_history(s, ANONYMOUS, "11433", ISSUE, 30, lambda r: _safe_ds(state, r), state.store().data)
        reviewer = forecast_history(s, hydro, "11433", ISSUE, 30, lambda r: _safe_ds(state, r))
        two = forecast_history(s, ANONYMOUS, "11433", ISSUE, 2, lambda r: _safe_ds(state, r))
        none = forecast_history(s, ANONYMOUS, "NOPE", ISSUE, 30, lambda r: _safe_ds(state, r))
    assert len(public) == N_EARLIER and all(h.review_status == "unreviewed" for h in public)
    assert len(reviewer) == N_EARLIER + 1 and reviewer[0].review_status == "draft"
    assert [h.issue_date for h in two] == [ISSUE - dt.timedelta(days=2), ISSUE - dt.timedelta(days=1)]
    assert none == []
    # the observed value beside each median where the day was observed by the issue date (the store, a replay, holds
    # later days too: they are not used)
    points = [p for h in public for p in h.points]
    assert all((p.observed is not None) == (p.valid_date <= ISSUE) for p in points)
    assert sum(p.observed is None for p in points) == 6 + 5 + 4 + 3 + 2 + 1  # leads past the issue date


def test_water_level_chart_against_the_marks_in_cm(kz):
    page = kz.get("/stations/11433?lang=kk").text
    level = script_data(page, "level-chart-data")
    assert level["units"] == "см" and {t["kind"] for t in level["thresholds"]} == {"warning", "danger", "extreme"}
    assert all(200 < v < 700 for _, v in level["series"]["obs"]) and level["series"]["clim"] is not None
    assert 'id="level-chart" data-chart-data="level-chart-data"' in page
    table = page[page.index('id="marks-table"') :]
    assert "Қазгидромет белгісі (бекеттер тізілімі)" in table[: table.index("</table>")]
    # a post without marks in cm has no water-level chart
    assert 'id="level-chart-data"' not in kz.get("/stations/11068?lang=kk").text


def test_skill_table_has_kazhydromet_criteria(kz):
    """S/σΔ and the share within 0.674 σΔ («оправдываемость») beside NSE and the skill vs persistence."""
    names = {"ru": ("Оправдываемость прогноза", "0,54", "77\xa0%"), "kk": ("Болжамның ақталымдылығы", "0,54", "77%"),
             "en": ("Forecast success", "0.54", "77%")}  # fmt: skip
    for lang, (success, s_sigma, accuracy) in names.items():
        page = kz.get(f"/stations/11433?lang={lang}").text
        table = page[page.index('id="skill-table"') : page.index("</table>", page.index('id="skill-table"'))]
        assert success in table and "S/σΔ" in table and "NSE" in table
        lead3 = re.search(r'<tr data-lead="3">(.*?)</tr>', table, re.S).group(1)
        assert f'<td class="s-sigma">{s_sigma}</td>' in lead3 and f'<td class="accuracy">{accuracy}</td>' in lead3


# --- no English on the Russian and Kazakh pages ------------------------------------------------------------------

# words a Russian or Kazakh page may show in Latin letters: symbols, file and format names, licences, the model's
# name; and the data's own identifiers (post codes, basin ids, run ids, the model version, the post abroad)
LATIN_OK = {"NSE", "CSI", "S", "PDF", "CSV", "UTC", "MIT", "Natural", "Earth", "LightGBM", "report", "json"}
DATA_WORDS = {
    "ERTIS",
    "ESIL",
    "NURA",
    "CH",
    "Plessur",
    "Chur",
    "kz",
    "draft",
    "synthetic",
    "hydro",
    "key",
    "test",
    "NOPE",
}


class _Visible(HTMLParser):
    """Visible text of a page (text nodes, titles, placeholders), without scripts, styles and elements marked as
    English (lang="en": the computation's own messages, shown to reviewers as recorded)."""

    VOID = {"br", "img", "input", "link", "meta", "hr", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.stack: list[bool] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        hidden = bool(self.stack and self.stack[-1]) or tag in ("script", "style") or a.get("lang") == "en"
        if not hidden:
            self.text += [v for k, v in attrs if k in ("title", "placeholder", "aria-label", "alt") and v]
        if tag not in self.VOID:
            self.stack.append(hidden)

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not (self.stack and self.stack[-1]):
            self.text.append(data)


def latin_words(html: str) -> set[str]:
    parser = _Visible()
    parser.feed(html)
    return set(re.findall(r"[A-Za-z]+", " ".join(parser.text))) - LATIN_OK - DATA_WORDS


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_no_english_on_russian_and_kazakh_pages(kz, lang):
    draft_day = (ISSUE - dt.timedelta(days=N_EARLIER + 1)).isoformat()
    pages = {
        "/": {}, "/stations/11433": {}, "/stations/11207": {}, "/stations/CH2185": {}, "/stations/13148": {},
        "/basins/ERTIS": {}, "/runs": {}, "/login": {}, "/stations/NOPE": {}, "/?issue_date=1999-01-01": {},
        f"/runs/{draft_day}/approve": kz.hydro, "/stations/11068": kz.hydro,
    }  # fmt: skip
    found = {}
    for url, headers in pages.items():
        r = kz.get(url + ("&" if "?" in url else "?") + f"lang={lang}", headers=headers)
        assert r.status_code in (200, 404), (url, r.status_code)
        words = latin_words(r.text)
        if words:
            found[url] = sorted(words)
    assert found == {}
    # units in the reader's script; the source of a derived mark and the reason of a grey post in words
    station = kz.get(f"/stations/11433?lang={lang}").text
    assert "м³/с" in station and "m3/s" not in station and "m³/s" not in station
    grey = kz.get(f"/stations/11207?lang={lang}").text
    assert {"ru": "за 192 дня до даты выпуска", "kk": "192 күн бұрын"}[lang] in grey
    # the check itself sees English where it is
    assert latin_words("<p>published without review <span lang='en'>inputs missing</span></p>") == {
        "published", "without", "review"
    }  # fmt: skip
