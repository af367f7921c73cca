"""In-memory caches of the service: serialized responses of the latest publication (bounded by bytes), loaded
NetCDF datasets.

Responses are keyed on a *generation*: (id of the latest published run, id of the newest review action). A new
publication, an approval or an override changes it, which empties the response cache. The generation is read from
the database at most every `revalidate_s` seconds (0: on every request), and `invalidate()` forces it (the review
endpoints of this process call it).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import xarray as xr

from forecasting.lru import LRU
from forecasting.storage import NETCDF_LOCK

Generation = tuple[Any, ...]


Entry = tuple[bytes, str, dict[str, str]]  # body, media type, headers
ENTRY_OVERHEAD = 512  # bytes counted per entry beyond its body and headers (key, tuple, dict)


def query_key(query_string: str, params: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """The query of a request as the cache keys it: only the parameters the endpoint takes (`params`), the last
    value of each (as FastAPI reads a repeated scalar parameter), in sorted order; anything else is dropped."""
    wanted = set(params)
    if not wanted or not query_string:
        return ()
    last: dict[str, str] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        if name in wanted:
            last[name] = value
    return tuple(sorted(last.items()))


def route_params(route: Any) -> frozenset[str]:
    """The query parameter names (aliases) a FastAPI route reads, its dependencies' included (kept on the route)."""
    names = getattr(route, "_tasqyn_query_params", None)
    if names is None:
        found: set[str] = set()
        todo = [getattr(route, "dependant", None)]
        while todo:
            dep = todo.pop()
            if dep is None:
                continue
            found.update(p.alias for p in dep.query_params)
            todo.extend(dep.dependencies)
        names = frozenset(found)
        if route is not None:
            route._tasqyn_query_params = names
    return names


class ResponseCache:
    """Bytes of responses by key, valid for one generation of the published data (thread-safe).

    Bounded by bytes (`max_bytes`: bodies, headers and ENTRY_OVERHEAD per entry), least recently used dropped first;
    an answer larger than an eighth of the bound is not kept. Keys hold the query normalised by `query_key`, so junk
    parameters neither make new entries nor miss the clean request's entry. The cache also remembers, for the
    paths it holds answers of, which query parameters their endpoint takes (`params_for`), so that the middleware
    can build the same key before routing."""

    MAX_PATHS = 4096

    def __init__(self, revalidate_s: float = 0.0, max_bytes: int = 64 * 2**20) -> None:
        self.revalidate_s = revalidate_s
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, tuple[Entry, int]] = OrderedDict()
        self._params: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._generation: Generation | None = None
        self._checked = 0.0
        self.nbytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def generation(self, read: Callable[[], Generation]) -> Generation:
        """The current generation, read with `read()` when due, with the local day (answers carry ages in days:
        they are not kept past midnight, Asia/Almaty); a change empties the cache."""
        from forecasting.config import local_today

        now = time.monotonic()
        if self._generation is not None and self.revalidate_s > 0 and now - self._checked < self.revalidate_s:
            return self._generation
        gen = (*read(), local_today())
        with self._lock:
            if gen != self._generation:
                self._items.clear()
                self.nbytes = 0
                self._generation = gen
            self._checked = now
        return gen

    def fresh_generation(self) -> Generation | None:
        """The current generation if it was checked less than `revalidate_s` ago, else None."""
        fresh = self.revalidate_s > 0 and time.monotonic() - self._checked < self.revalidate_s
        return self._generation if fresh else None

    def invalidate(self) -> None:
        with self._lock:
            self._items.clear()
            self.nbytes = 0
            self._generation = None
            self._checked = 0.0

    def get(self, key: Hashable) -> Entry | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: Hashable, body: bytes, media_type: str, headers: Any = None) -> bool:
        """Keep an answer (False if it is too large to keep); `headers` a dict or a list of (name, value) pairs."""
        headers = headers or {}
        pairs = headers.items() if isinstance(headers, dict) else headers
        size = len(body) + len(media_type) + sum(len(k) + len(v) for k, v in pairs) + ENTRY_OVERHEAD
        if size > self.max_bytes // 8:
            return False
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.nbytes -= old[1]
            self._items[key] = ((body, media_type, headers), size)
            self.nbytes += size
            while self.nbytes > self.max_bytes and self._items:
                _, (_, dropped) = self._items.popitem(last=False)
                self.nbytes -= dropped
        return True

    def remember_params(self, path: str, params: frozenset[str]) -> None:
        """Note which query parameters the endpoint of `path` takes (bounded to MAX_PATHS paths)."""
        with self._lock:
            if self._params.get(path) == params:
                return
            self._params[path] = params
            while len(self._params) > self.MAX_PATHS:
                self._params.popitem(last=False)

    def params_for(self, path: str) -> frozenset[str] | None:
        with self._lock:
            return self._params.get(path)


