"""A small thread-safe least-recently-used store: the one eviction rule of the in-memory caches (the forecast's
feature tables, the API's loaded datasets)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LRU(Generic[V]):
    """At most `size` values by key; reading a value makes it the most recent, the least recent goes first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The value stored under `key` (now the most recent), or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V, replaces: Callable[[Hashable], bool] | None = None) -> None:
        """Store `value` under `key` as the most recent, after dropping the keys for which `replaces` is true (e.g.
        older versions of the same file); then drop the least recent beyond `size`."""
        with self._lock:
            if replaces is not None:
                for k in [k for k in self._items if replaces(k)]:
                    del self._items[k]
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
