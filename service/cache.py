"""In-memory caches of the service: serialized responses of the latest publication, loaded NetCDF datasets.

Responses are keyed on a *generation*: (id of the latest published run, id of the newest review action). A new
publication, an approval or an override changes it, which empties the response cache. The generation is read from
the database at most every `revalidate_s` seconds (0: on every request), and `invalidate()` forces it (the review
endpoints of this process call it).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import xarray as xr

from forecasting.storage import NETCDF_LOCK

Generation = tuple[Any, ...]


class ResponseCache:
    """Bytes of responses by key, valid for one generation of the published data (thread-safe, bounded)."""

    def __init__(self, revalidate_s: float = 0.0, max_items: int = 4096) -> None:
        self.revalidate_s = revalidate_s
        self.max_items = max_items
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, tuple[bytes, str, dict[str, str]]] = OrderedDict()
        self._generation: Generation | None = None
        self._checked = 0.0
        self.hits = 0
        self.misses = 0

    def generation(self, read: Callable[[], Generation]) -> Generation:
        """The current generation, read with `read()` when due; a change empties the cache."""
        now = time.monotonic()
        if self._generation is not None and self.revalidate_s > 0 and now - self._checked < self.revalidate_s:
            return self._generation
        gen = read()
        with self._lock:
            if gen != self._generation:
                self._items.clear()
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
            self._generation = None
            self._checked = 0.0

    def get(self, key: Hashable) -> tuple[bytes, str, dict[str, str]] | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
            else:
                self.hits += 1
            return item

    def put(self, key: Hashable, body: bytes, media_type: str, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self._items[key] = (body, media_type, headers or {})
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)


class DatasetCache:
    """Loaded (in-memory) NetCDF datasets by path and modification time; least recently used dropped first.

    A dataset is read once (under NETCDF_LOCK; concurrent requests for the same file wait for that one read).
    """

    def __init__(self, max_items: int = 8) -> None:
        self.max_items = max_items
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, int], xr.Dataset] = OrderedDict()

    def get(self, path: Path | str, loader: Callable[[Path], xr.Dataset] | None = None) -> xr.Dataset:
        """The dataset at `path` (FileNotFoundError if absent), loaded once per modification."""
        p = Path(path)
        key = (str(p), p.stat().st_mtime_ns)
        with self._lock:
            ds = self._items.get(key)
            if ds is not None:
                self._items.move_to_end(key)
                return ds
        with NETCDF_LOCK:
            with self._lock:  # another thread may have loaded it while this one waited
                ds = self._items.get(key)
            if ds is not None:
                return ds
            ds = (loader or _load)(p)
        with self._lock:
            for k in [k for k in self._items if k[0] == key[0]]:
                del self._items[k]
            self._items[key] = ds
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return ds

    def clear(self) -> None:
        with self._lock:
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
        query = scope.get("query_string", b"").decode("latin-1")
        return cache.get((gen, path, query, None))
