"""Time limits on every database round trip of an engine, so that a stalled PostgreSQL cannot hang a request.

PostgreSQL's own limits (`statement_timeout`, `lock_timeout`, `idle_in_transaction_session_timeout`) stop slow
statements when the server answers; libpq's `connect_timeout` and the pool's `pool_timeout` bound connecting and
waiting for a connection. None of them helps when the network stalls: the server (or a proxy) accepted the bytes
and never answers, and the client waits for ever. `install(engine, timeout_s)` therefore wraps the dialect's
round trips (execute, commit, rollback, the pool's pre-ping) with a watchdog: a call still waiting `timeout_s` +
GRACE_S later gets its socket shut down, which makes the driver fail at once (a disconnect: the pool drops that
connection). A stall (or a connection attempt that timed out) also opens a breaker for `retry_s`: meanwhile new
connections, pings and statements fail at once instead of each waiting out the limit again, so one request meets
the limit once, not once per query.

Errors are the driver's OperationalError, which the service answers with 503.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy.engine import Engine

log = logging.getLogger("tasqyn.records")
GRACE_S = 0.5  # after the server-side statement_timeout: the server's own cancel comes first when it can


def postgres_connect_args(timeout_s: float, options: str | None = None) -> dict[str, Any]:
    """libpq connection arguments for a service that must answer within about `timeout_s` seconds (`options`:
    those the URL gives, kept before ours)."""
    ms = max(1, int(timeout_s * 1000))
    opts = f"-c statement_timeout={ms} -c lock_timeout={ms} -c idle_in_transaction_session_timeout={10 * ms}"
    opts = f"{options} {opts}" if options else opts
    return {"connect_timeout": max(2, int(round(timeout_s))), "options": opts}  # libpq's minimum is 2 s


def _socket_fd(dbapi_conn: Any) -> int | None:
    conn = getattr(dbapi_conn, "dbapi_connection", None) or getattr(dbapi_conn, "driver_connection", None)
    conn = conn or dbapi_conn
    pgconn = getattr(conn, "pgconn", None)
    try:
        if pgconn is not None:
            return int(pgconn.socket)
        return int(conn.fileno())
    except Exception:  # noqa: BLE001 - closed, or not a socket-backed driver
        return None


class Watchdog:
    """One thread that shuts down the socket of any guarded call that outlives its deadline."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self._heap: list[tuple[float, int]] = []
        self._live: dict[int, Any] = {}
        self._fired: set[int] = set()
        self._ids = itertools.count()
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self.kills = 0

    @contextlib.contextmanager
    def guard(self, dbapi_conn: Any) -> Iterator[Callable[[], bool]]:
        """Guard one round trip on `dbapi_conn`; yields a function telling whether the watchdog fired."""
        token = next(self._ids)
        with self._cv:
            self._live[token] = dbapi_conn
            heapq.heappush(self._heap, (time.monotonic() + self.limit_s, token))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="db-watchdog", daemon=True)
                self._thread.start()
            self._cv.notify()
        try:
            yield lambda: token in self._fired
        finally:
            with self._cv:
                self._live.pop(token, None)
                self._fired.discard(token)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._heap:
                    self._cv.wait()
                deadline, token = self._heap[0]
                now = time.monotonic()
                if token not in self._live:
                    heapq.heappop(self._heap)
                    continue
                if deadline > now:
                    self._cv.wait(deadline - now)
                    continue
                heapq.heappop(self._heap)
                conn = self._live.get(token)
                self._fired.add(token)
            if conn is not None:
                self._kill(conn)

    def _kill(self, dbapi_conn: Any) -> None:
        fd = _socket_fd(dbapi_conn)
        if fd is None or fd < 0:
            return
        self.kills += 1
        log.warning("the database did not answer within %.1f s: closing that connection", self.limit_s)
        with contextlib.suppress(OSError):
            s = socket.socket(fileno=os.dup(fd))
            try:
                s.shutdown(socket.SHUT_RDWR)
            finally:
                s.close()


class Breaker:
    """Open for `retry_s` after a stall or a failed connection: meanwhile every round trip fails at once."""

    def __init__(self, retry_s: float, error: type[Exception]) -> None:
        self.retry_s = retry_s
        self.error = error
        self.open_until = 0.0

    def check(self) -> None:
        if time.monotonic() < self.open_until:
            raise self.error("the database did not answer in time; not retried for a moment")

    def trip(self) -> None:
        self.open_until = time.monotonic() + self.retry_s


def install(engine: Engine, timeout_s: float, retry_s: float = 2.0) -> Watchdog:
    """Guard every round trip of `engine` (PostgreSQL; see the module docstring). Returns the watchdog."""
    dialect = engine.dialect
    dbapi = dialect.loaded_dbapi
    watchdog = Watchdog(timeout_s + GRACE_S)
    breaker = Breaker(retry_s, dbapi.OperationalError)

    def guarded(orig: Callable[..., Any], conn_of: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            breaker.check()
            with watchdog.guard(conn_of(*args)) as fired:
                try:
                    return orig(*args, **kwargs)
                except dbapi.Error:
                    if fired():
                        breaker.trip()
                    raise

        return call

    for name in ("do_execute", "do_execute_no_params", "do_executemany"):
        setattr(dialect, name, guarded(getattr(dialect, name), lambda cursor, *a: cursor.connection))
    for name in ("do_commit", "do_rollback", "do_ping"):
        setattr(dialect, name, guarded(getattr(dialect, name), lambda conn, *a: conn))

    connect = dialect.connect

    def guarded_connect(*args: Any, **kwargs: Any) -> Any:
        breaker.check()
        t0 = time.monotonic()
        try:
            return connect(*args, **kwargs)
        except dbapi.Error:
            if time.monotonic() - t0 >= 1.0:  # timed out (a refused connection fails at once: nothing to spare)
                breaker.trip()
            raise

    dialect.connect = guarded_connect  # type: ignore[method-assign]
    engine._tasqyn_watchdog = watchdog  # type: ignore[attr-defined]
    engine._tasqyn_breaker = breaker  # type: ignore[attr-defined]
    return watchdog
