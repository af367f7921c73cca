"""The response cache (issue 12, High 5): keys hold only the query parameters the endpoint takes, in canonical
order (junk parameters neither add entries nor miss the clean answer), and the cache is bounded by bytes."""

from __future__ import annotations

import secrets

import pytest
from fastapi.testclient import TestClient

from service.cache import ENTRY_OVERHEAD, ResponseCache, query_key
from tests import dashboard_support as ds

STATIONS = ["CH2141", "CH2185", "PROTVA_SZ"]


def test_query_key_keeps_the_endpoints_parameters_only() -> None:
    params = frozenset({"issue_date", "format"})
    clean = query_key("format=csv&issue_date=2020-06-01", params)
    assert clean == (("format", "csv"), ("issue_date", "2020-06-01"))
    assert query_key("issue_date=2020-06-01&junk=1&format=csv&x=%00", params) == clean  # order, junk
    assert query_key("format=json&format=csv&issue_date=2020-06-01", params) == clean  # the last value wins
    assert query_key("issue_%64ate=2020-06-01&format=csv", params) == clean  # percent-encoded names decoded
    assert query_key("FORMAT=csv&junk=" + "x" * 10_000, params) == ()
    assert query_key("anything=1", frozenset()) == ()


def test_bounded_by_bytes_least_recently_used_first() -> None:
    cache = ResponseCache(max_bytes=100_000)
    body = b"x" * 9_000
    for k in range(30):
        assert cache.put(("g", k), body, "application/json")
        assert cache.nbytes <= cache.max_bytes
        assert cache.get(("g", 0)) is not None  # 0 is used after every put: never the least recently used
    assert cache.nbytes == len(cache) * (9_000 + len("application/json") + ENTRY_OVERHEAD) <= 100_000
    assert len(cache) == 10 and cache.get(("g", 1)) is None and cache.get(("g", 20)) is None
    assert [cache.get(("g", k)) is not None for k in (0, 21, 29)] == [True, True, True]
    assert cache.get(("g", 29)) is not None
    # an answer larger than an eighth of the bound is not kept at all
    assert not cache.put(("g", "big"), b"y" * 20_000, "text/csv") and cache.get(("g", "big")) is None
    # replacing an entry does not count it twice
    n = cache.nbytes
    cache.put(("g", 29), body, "application/json")
    assert cache.nbytes == n
    cache.invalidate()
    assert cache.nbytes == 0 and len(cache) == 0


@pytest.fixture(scope="module")
def app_settings(real_data, tmp_path_factory):
    src = ds.prepared_store(real_data, STATIONS)
    h = ds.copy_home(src, tmp_path_factory.mktemp("cache") / "home")
    settings = ds.settings_for(h, cache_revalidate_s=60)
    ds.publish_synthetic(h, settings)
    return settings


def _junk() -> str:
    """A query string of random junk parameters (names, values, repeats, encodings)."""
    parts = []
    for _ in range(secrets.randbelow(6) + 1):
        name = secrets.choice(["junk", "x", "Format", "issue-date", "a%20b", secrets.token_hex(3)])
        value = secrets.choice([secrets.token_hex(50), "", "%ff%fe", "1e400", "../../etc", secrets.token_urlsafe(500)])
        parts.append(f"{name}={value}")
    return "&".join(parts)


@pytest.mark.realdata
def test_junk_parameters_hit_the_clean_answer_and_stay_within_the_bound(app_settings) -> None:
    from service.app import create_app

    app = create_app(app_settings.replace(cache_max_mb=1.0))
    with TestClient(app) as c:
        cache = app.state.tasqyn.cache
        paths = [
            "/api/v1/basins",
            "/api/v1/basins?format=geojson",
            "/api/v1/stations",
            "/api/v1/stations/CH2185",
            "/api/v1/stations/CH2185/forecast",
            "/api/v1/stations/CH2185/forecast?format=csv",
            "/api/v1/stations/CH2141/observations",
        ]
        clean = {}
        for p in paths:
            r = c.get(p)
            assert r.status_code == 200, (p, r.text)
            clean[p] = (r.content, r.headers["content-type"])
        entries = len(cache)
        for i in range(500):
            p = paths[i % len(paths)]
            r = c.get(p + ("&" if "?" in p else "?") + _junk())
            assert r.status_code == 200 and (r.content, r.headers["content-type"]) == clean[p], p
            assert r.headers.get("x-cache") == "hit", (p, len(r.content))  # fast path or endpoint: one key
            assert cache.nbytes <= cache.max_bytes
        assert len(cache) == entries  # no entry for any junk
        # distinct real answers beyond the bound: older ones are dropped, the bound holds
        for day in range(40):
            c.get(f"/api/v1/stations/CH2141/observations?end=2019-0{day % 9 + 1}-{day % 28 + 1:02d}")
            assert cache.nbytes <= cache.max_bytes
        assert cache.nbytes > cache.max_bytes // 2


@pytest.mark.realdata
def test_public_pages_from_the_cache_for_anonymous_readers_only(app_settings) -> None:
    from records.accounts import add_user
    from service.app import create_app

    app = create_app(app_settings)
    with ds.session_factory(app_settings)() as s:
        add_user(s, "pagehydro", "page-pass-1", "hydrologist")
        s.commit()
    with TestClient(app) as a, TestClient(app) as b:
        first = a.get("/?lang=en")
        assert first.status_code == 200 and first.headers.get("x-cache") is None
        again = b.get("/?lang=en")  # another browser, no cookies yet
        assert again.headers.get("x-cache") == "hit" and again.content == first.content
        assert again.cookies.get("tasqyn_csrf") and again.cookies.get("tasqyn_csrf") != first.cookies.get("tasqyn_csrf")
        assert again.cookies.get("tasqyn_lang") == "en"
        for url in ("/stations/CH2185", "/basins/CH2141"):
            assert a.get(url).status_code == 200 and b.get(url).headers.get("x-cache") == "hit"
        # gzip is its own entry, and stays gzip
        z = b.get("/?lang=en", headers={"Accept-Encoding": "gzip"})
        assert z.headers.get("content-encoding") == "gzip" and z.content == first.content
        z2 = a.get("/?lang=en", headers={"Accept-Encoding": "gzip"})
        assert z2.headers.get("x-cache") == "hit" and z2.headers.get("content-encoding") == "gzip"
        # the login page (a form with the browser's CSRF token) is never cached
        assert "x-cache" not in a.get("/login").headers and "x-cache" not in a.get("/login").headers
        # a logged-in reader gets the page rendered for them
        token = a.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        r = a.post("/login", data={"username": "pagehydro", "password": "page-pass-1", "csrf_token": token})
        assert r.status_code == 200  # redirected to the map
        page = a.get("/?lang=en")
        assert "x-cache" not in page.headers and "pagehydro" in page.text
        # a change made here (any POST) shows at once
        assert b.get("/?lang=en").headers.get("x-cache") is None


def test_answers_are_not_kept_past_midnight(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers carry the forecast's age in days: a new local day is a new generation (the cache empties)."""
    import datetime as dt

    import forecasting.config

    cache = ResponseCache(revalidate_s=0)
    monkeypatch.setattr(forecasting.config, "local_today", lambda tz=None: dt.date(2024, 4, 1))
    gen = cache.generation(lambda: (1, 2))
    cache.put((gen, "/api/v1/basins"), b"[]", "application/json")
    assert cache.generation(lambda: (1, 2)) == gen and len(cache) == 1
    monkeypatch.setattr(forecasting.config, "local_today", lambda tz=None: dt.date(2024, 4, 2))
    assert cache.generation(lambda: (1, 2)) != gen and len(cache) == 0
