"""Roles and access: passwords, API keys, sessions, CSRF, login rate limiting, and the access rules on the API and
the dashboard (akimat keys cannot review, basin-limited keys cannot read other basins, revoked keys fail, anonymous
reading only where configured). The service runs on real stations with a published synthetic forecast."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient

from records import accounts as auth
from service import auth as web_auth
from tests import dashboard_support as ds

STATIONS = ["CH2141", "CH2185", "PROTVA_SZ"]


# --- primitives ------------------------------------------------------------------------------------------------


def test_password_hash_is_argon2_and_verifies():
    h = auth.hash_password("correct horse")
    assert h.startswith("$argon2id$")
    assert "correct horse" not in h
    assert auth.verify_password(h, "correct horse")
    assert not auth.verify_password(h, "wrong horse")
    assert not auth.verify_password("not-a-hash", "correct horse")
    with pytest.raises(auth.AuthError):
        auth.hash_password("")


def test_api_key_format_and_prefix():
    key, prefix = auth.new_api_key()
    assert key.startswith(prefix + "_") and prefix.startswith("tq_") and len(prefix) == 11
    assert len(key) > 50
    assert auth.hash_token(key) != key and len(auth.hash_token(key)) == 64


def test_csrf_tokens():
    secret = b"s" * 32
    seed = auth.new_csrf_seed()
    token = auth.csrf_token(secret, seed)
    assert auth.check_csrf(secret, seed, token)
    assert not auth.check_csrf(secret, seed, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not auth.check_csrf(secret, auth.new_csrf_seed(), token)
    assert not auth.check_csrf(b"t" * 32, seed, token)
    assert not auth.check_csrf(secret, None, token) and not auth.check_csrf(secret, seed, "")


# --- database-backed: users, keys, sessions ------------------------------------------------------------------


@pytest.fixture()
def factory(home):
    settings = ds.settings_for(home)
    return ds.session_factory(settings)


def test_users_keys_sessions(factory):
    secret = b"k" * 32
    with factory() as s:
        user = auth.add_user(s, "aigul", "s3cret-pass", "hydrologist")
        with pytest.raises(auth.AuthError, match="already exists"):
            auth.add_user(s, "aigul", "x", "akimat")
        with pytest.raises(auth.AuthError, match="unknown role"):
            auth.add_user(s, "bolat", "x", "mayor")
        s.commit()
        assert user.password_hash.startswith("$argon2id$")
        assert auth.authenticate_user(s, "aigul", "s3cret-pass").id == user.id
        assert auth.authenticate_user(s, "aigul", "wrong") is None
        assert auth.authenticate_user(s, "nobody", "s3cret-pass") is None

        cookie = auth.create_session(s, secret, user)
        s.commit()
        assert auth.user_for_session(s, secret, cookie).username == "aigul"
        assert auth.user_for_session(s, b"x" * 32, cookie) is None  # another secret
        forged = ("A" if cookie[0] != "A" else "B") + cookie[1:]
        assert auth.user_for_session(s, secret, forged) is None
        assert auth.user_for_session(s, secret, cookie, now=time.time() + 13 * 3600) is None  # expired
        user.password_hash = auth.hash_password("new-pass")  # a changed password ends the session
        s.commit()
        assert auth.user_for_session(s, secret, cookie) is None

        token, row = auth.create_api_key(s, "akimat-pavlodar", "akimat", ["CH2141"])
        s.commit()
        assert row.key_hash == auth.hash_token(token) and token not in row.key_hash
        assert token.startswith(row.key_prefix + "_")
        p = auth.principal_for_key(s, token)
        assert p.role == "akimat" and p.basins == frozenset({"CH2141"}) and p.via == "key"
        assert not p.can_review and p.can_read_basin("CH2141") and not p.can_read_basin("CH2185")
        assert auth.principal_for_key(s, token[:-2] + "zz") is None
        assert auth.principal_for_key(s, "tq_nothing") is None
        revoked = auth.revoke_api_key(s, row.key_prefix)
        s.commit()
        assert [r.id for r in revoked] == [row.id] and row.revoked_at is not None
        assert auth.principal_for_key(s, token) is None
        with pytest.raises(auth.AuthError):
            auth.revoke_api_key(s, row.key_prefix)  # nothing active left

        auth.remove_user(s, "aigul")
        s.commit()
        assert auth.list_users(s) == []
        with pytest.raises(auth.AuthError):
            auth.remove_user(s, "aigul")


# --- access rules through the application ---------------------------------------------------------------------


@pytest.fixture()
def service(real_data, tmp_path):
    """(home, settings, keys) with 3 real stations and a published synthetic forecast."""
    src = ds.prepared_store(real_data, STATIONS)
    h = ds.copy_home(src, tmp_path / "home")
    settings = ds.settings_for(h)
    ds.publish_synthetic(h, settings)
    keys = {}
    with ds.session_factory(settings)() as s:
        keys["akimat"], _ = auth.create_api_key(s, "akimat", "akimat")
        keys["akimat_one"], _ = auth.create_api_key(s, "akimat-one", "akimat", ["CH2141"])
        keys["hydro"], _ = auth.create_api_key(s, "hydro", "hydrologist")
        keys["revoked"], row = auth.create_api_key(s, "old", "akimat")
        auth.revoke_api_key(s, row.key_prefix)
        auth.add_user(s, "hydro1", "river-pass-1", "hydrologist")
        auth.add_user(s, "akim1", "akim-pass-1", "akimat", ["CH2141"])
        s.commit()
    return h, settings, keys


def _client(settings, **kw):
    from service.app import create_app

    return TestClient(create_app(settings.__class__(**{**settings.__dict__, **kw})))


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _issue(c: TestClient) -> str:
    return c.get("/api/v1/basins").json()[0]["issue_date"]


@pytest.mark.realdata
def test_akimat_key_cannot_review(service):
    _, settings, keys = service
    with _client(settings) as c:
        day = _issue(c)
        url = f"/api/v1/forecasts/{day}/review"
        r = c.post(url, json={"action": "approve"}, headers=_h(keys["akimat"]))
        assert r.status_code == 403 and "akimat" in r.json()["detail"]
        r = c.post(
            url,
            json={"action": "override", "station_id": "CH2141", "level": 0, "reason": "x"},
            headers=_h(keys["akimat_one"]),
        )
        assert r.status_code == 403
        assert c.post(url, json={"action": "approve"}).status_code == 401  # anonymous
        r = c.post(url, json={"action": "approve"}, headers=_h(keys["hydro"]))
        assert r.status_code == 200, r.text
        assert r.json()["review_status"] == "approved" and r.json()["action"]["username"] == "key:hydro"


@pytest.mark.realdata
def test_basin_limited_key_cannot_read_another_basin(service):
    _, settings, keys = service
    with _client(settings) as c:
        h = _h(keys["akimat_one"])
        assert c.get("/api/v1/basins/CH2141", headers=h).status_code == 200
        r = c.get("/api/v1/basins/CH2185", headers=h)
        assert r.status_code == 403 and "CH2185" in r.json()["detail"]
        assert c.get("/api/v1/basins/CH2185/outlook", headers=h).status_code == 403  # its outlook neither
        assert [b["basin_id"] for b in c.get("/api/v1/basins", headers=h).json()] == ["CH2141"]
        assert c.get("/api/v1/basins/CH2185", headers=_h(keys["akimat"])).status_code == 200
        # the dashboard applies the same rule
        assert c.get("/basins/CH2185", headers=h).status_code == 403
        assert c.get("/stations/CH2185", headers=h).status_code == 403
        page = c.get("/", headers=h).text
        assert 'data-station="CH2141"' in page and 'data-station="CH2185"' not in page


@pytest.mark.realdata
def test_revoked_or_unknown_key_fails(service):
    _, settings, keys = service
    with _client(settings) as c:
        for key in (keys["revoked"], keys["akimat"][:-3] + "abc", "tq_deadbeef_nope"):
            r = c.get("/api/v1/basins", headers=_h(key))
            assert r.status_code == 401, key
            assert "revoked" in r.json()["detail"] or "invalid" in r.json()["detail"]
        assert c.get("/api/v1/basins", headers={"X-API-Key": keys["akimat"]}).status_code == 200


@pytest.mark.realdata
def test_anonymous_access_only_where_configured(service):
    _, settings, keys = service
    with _client(settings, anonymous_read=True) as c:
        assert c.get("/api/v1/basins").status_code == 200
        assert c.get("/").status_code == 200
        assert c.get("/stations/CH2141").status_code == 200
    with _client(settings, anonymous_read=False) as c:
        assert c.get("/api/v1/basins").status_code == 401
        assert c.get("/api/v1/stations/CH2141/forecast").status_code == 401
        r = c.get("/", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert c.get("/stations/CH2141", follow_redirects=False).status_code == 303
        assert c.get("/login").status_code == 200
        assert c.get("/api/v1/basins", headers=_h(keys["akimat"])).status_code == 200
        assert c.get("/", headers=_h(keys["akimat"])).status_code == 200


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.mark.realdata
def test_login_form_session_csrf_and_rate_limit(service):
    _, settings, _ = service
    with _client(settings, anonymous_read=False, login_max_failures=3) as c:
        token = _csrf(c.get("/login").text)
        # no CSRF token: refused
        r = c.post("/login", data={"username": "hydro1", "password": "river-pass-1"}, follow_redirects=False)
        assert r.status_code == 403
        # wrong password three times, then blocked even with the right one
        for _ in range(3):
            r = c.post("/login", data={"username": "hydro1", "password": "nope", "csrf_token": token})
            assert r.status_code == 401
        r = c.post("/login", data={"username": "hydro1", "password": "river-pass-1", "csrf_token": token})
        assert r.status_code == 429 and "Retry-After" in r.headers
        # another user from the same client is not blocked; the session works
        r = c.post(
            "/login",
            data={"username": "akim1", "password": "akim-pass-1", "csrf_token": token, "next": "/runs"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/runs"
        cookie = r.cookies.get(web_auth.SESSION_COOKIE) or c.cookies.get(web_auth.SESSION_COOKIE)
        assert cookie and "akim1" not in cookie  # signed id, not the name
        page = c.get("/").text
        assert "akim1" in page and 'data-station="CH2185"' not in page  # limited to CH2141
        # the session cannot review (akimat), even with a valid CSRF token
        day = c.get("/api/v1/basins").json()[0]["issue_date"]
        r = c.post(f"/forecasts/{day}/review", data={"action": "approve", "csrf_token": token})
        assert r.status_code == 403
        r = c.post(f"/api/v1/forecasts/{day}/review", json={"action": "approve"})
        assert r.status_code == 403
        # logout needs the token, then the session is gone
        assert c.post("/logout", data={}).status_code == 403
        c.post("/logout", data={"csrf_token": token})
        assert c.get("/", follow_redirects=False).status_code == 303


def test_cli_users_and_keys(tmp_path):
    """`tasqyn users add/list/remove` and `tasqyn keys create/revoke` against the home's database."""
    from typer.testing import CliRunner

    from flows.cli import app

    home = ["--home", str(tmp_path / "home")]
    run = CliRunner().invoke
    r = run(app, ["users", "add", "aigul", "--role", "hydrologist", "--password", "pw-1", *home])
    assert r.exit_code == 0, r.output
    r = run(app, ["users", "add", "bolat", "-r", "akimat", "-b", "CH2141", "-b", "CH2185", *home], input="pw-2\npw-2\n")
    assert r.exit_code == 0, r.output
    assert run(app, ["users", "add", "aigul", "--role", "akimat", "--password", "x", *home]).exit_code == 1
    assert run(app, ["users", "add", "x", "--role", "mayor", "--password", "x", *home]).exit_code == 1
    listing = run(app, ["users", "list", *home]).output
    assert "aigul" in listing and "CH2141, CH2185" in listing
    r = run(app, ["keys", "create", "pavlodar", "--role", "akimat", "-b", "CH2141", *home])
    assert r.exit_code == 0, r.output
    key = r.stdout.strip().splitlines()[-1]
    assert key.startswith("tq_")
    settings = ds.settings_for(ds.Home(tmp_path / "home"))
    with ds.session_factory(settings)() as s:
        assert auth.principal_for_key(s, key).basins == frozenset({"CH2141"})
        assert auth.authenticate_user(s, "bolat", "pw-2") is not None
    assert run(app, ["keys", "revoke", key[:11], *home]).exit_code == 0
    assert run(app, ["keys", "revoke", "pavlodar", *home]).exit_code == 1  # nothing active left
    with ds.session_factory(settings)() as s:
        assert auth.principal_for_key(s, key) is None
    assert run(app, ["users", "remove", "aigul", *home]).exit_code == 0
    assert run(app, ["users", "remove", "aigul", *home]).exit_code == 1
    assert "aigul" not in run(app, ["users", "list", *home]).output