class DatasetCache:
    """Loaded (in-memory) NetCDF datasets by path and modification time; least recently used dropped first.

    A dataset is read once (under NETCDF_LOCK; concurrent requests for the same file wait for that one read).
    """

    def __init__(self, max_items: int = 8) -> None:
        self._items: LRU[xr.Dataset] = LRU(max_items)

    def get(self, path: Path | str, loader: Callable[[Path], xr.Dataset] | None = None) -> xr.Dataset:
        """The dataset at `path` (FileNotFoundError if absent), loaded once per modification."""
        p = Path(path)
        key = (str(p), p.stat().st_mtime_ns)
        ds = self._items.get(key)
        if ds is not None:
            return ds
        with NETCDF_LOCK:
            ds = self._items.get(key)  # another thread may have loaded it while this one waited
            if ds is not None:
                return ds
            ds = (loader or _load)(p)
        self._items.put(key, ds, replaces=lambda k: k[0] == key[0])  # older versions of the file go
        return ds

    def clear(self) -> None:
        self._items.clear()


def _load(path: Path) -> xr.Dataset:
    from forecasting.storage import read_netcdf

    return read_netcdf(path)


class CachedGetMiddleware:
    """ASGI middleware: answers anonymous GETs of the public API from the response cache without entering the
    application (no routing, dependencies or database beyond the generation check), and empties the cache after
    any request that may change data (POST, PUT, PATCH, DELETE) in this process.

    `state` is the service state (service.state.ServiceState): its `cache`, `read_generation()` and settings.
    """

    SKIP = ("/api/v1/health",)

    def __init__(self, app: Any, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method not in ("GET", "HEAD", "OPTIONS"):
            try:
                await self.app(scope, receive, send)
            finally:
                self.state.cache.invalidate()
            return
        path = scope["path"]
        if method == "GET" and path.startswith("/api/v1/") and path not in self.SKIP and self._anonymous(scope):
            hit = await self._lookup(scope, path)
            if hit is not None:
                body, media, headers = hit
                raw = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode())]
                raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
                raw.append((b"x-cache", b"hit"))
                await send({"type": "http.response.start", "status": 200, "headers": raw})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _anonymous(self, scope: dict) -> bool:
        if not self.state.settings.anonymous_read:
            return False
        for k, v in scope.get("headers", ()):
            if k in (b"authorization", b"x-api-key") or (k == b"cookie" and b"tasqyn_session" in v):
                return False
        return True

    async def _lookup(self, scope: dict, path: str) -> tuple[bytes, str, dict[str, str]] | None:
        cache: ResponseCache = self.state.cache
        gen = cache.fresh_generation()
        if gen is None:
            from starlette.concurrency import run_in_threadpool

            try:
                gen = await run_in_threadpool(cache.generation, self.state.read_generation)
            except Exception:  # noqa: BLE001 - the application answers (503 when the database is down)
                return None
        params = cache.params_for(path)
        if params is None:  # not answered from the cache yet: the application will key it
            return None
        query = query_key(scope.get("query_string", b"").decode("latin-1"), params)
        return cache.get((gen, path, query, None))


