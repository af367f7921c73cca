"""Prefect's temporary API server must not outlive the command that started it.

A `tasqyn` command that runs a flow without a Prefect server (no PREFECT_API_URL) makes Prefect 3 start a temporary
API server in a child process (prefect.server.api.server.SubprocessASGIServer: `python -m uvicorn ...`). It is
stopped by an atexit handler, which never runs when the command is killed (kill -9, the OOM killer, a closed
terminal's SIGHUP...): the server, about 220 MB, was left running, reparented to init. Prefect 3 has no serverless
mode for flow runs.

`install()` (called by the CLI before any flow runs) makes Prefect start that server through this module as a
launcher: `python -m flows.ephemeral_guard <parent pid> -m uvicorn ...`. The launcher starts a watcher thread and
then runs uvicorn in the same process; the watcher ends the server (SIGTERM to itself, then exit after 5 s) as soon
as its parent process is gone (its parent pid changes: the orphan was reparented), whichever thread of the parent
started it. Nothing changes when Prefect talks to a real server (PREFECT_API_URL set): no temporary server starts.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

POLL_S = 0.5
_installed = False


def _guarded_popen(args: Any, *a: Any, **kw: Any) -> subprocess.Popen:
    if isinstance(args, list | tuple) and len(args) >= 3 and list(args[1:3]) == ["-m", "uvicorn"]:
        args = [args[0], "-m", "flows.ephemeral_guard", str(os.getpid()), *args[1:]]
    return subprocess.Popen(args, *a, **kw)


class _Subprocess:
    """The `subprocess` module as Prefect's server module sees it: the same, but Popen goes through the guard."""

    Popen = staticmethod(_guarded_popen)

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)


TARGET = "prefect.server.api.server"


def _patch(server: Any) -> None:
    if hasattr(server, "SubprocessASGIServer"):
        server.subprocess = _Subprocess()


class _ImportHook(importlib.abc.MetaPathFinder):
    """Patches Prefect's server module when it is imported (importing it up front would cost seconds on every
    command; a run with a real server never imports it)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != TARGET:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module: Any) -> None:
            exec_module(module)
            _patch(module)

        spec.loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Start Prefect's temporary API server through the launcher (idempotent; see the module docstring)."""
    global _installed
    if _installed:
        return
    _installed = True
    if TARGET in sys.modules:
        _patch(sys.modules[TARGET])
    else:
        sys.meta_path.insert(0, _ImportHook())


def _watch(parent: int) -> None:
    while True:
        time.sleep(POLL_S)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down cleanly
            time.sleep(5.0)
            os._exit(1)


def main(argv: list[str]) -> None:
    """`python -m flows.ephemeral_guard PARENT_PID -m MODULE ARGS...`: run MODULE as __main__ while PARENT_PID is
    this process's parent."""
    if len(argv) < 3 or argv[1] != "-m":
        raise SystemExit("usage: python -m flows.ephemeral_guard PARENT_PID -m MODULE [ARGS...]")
    parent = int(argv[0])
    if os.getppid() != parent:  # the parent died before this started
        raise SystemExit(1)
    threading.Thread(target=_watch, args=(parent,), name="parent-watch", daemon=True).start()
    import runpy

    sys.argv = [argv[2], *argv[3:]]
    runpy.run_module(argv[2], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