def test_region_limited_key(tmp_path):
    """A key limited to a region reads the basins whose stations lie in it (store `region` metadata), no others."""
    import datetime as dt

    from service.app import create_app

    h = ds.synthetic_registry(ds.Home(tmp_path / "home"), 50)  # basins B00..B24, region of B<k> = "Region <k % 5>"
    settings = ds.settings_for(h)
    ds.publish_synthetic(h, settings, issue_date=dt.date(2024, 3, 20), growth={})
    with ds.session_factory(settings)() as s:
        key, _ = auth.create_api_key(s, "region-2", "akimat", ["region:Region 2"])
        s.commit()
    p = auth.Principal("k", "akimat", frozenset({"region:Region 2"}), "key", regions_of=lambda b: frozenset())
    assert not p.can_read_basin("B02")  # without a lookup, a region grants nothing
    with TestClient(create_app(settings)) as c:
        h_ = _h(key)
        assert sorted(b["basin_id"] for b in c.get("/api/v1/basins", headers=h_).json()) == [
            "B02",
            "B07",
            "B12",
            "B17",
            "B22",
        ]
        assert c.get("/api/v1/basins/B07", headers=h_).status_code == 200
        assert c.get("/api/v1/basins/B03", headers=h_).status_code == 403
        page = c.get("/", headers=h_).text
        assert page.count('<circle class="st') == 10 and 'data-station="SYN0007"' in page
        assert c.get("/stations/SYN0003", headers=h_).status_code == 403