PAGE_PATHS = ("/basins/", "/stations/")  # and "/": the public pages (never /login, /runs or forms)


class CachedPageMiddleware:
    """ASGI middleware: the dashboard's public pages (the map `/`, `/basins/...`, `/stations/...`) for anonymous
    readers from the response cache, while the published data and the local day do not change.

    A page is the same for every anonymous reader of the same URL, language cookie and encoding (it carries no
    CSRF token: only logged-in pages have forms), so the rendered bytes are kept (after gzip: this middleware sits
    outside DashboardGZip) with their headers, except the per-browser CSRF seed cookie, which a hit sets afresh for
    a browser that has none. Only 200 answers of text/html or text/csv are kept; the key holds the whole query
    (the page's language links repeat it), and the cache's byte bound holds for pages as for the API.
    """

    def __init__(self, app: Any, state: Any) -> None:
        self.app = app
        self.state = state

    def _key(self, scope: dict, gen: Generation) -> tuple | None:
        from forecasting.config import local_today

        cookies: dict[str, str] = {}
        gzip = False
        for k, v in scope.get("headers", ()):
            if k in (b"authorization", b"x-api-key"):
                return None
            if k == b"accept-encoding":
                gzip = b"gzip" in v
            elif k == b"cookie":
                for part in v.decode("latin-1").split(";"):
                    name, _, value = part.strip().partition("=")
                    cookies[name] = value
        if "tasqyn_session" in cookies:
            return None
        query = scope.get("query_string", b"").decode("latin-1")
        return (
            "page",
            gen,
            local_today(),
            scope["path"],
            query,
            cookies.get("tasqyn_lang"),
            gzip,
            "tasqyn_csrf" in cookies,
        )

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not (path == "/" or path.startswith(PAGE_PATHS))
            or not self.state.settings.anonymous_read
        ):
            await self.app(scope, receive, send)
            return
        cache: ResponseCache = self.state.cache
        gen = cache.fresh_generation()
        if gen is None:
            from starlette.concurrency import run_in_threadpool

            try:
                gen = await run_in_threadpool(cache.generation, self.state.read_generation)
            except Exception:  # noqa: BLE001 - the application answers (503 when the database is down)
                await self.app(scope, receive, send)
                return
        key = self._key(scope, gen)
        if key is None:
            await self.app(scope, receive, send)
            return
        hit = cache.get(key)
        if hit is not None:
            body, media, headers = hit
            raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
            if not key[-1]:  # a browser without a CSRF seed gets its own, as a rendered page would give it
                raw.append((b"set-cookie", self._csrf_cookie()))
            raw.append((b"x-cache", b"hit"))
            await send({"type": "http.response.start", "status": 200, "headers": raw})
            await send({"type": "http.response.body", "body": body})
            return
        start: dict = {}
        chunks: list[bytes] = []

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    self._keep(key, start, b"".join(chunks))
            await send(message)

        await self.app(scope, receive, capture)

    def _keep(self, key: tuple, start: dict, body: bytes) -> None:
        if start.get("status") != 200:
            return
        headers = []
        media = ""
        for k, v in start.get("headers", ()):
            name, value = k.decode("latin-1"), v.decode("latin-1")
            if name.lower() == "content-type":
                media = value
            if name.lower() == "set-cookie" and value.startswith("tasqyn_csrf="):
                continue
            headers.append((name, value))
        if media.startswith(("text/html", "text/csv")):
            self.state.cache.put(key, body, media, headers)

    def _csrf_cookie(self) -> bytes:
        from starlette.responses import Response

        from records.accounts import new_csrf_seed

        r = Response()
        r.set_cookie(
            "tasqyn_csrf", new_csrf_seed(), httponly=True, samesite="lax", secure=self.state.settings.secure_cookies
        )
        return r.headers["set-cookie"].encode("latin-1")
