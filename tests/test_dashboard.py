"""The dashboard on the 10 real stations with a published synthetic forecast: map, basin, station, runs pages in
three languages, the Protva (no coordinates) listed beside the map, colours by level, the hydrograph and fan,
thresholds with their source, CSV download, local dates, bad input; and the map page with 500 stations."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from records.db import StationLevel
from service import i18n
from tests import dashboard_support as ds


@pytest.fixture(scope="module")
def client(real_data, tmp_path_factory):
    from service.app import create_app

    h = ds.copy_home(ds.prepared_store(real_data), tmp_path_factory.mktemp("dash") / "home")
    settings = ds.settings_for(h)
    run_id = ds.publish_synthetic(h, settings)
    with ds.session_factory(settings)() as s:
        levels = {r.station_id: r.effective_level for r in s.scalars(select(StationLevel))}
    with TestClient(create_app(settings)) as c:
        c.levels = levels
        c.run_id = run_id
        yield c


# --- i18n ----------------------------------------------------------------------------------------------------


def test_catalog_complete_and_local_dates():
    assert i18n.missing_keys() == {}
    day = dt.date(2024, 4, 14)
    assert i18n.format_date(day, "ru") == "14 апреля 2024\u202fг."  # CLDR (Babel): a narrow no-break space
    assert i18n.format_date(day, "kk") == "2024\u202fж. 14 сәуір"
    assert i18n.format_date(day, "en") == "14 April 2024"
    assert (
        i18n.level_phrase(2, 0.6, day, "en") == "Exceedance of the danger mark likely from 14 April (probability 60%)"
    )
    assert (
        i18n.level_phrase(2, 0.6, day, "ru") == "Превышение опасной отметки вероятно с 14 апреля (вероятность 60\xa0%)"
    )
    assert i18n.level_phrase(2, 0.6, day, "kk") == "14 сәуірден бастап қауіпті белгіден асу ықтимал (ықтималдығы 60%)"
    assert i18n.level_phrase(3, 0.85, dt.date(2024, 3, 1), "en").startswith(
        "Exceedance of the critical mark very likely"
    )
    assert i18n.level_phrase(1, 0.31, dt.date(2024, 5, 2), "kk").startswith("2 мамырдан бастап")
    assert i18n.level_phrase(0, 0.12, None, "en").endswith("(probability of exceeding the warning mark 12%)")
    assert i18n.format_pct(0.001, "en") == "<1%" and i18n.format_pct(0.9999, "en") == ">99%"
    assert i18n.format_pct(0.45, "ru") == "45\xa0%" and i18n.format_change(-12, "en") == "\u221212%"
    # plural forms from the catalogues (gettext), by the language's rule
    assert [i18n.format_age(n, "ru") for n in (1, 2, 5, 21)] == ["1 день", "2 дня", "5 дней", "21 день"]
    assert [i18n.format_age(n, "en") for n in (1, 2)] == ["1 day", "2 days"] and i18n.format_age(5, "kk") == "5 күн"
    assert i18n.t("map.n_stations", "ru", n=22) == "22 поста" and i18n.t("map.n_stations", "ru", n=11) == "11 постов"
    assert i18n.format_number(1234.5, "ru") == "1\xa0234" and i18n.format_number(2.345, "en") == "2.35"
    assert i18n.format_number(1234.5, "en", 1) == "1,234.5" and i18n.format_number(0.5, "kk", 1) == "0,5"
    assert i18n.norm_lang("KK") == "kk" and i18n.norm_lang("de") == "ru" and i18n.norm_lang(None) == "ru"
    # the level colours: one definition (static/dashboard.css), read by the SVG, the map and the chart
    assert [i18n.level_colour(k) for k in range(4)] == ["#2e7d32", "#f9a825", "#c62828", "#6a1b9a"]
    assert i18n.level_colour(None) == "#9e9e9e"


# --- pages on the real stations ---------------------------------------------------------------------------------


@pytest.mark.realdata
def test_map_shows_coloured_stations_and_lists_protva(client):
    page = client.get("/?lang=en").text
    circles = re.findall(r'<circle class="st lvl(\w+)"[^>]*fill="(#[0-9a-f]{6})" data-station="([^"]+)"', page)
    assert len(circles) == 9  # the 10 real stations less the Protva (no coordinates)
    for lvl, colour, sid in circles:
        level = client.levels[sid]
        assert lvl == ("none" if level is None else str(level)) and colour == i18n.level_colour(level)
    assert {lvl for lvl, _, _ in circles} >= {"0", "1", "2", "3", "none"}  # every colour appears, and grey
    # the Chatkal (record ends in 1967) has no current data on 1 June 2020: grey with its reason, never "Normal"
    assert client.levels["UZ16279_chatkal_khudaydod"] is None
    chatkal = re.search(r'<tr data-station="UZ16279_chatkal_khudaydod"[^>]*>.*?</tr>', page, re.S).group(0)
    assert 'data-state="stale"' in chatkal and "Data out of date" in chatkal and "Normal" not in chatkal
    assert "newest observation 15 September 1967, 19253 days before the issue date" in chatkal
    assert 'id="legend-grey"' in page and 'id="grey-note"' in page
    # the Protva: not on the map as a point, listed beside it (grey: its record ends in 2005), its basin polygon
    # drawn grey
    assert "PROTVA_SZ" not in {sid for _, _, sid in circles}
    side = page[page.index('id="no-coords"') :]
    assert "Protva - Spas-Zagorye" in side[: side.index("</table>")] and "Data out of date" in side
    assert re.search(r'<path class="basin lvlnone"[^>]*data-basin="PROTVA_SZ"', page)
    # issue date, review status and forecast age always visible; a 2020 forecast read today is outdated, in red
    assert 'id="issue-date">1 June 2020<' in page
    assert 'id="review-status"' in page and "published without review by a hydrologist" in page
    assert 'id="forecast-age" class="outdated"' in page and 'id="outdated-banner"' in page
    # the one station at the extreme level (the Albula, grown x1.25) with its phrase in the station list
    row = re.search(r'<tr data-station="CH2141" data-level="3"[^>]*>.*?</tr>', page, re.S)
    phrase = "Exceedance of the critical mark possible from 8 June (probability 35%)"
    assert row and f'<div class="phrase">{phrase}</div>' in row.group(0)
    assert page.count("Exceedance of the critical mark") == 1
    assert "cdn" not in page.lower() and "https://" not in page  # nothing from the internet


@pytest.mark.realdata
def test_languages_switch_and_are_remembered(client):
    ru = client.get("/?lang=ru")
    assert "Карта паводковой опасности" in ru.text and "1 июня 2020" in ru.text
    assert ru.cookies.get(i18n.LANG_COOKIE) == "ru" or client.cookies.get(i18n.LANG_COOKIE) == "ru"
    kk = client.get("/?lang=kk").text
    assert "Су тасқыны қаупінің картасы" in kk and "2020\u202fж. 1 маусым" in kk and 'lang="kk"' in kk
    assert "Су тасқыны қаупінің картасы" in client.get("/").text  # remembered in the cookie
    client.get("/?lang=en")
    assert "Forecast issues" in client.get("/runs").text
    # station and river names as the data gives them, in every language
    for lang in i18n.LANGS:
        assert "Lütschine - Gsteig" in client.get(f"/?lang={lang}").text


@pytest.mark.realdata
def test_station_page_hydrograph_fan_thresholds_csv(client):
    page = client.get("/stations/CH2185?lang=en").text
    svg = page[page.index('<svg class="hydrograph"') : page.index("</svg>", page.index('<svg class="hydrograph"'))]
    assert svg.count('class="observed"') >= 1 and 'class="median"' in svg
    assert 'class="band90"' in svg and 'class="band50"' in svg
    assert {"thr-warning", "thr-danger", "thr-extreme"} <= set(re.findall(r"thr-\w+", svg))
    # the thresholds' source in the reader's language, from its structured parts (the record's years)
    table = page[page.index('id="threshold-table"') : page.index("</table>", page.index('id="threshold-table"'))]
    assert "derived: the 2-year flood, from the record 1981–2020 (40 complete years)" in table
    assert "Gumbel" not in table
    ru = client.get("/stations/CH2185?lang=ru").text
    assert "расчётная: расход воды повторяемостью 1 раз в 2 года, по наблюдениям 1981–2020 гг. (40 полных лет)" in ru
    rows = re.findall(r"<tr>\s*<td>(\d)</td>", page[page.index('id="lead-table"') :])
    assert rows == [str(k) for k in range(1, 8)]
    assert "Exceedance of the danger mark" in page and "from 8 June" in page
    assert 'id="skill-other-model"' in page  # a persistence forecast: the model's backtest skill is not its own
    assert "This forecast has no explanation" in page  # the synthetic forecast carries no driver contributions
    r = client.get("/stations/CH2185/forecast.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    # the same CSV as the API's (one export: records.published.forecast_csv)
    api = client.get("/api/v1/stations/CH2185/forecast.csv?issue_date=2020-06-01")
    assert r.text == api.text and "p_exceed_danger" in lines[0] and len(lines) == 8
    assert lines[1].startswith("CH2185,2020-06-01,unreviewed,")


@pytest.mark.realdata
def test_station_page_shows_backtest_skill(real_data, tmp_path):
    import json

    from service.app import create_app

    home = ds.copy_home(ds.prepared_store(real_data, ["CH2141"]), tmp_path / "home")
    settings = ds.settings_for(home)
    ds.publish_synthetic(home, settings, model_name="lightgbm")
    home.backtest_dir.mkdir(parents=True, exist_ok=True)
    report = {
        "stations": {
            "CH2141": {
                "test_start": "2016-01-01",
                "test_end": "2020-12-31",
                "n_issues": 1827,
                "leads": {
                    "1": {"nse": 0.91, "skill_vs_persistence": 0.64, "coverage_90": 0.88, "csi_warning": 0.5},
                    "7": {"nse": 0.52, "skill_vs_persistence": 0.43, "coverage_90": 0.86, "csi_warning": None},
                },
            }
        }
    }
    (home.backtest_dir / "report.json").write_text(json.dumps(report))
    with TestClient(create_app(settings)) as c:
        page = c.get("/stations/CH2141?lang=en").text
    table = page[page.index('id="skill-table"') :]
    assert "0.64" in table and "0.43" in table and "88%" in table and "report.json" in page


@pytest.mark.realdata
def test_basin_runs_and_protva_pages(client):
    page = client.get("/basins/PROTVA_SZ?lang=ru").text
    assert "Protva - Spas-Zagorye" in page and "Данные устарели" in page  # stale: record ends in 2005
    assert 'id="basin-no-level"' in page and 'data-state="stale"' in page
    assert 'data-basin="PROTVA_SZ"' in page  # its outline on the basin map
    st = client.get("/stations/PROTVA_SZ?lang=en").text
    assert "no coordinates" in st and 'class="observed"' not in st  # no observations near 2020
    runs = client.get("/runs?lang=en").text
    assert client.run_id in runs and "published without review" in runs
    assert 'id="audit-login"' in runs and 'id="audit-table"' not in runs  # the trail is for signed-in users
    assert re.search(r'<td class="numc warn"[^>]*>2<div class="small">Data out of date: 2<br>', runs)  # Protva, Chatkal


@pytest.mark.realdata
def test_bad_input(client):
    assert client.get("/stations/NOPE?lang=en").status_code == 404
    assert "Unknown station: NOPE" in client.get("/stations/NOPE?lang=en").text
    assert client.get("/basins/NOPE").status_code == 404
    assert client.get("/?issue_date=2020-13-45").status_code == 422
    page = client.get("/?issue_date=1999-01-01&lang=en")
    assert page.status_code == 200 and "No forecast has been published yet" in page.text
    assert client.get("/stations/NOPE/forecast.csv").status_code == 404


def test_map_with_500_synthetic_stations(tmp_path):
    """A registry of 500 stations: the map page draws every station and stays light (server-side SVG); its speed is
    measured by bench/dashboard.py, not here."""
    from service.app import create_app

    h = ds.synthetic_registry(ds.Home(tmp_path / "home"), 500)
    settings = ds.settings_for(h)
    ds.publish_synthetic(
        h, settings, issue_date=dt.date(2024, 3, 20), growth={f"SYN{i:04d}": 1.05 for i in range(0, 500, 7)}
    )
    with TestClient(create_app(settings)) as c:
        r = c.get("/")
    assert r.status_code == 200
    assert r.text.count('<circle class="st') == 500
    assert len(r.content) < 600_000, len(r.content)


def test_map_svg_offline_outline_and_optional_tiles(tmp_path):
    """Without a tile URL the map is an outline only; with one, tiles of the view are referenced (the browser would
    load them from the configured server); station points are placed in Web Mercator."""
    from records.published import StationLevelView
    from service.svg.geo_map import map_svg, merc

    def row(sid: str, name: str, lat: float | None, lon: float | None, level: int | None) -> StationLevelView:
        state = "ok" if level is not None else "stale"
        return StationLevelView(
            station_id=sid, name=name, river="", basin_id="B", lat=lat, lon=lon, level=level, level_label=state,
            state=state, reason=None, model_level=level, first_date=None, probability=None, trend=None,
            data_age_days=None, model_name=None, status=None, stale=False, message=None,
        )  # fmt: skip

    st = [
        row("11433", "Atbasar", 51.7978, 68.3689, 2),
        row("11001", "Boran", 48.0045, 85.2222, 0),
        row("11124", "Berel", 49.3658, 86.4484, None),
        row("X", "No coords", None, None, 1),
    ]
    offline = str(map_svg({}, st, [], "en"))
    assert "<image" not in offline and 'class="land"' in offline
    assert offline.count("<circle") == 3 and 'data-station="X"' not in offline
    assert f'fill="{i18n.NO_DATA_COLOUR}" data-station="11124" data-level="none"' in offline  # no current data: grey
    x, y = merc(68.3689, 51.7978)
    assert f'cx="{x * 100000:.0f}" cy="{y * 100000:.0f}"' in offline
    assert f'fill="{i18n.level_colour(2)}" data-station="11433"' in offline
    tiles = str(map_svg({}, st, [], "en", tile_url="http://tiles.local/{z}/{x}/{y}.png"))
    hrefs = re.findall(r'<image href="http://tiles\.local/(\d+)/(\d+)/(\d+)\.png"', tiles)
    assert 1 <= len(hrefs) <= 64 and len({z for z, _, _ in hrefs}) == 1
    z = int(hrefs[0][0])
    assert all(0 <= int(tx) < 2**z and 0 <= int(ty) < 2**z for _, tx, ty in hrefs)
    assert 'class="land over-tiles"' in tiles


def test_hydrograph_keeps_the_data_legible():
    """Thresholds within reach are drawn as lines; those far above the data are named above the plot."""
    from service.svg.charts import hydrograph_svg

    issue = dt.date(2024, 4, 10)
    obs = [(issue - dt.timedelta(days=k), 5.0 + k % 3) for k in range(30, -1, -1)]
    fan = [
        {"date": issue + dt.timedelta(days=k), "q05": 4.0, "q25": 5.0, "q50": 6.0, "q75": 7.0, "q95": 9.0 + k}
        for k in range(1, 8)
    ]
    svg = str(hydrograph_svg(obs, fan, {"warning": 12.0, "danger": 60.0, "extreme": 90.0}, issue, "en"))
    assert "thr-warning" in svg and "thr-danger" not in svg and "thr-extreme" not in svg
    assert "above the chart: Danger mark 60.0, Critical mark 90.0 m³/s" in svg
    assert svg.count('class="observed"') == 1 and 'class="median"' in svg
    gap = obs[:10] + obs[15:]  # a gap in the observations breaks the line
    assert str(hydrograph_svg(gap, fan, {}, issue, "ru")).count('class="observed"') == 2
