"""Progress of long library steps, reported to whoever listens (the command line's progress bars, the flows' logs).

The library never prints: a step that works through many items (the files of a source folder, the stations of a
forecast, the basins of a training) calls `report(kind, item, done, total)` after each one, and the caller that
wants to show it wraps the work in `reporting(callback)`. Without a listener `report` costs one context-variable
lookup. The listener runs in the reporting thread; it must be quick and must not raise (what it raises is
swallowed: progress is never a reason to fail).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar

Listener = Callable[[str, str, int, int], None]  # (kind, item, done, total)

_LISTENER: ContextVar[Listener | None] = ContextVar("tasqyn_progress", default=None)


def report(kind: str, item: str, done: int, total: int) -> None:
    """Tell the current listener (if any) that `done` of `total` items of `kind` (e.g. "file") are finished, the
    last one being `item`."""
    listener = _LISTENER.get()
    if listener is None:
        return
    with suppress(Exception):  # a broken progress display never stops the work
        listener(kind, item, done, total)


@contextmanager
def reporting(listener: Listener | None) -> Iterator[None]:
    """Send the `report` calls made inside the block (same thread or context) to `listener`; None keeps the
    listener already set (if any)."""
    if listener is None:
        yield
        return
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)
