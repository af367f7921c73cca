"""Cross-process locks in the home directory: every read-merge-write of a shared file holds one.

Two `tasqyn ingest` on one home, the hourly ingest deployment and the 09:00 forecast (which ingests the inbox too)
all read the observation store, merge and write it back; without a lock the last writer wins and the other's data
is lost. `home_lock(home, name)` serialises such updates across processes (and across threads of one process)
with an advisory `flock` on `<home>/locks/<name>.lock`:

- `STORE` guards the observation store (`store/observations.nc` and its generations, the revision log, the
  confirmations of unconfirmed values);
- `MODELS` guards the model registry (version folders and `CURRENT` files);
- `THRESHOLDS` guards the threshold versions, `FORCING` the NWP forcing store (for the code that writes them).

The lock is released when the block ends or the process dies (the kernel drops `flock` locks with the process:
a killed ingest never leaves a stale lock behind). Re-entering a lock already held by the same thread is allowed.
Waiting is bounded (`timeout`, default $TASQYN_LOCK_TIMEOUT or 600 s); on timeout `LockTimeout` names the lock
file, the holder written in it (pid, host, command, since when) and how long we waited.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

STORE = "store"
MODELS = "models"
THRESHOLDS = "thresholds"
FORCING = "forcing"
DEFAULT_TIMEOUT_S = 600.0
TIMEOUT_ENV = "TASQYN_LOCK_TIMEOUT"
_POLL_S = 0.05

_held = threading.local()  # per thread: {lock path: depth}


class LockTimeout(TimeoutError):
    """Another process held the lock for longer than the timeout."""


def lock_path(root: Path | str, name: str) -> Path:
    """The lock file of `name` in the home `root` (`<root>/locks/<name>.lock`)."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"bad lock name {name!r}")
    return Path(root) / "locks" / f"{name}.lock"


def default_timeout() -> float:
    """$TASQYN_LOCK_TIMEOUT (seconds) or 600."""
    try:
        return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S


def _root(home: object) -> Path:
    if isinstance(home, str | os.PathLike):
        return Path(home)
    return Path(home.root)  # a Home (not PurePath.root, the '/' of a path)


def holder(path: Path) -> str:
    """Who holds (or last held) the lock file at `path`, as written in it: 'pid 123 on host (tasqyn ingest)
    since 2024-04-01T09:00:00+00:00', or 'unknown' if the file says nothing readable."""
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "unknown"
    if not isinstance(info, dict) or "pid" not in info:
        return "unknown"
    return (
        f"pid {info.get('pid')} on {info.get('host', '?')} ({info.get('command', '?')}) since {info.get('since', '?')}"
    )


@contextmanager
def home_lock(home: object, name: str = STORE, timeout: float | None = None) -> Iterator[Path]:
    """Hold the lock `name` of the home (a Home or its root path) for the block; yields the lock file path.

    Blocks up to `timeout` seconds (default `default_timeout()`); raises LockTimeout with a message naming the
    lock file, its holder and the time waited. Re-entrant within one thread.
    """
    path = lock_path(_root(home), name)
    held: dict[str, int] = getattr(_held, "locks", None) or {}
    _held.locks = held
    key = str(path)
    if held.get(key):
        held[key] += 1
        try:
            yield path
        finally:
            held[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    limit = default_timeout() if timeout is None else float(timeout)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    t0 = time.monotonic()
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - t0
                if waited >= limit:
                    raise LockTimeout(
                        f"another tasqyn process holds the {name} lock {path}: {holder(path)}; waited {waited:.0f} s "
                        f"(timeout {limit:g} s, ${TIMEOUT_ENV}); try again when it has finished"
                    ) from None
                time.sleep(min(_POLL_S * (1 + waited), 0.5, max(limit - waited, 0.01)))
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join(os.path.basename(a) if k == 0 else a for k, a in enumerate(sys.argv[:3]))[:200],
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        held[key] = 1
        try:
            yield path
        finally:
            held.pop(key, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def is_locked(home: object, name: str = STORE) -> bool:
    """True if another process (or thread) holds the lock `name` now (a snapshot; for messages and tests)."""
    path = lock_path(_root(home), name)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
