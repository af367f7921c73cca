"""Database time limits (issue 12, Medium): a PostgreSQL behind a TCP proxy that accepts and then stops forwarding
(the real stall: statement_timeout cannot help, nothing reaches the server) fails requests fast with 503 and
recovers when the network does; SQLite waits for a writer's lock at most the service's timeout."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time

import pytest
from fastapi.testclient import TestClient

from tests import dashboard_support as ds
from tests.test_db import _drop_extra_schemas, new_pg_url, pg_schema  # noqa: F401 (fixtures)

STATIONS = ["CH2141", "CH2185", "PROTVA_SZ"]


class StallingProxy:
    """A TCP forwarder to 127.0.0.1:5432 that can stall: it keeps accepting and reading, forwards nothing (data
    waits in the proxy, as in a hung network path) until resumed."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.target = target
        self.go = threading.Event()
        self.go.set()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.port = self.srv.getsockname()[1]
        self.socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.srv.accept()
            except OSError:
                return
            self.socks.append(client)
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self.go.wait()  # a new connection while stalled: accepted, never connected upstream
        upstream = socket.create_connection(self.target)
        self.socks.append(upstream)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                self.go.wait()
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def stall(self) -> None:
        self.go.clear()

    def resume(self) -> None:
        self.go.set()

    def close(self) -> None:
        self.go.set()
        for s in [self.srv, *self.socks]:
            with contextlib.suppress(OSError):
                s.close()


@pytest.fixture()
def pg_home(real_data, tmp_path, pg_schema):  # noqa: F811
    url = new_pg_url(pg_schema)
    h = ds.copy_home(ds.prepared_store(real_data, STATIONS), tmp_path / "home")
    settings = ds.settings_for(h).replace(database_url=url)
    ds.publish_synthetic(h, settings)
    return h, url


def _timed(c: TestClient, url: str) -> tuple[int, float, dict]:
    t0 = time.monotonic()
    r = c.get(url)
    return r.status_code, time.monotonic() - t0, r.json()


@pytest.mark.postgres
@pytest.mark.realdata
def test_a_stalled_postgresql_fails_requests_fast_and_recovers(pg_home) -> None:
    from service.app import create_app

    h, url = pg_home
    proxy = StallingProxy()
    proxied = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    settings = ds.settings_for(h).replace(database_url=proxied, db_timeout_s=1.0, cache_revalidate_s=0)
    try:
        # the premise: through the stalled proxy a plain driver call hangs (here for 3 s, then let go)
        import psycopg

        plain = psycopg.connect(f"host=127.0.0.1 port={proxy.port} user=postgres dbname=test", connect_timeout=3)
        proxy.stall()
        done = threading.Event()
        threading.Thread(target=lambda: (plain.execute("SELECT 1").fetchall(), done.set()), daemon=True).start()
        assert not done.wait(3.0)  # no statement_timeout can end this: the server never saw the statement
        proxy.resume()
        assert done.wait(5.0)
        plain.close()

        with TestClient(create_app(settings)) as c:
            assert c.get("/api/v1/basins").status_code == 200
            assert c.get("/api/v1/stations/CH2185/forecast").status_code == 200
            proxy.stall()
            # pooled connections stalled mid-ping: the watchdog ends the wait after 1 + 0.5 s
            status, took, body = _timed(c, "/api/v1/stations")
            assert status == 503 and took < 4.0, (status, took, body)
            assert body == {"detail": "the database is unavailable; try again shortly"}
            # the breaker is open: the next requests do not wait the limit out again
            for path in ("/api/v1/basins", "/api/v1/health", "/api/v1/stations/CH2185/forecast"):
                status, took, _ = _timed(c, path)
                assert status == 503 and took < 1.0, (path, status, took)
            # once the breaker closes, a new connection through the stalled proxy: the connect timeout (2 s)
            time.sleep(2.1)
            status, took, _ = _timed(c, "/api/v1/stations")
            assert status == 503 and took < 4.5, (status, took)
            # a page too: an HTML 503, fast
            t0 = time.monotonic()
            r = c.get("/stations/CH2185")
            assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")
            assert time.monotonic() - t0 < 4.5
            # the network comes back: served again within the breaker's retry window
            proxy.resume()
            deadline = time.monotonic() + 10
            while c.get("/api/v1/stations").status_code != 200:
                assert time.monotonic() < deadline, "no recovery within 10 s"
                time.sleep(0.3)
            assert c.get("/api/v1/health").json()["database"] == "ok"
    finally:
        proxy.close()


@pytest.mark.realdata
def test_sqlite_writer_lock_fails_a_write_after_the_timeout(real_data, tmp_path) -> None:
    from service.app import create_app

    h = ds.copy_home(ds.prepared_store(real_data, STATIONS), tmp_path / "home")
    settings = ds.settings_for(h, db_timeout_s=1.0)
    ds.publish_synthetic(h, settings)
    with TestClient(create_app(settings)) as c:
        page = c.get("/login").text
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        holder = sqlite3.connect(h.database, timeout=1)
        holder.execute("BEGIN IMMEDIATE")  # another process writing (the daily flow, a backup)
        try:
            assert c.get("/api/v1/basins").status_code == 200  # readers are not blocked (WAL)
            t0 = time.monotonic()
            r = c.post("/login", data={"username": "x", "password": "y", "csrf_token": token})
            took = time.monotonic() - t0
            assert r.status_code == 503 and took < 4.0, (r.status_code, took)
            assert r.headers["content-type"].startswith("text/html") and "database is locked" not in r.text
        finally:
            holder.rollback()
            holder.close()
        r = c.post("/login", data={"username": "x", "password": "y", "csrf_token": token})
        assert r.status_code == 401
