"""Sessions revocable on the server, security headers on every answer, secret_key and the SQLite database private
from the first byte (issue 12, Medium)."""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from records import accounts
from records.db import make_engine, private_file
from service.auth import SESSION_COOKIE
from tests import dashboard_support as ds

STATIONS = ["CH2141", "CH2185", "PROTVA_SZ"]
TEMPLATES = Path(__file__).resolve().parents[1] / "service" / "templates"


@pytest.fixture(scope="module")
def served(real_data, tmp_path_factory):
    src = ds.prepared_store(real_data, STATIONS)
    h = ds.copy_home(src, tmp_path_factory.mktemp("sessions") / "home")
    settings = ds.settings_for(h, anonymous_read=False)
    ds.publish_synthetic(h, settings)
    with ds.session_factory(settings)() as s:
        accounts.add_user(s, "hydro1", "river-pass-1", "hydrologist")
        s.commit()
    return h, settings


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _login(c: TestClient, user: str = "hydro1", password: str = "river-pass-1") -> str:
    token = _csrf(c.get("/login").text)
    r = c.post("/login", data={"username": user, "password": password, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    return c.cookies.get(SESSION_COOKIE)


@pytest.mark.realdata
def test_a_copied_cookie_stops_working_after_logout(served) -> None:
    from service.app import create_app

    _, settings = served
    app = create_app(settings)
    with TestClient(app) as c, TestClient(app) as thief:
        cookie = _login(c)
        thief.cookies.set(SESSION_COOKIE, cookie)  # a copy (another browser, a stolen cookie)
        assert thief.get("/api/v1/unconfirmed").status_code == 200  # a reviewer's endpoint
        assert thief.get("/runs", follow_redirects=False).status_code == 200
        c.post("/logout", data={"csrf_token": _csrf(c.get("/runs").text)}, follow_redirects=False)
        # the copy is dead on the server, not only deleted in the browser that logged out
        assert thief.get("/api/v1/unconfirmed").status_code == 401
        assert thief.get("/runs", follow_redirects=False).status_code == 303  # to the login page
        # a new login works; logging out everywhere ends it too
        cookie2 = _login(c)
        assert cookie2 != cookie and c.get("/api/v1/unconfirmed").status_code == 200
        with app.state.tasqyn.session_factory() as s:
            assert accounts.revoke_user_sessions(s, "hydro1") == 1
            s.commit()
        assert c.get("/api/v1/unconfirmed").status_code == 401


@pytest.mark.realdata
def test_expired_changed_or_forged_sessions_fail(served) -> None:
    _, settings = served
    factory = ds.session_factory(settings)
    secret = b"s" * 32
    with factory() as s:
        user = accounts.add_user(s, "tmp-user", "pw-1", "akimat")
        cookie = accounts.create_session(s, secret, user, hours=1)
        s.commit()
        assert accounts.user_for_session(s, secret, cookie).username == "tmp-user"
        assert accounts.user_for_session(s, secret, cookie, now=time.time() + 3601) is None  # expired
        token, sig = cookie.rsplit(".", 1)
        assert accounts.user_for_session(s, secret, token + ".x" + sig[1:]) is None  # signature
        assert accounts.user_for_session(s, secret, "x" * 10_000) is None
        assert accounts.user_for_session(s, secret, "") is None
        # the database holds only the token's hash
        from records.db import UserSession

        rows = s.query(UserSession).filter(UserSession.user_id == user.id).all()
        assert len(rows) == 1 and token not in rows[0].token_hash and rows[0].token_hash == accounts.hash_token(token)
        user.password_hash = accounts.hash_password("pw-2")
        s.commit()
        assert accounts.user_for_session(s, secret, cookie) is None
        assert not accounts.revoke_session(s, secret, "junk.cookie")
        # expired rows are deleted when a session starts
        accounts.create_session(s, secret, user, now=time.time() + 7200)
        s.commit()
        assert s.query(UserSession).filter(UserSession.user_id == user.id).count() == 1


def _assert_secure(r, what: str) -> None:
    h = r.headers
    csp = h.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, (what, csp)
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0], (what, csp)
    assert h.get("x-content-type-options") == "nosniff", what
    assert h.get("referrer-policy") == "strict-origin-when-cross-origin", what
    assert h.get("x-frame-options") == "DENY", what


@pytest.mark.realdata
def test_security_headers_on_every_answer(served) -> None:
    from service.app import create_app

    _, settings = served
    app = create_app(settings.replace(anonymous_read=True, cache_revalidate_s=60))

    @app.get("/api/v1/_boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as c:
        answers = {
            "api": c.get("/api/v1/basins"),
            "api cached (middleware)": c.get("/api/v1/basins"),
            "csv": c.get("/api/v1/stations/CH2185/forecast.csv"),
            "page": c.get("/"),
            "login": c.get("/login"),
            "static": c.get("/static/dashboard.css"),
            "docs": c.get("/docs"),
            "openapi": c.get("/openapi.json"),
            "404 api": c.get("/api/v1/nope"),
            "404 page": c.get("/nope"),
            "405": c.post("/api/v1/basins"),
            "422": c.get("/api/v1/basins?issue_date=x"),
            "500": c.get("/api/v1/_boom"),
        }
        assert answers["api cached (middleware)"].headers.get("x-cache") == "hit"
        for what, r in answers.items():
            _assert_secure(r, what)
        r = answers["500"]
        assert r.status_code == 500 and r.json() == {
            "detail": "internal error (logged); try again later or tell the operators"
        }
    # a tile server, when configured, is the one other image source
    with TestClient(create_app(settings.replace(tile_url="https://{s}.tile.example.org/{z}/{x}/{y}.png"))) as c:
        csp = c.get("/login").headers["content-security-policy"]
        assert "img-src 'self' data: https://*.tile.example.org;" in csp


def test_templates_run_no_inline_script() -> None:
    """The CSP's script-src 'self' holds only if no template runs inline script: every <script> loads a file or is
    a JSON data block, and no element carries an on* handler or a javascript: URL."""
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text, re.I):
            assert "src=" in tag or 'type="application/json"' in tag, (path.name, tag)
        assert not re.search(r"\son[a-z]+\s*=", text, re.I), path.name
        assert "javascript:" not in text.lower(), path.name


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_secret_key_private_from_the_first_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASQYN_SECRET_KEY", raising=False)
    old = os.umask(0)  # the most permissive umask: the mode must not depend on it
    try:
        home = tmp_path / "home"
        key = accounts.load_secret(home)
        assert len(key) == 64 and _mode(home / "secret_key") == 0o600
        assert accounts.load_secret(home) == key  # created once
        assert [p.name for p in home.iterdir()] == ["secret_key"]  # no temporary file left
        # a write that fails (disk full) leaves nothing behind, readable or not
        home2 = tmp_path / "home2"

        def full(fd: int, data: bytes) -> int:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "write", full)
        with pytest.raises(OSError, match="No space"):
            accounts.load_secret(home2)
        monkeypatch.undo()
        assert list(home2.iterdir()) == []
        # an older world-readable secret_key is narrowed
        (home / "secret_key").chmod(0o644)
        assert accounts.load_secret(home) == key and _mode(home / "secret_key") == 0o600
    finally:
        os.umask(old)


def test_sqlite_database_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        db = tmp_path / "home" / "tasqyn.db"
        engine = make_engine(f"sqlite:///{db}")
        from records.db import init_db

        init_db(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x)")
        for p in [db, *db.parent.glob("tasqyn.db-*")]:
            assert _mode(p) & 0o077 == 0, (p.name, oct(_mode(p)))  # the WAL and SHM files follow the database
        engine.dispose()
        # an existing database readable by everyone loses the world bits (not the owner's or the group's)
        other = tmp_path / "old.db"
        other.write_bytes(b"")
        other.chmod(0o664)
        private_file(other)
        assert _mode(other) == 0o660
    finally:
        os.umask(old)
