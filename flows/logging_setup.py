"""One log format for Prefect's records and ours, to stderr and to a rotating file in the home.

`configure_logging(home, level, debug)` (called once by the `tasqyn` command line) gives every record the same
layout, whether it comes from our loggers (`tasqyn.*`), from a flow or task run (`get_run_logger()`, which Prefect
names `prefect.flow_runs` / `prefect.task_runs`) or from Prefect itself:

    2026-04-02 09:00:03.120 | INFO    | tasqyn.service - database migrated
    2026-04-02 09:00:04.531 | WARNING | Flow run 'healthy-newt' - CH2185: stale: newest discharge 3 days old

Times are the machine's local time. Records go to `<home>/logs/tasqyn.log` from `level` up (default INFO), rotated
at `max_bytes` (default 10 MB) with `backups` old files kept (`tasqyn.log.1` ...), and to stderr from
`console_level` up (default WARNING; Prefect's console handler, reformatted: it prints with soft wrap, so nothing
is folded at 80 columns when stderr is a file or a pipe).

The CLI, the API and the flow runs of a worker may all write the same file: `SharedRotatingFileHandler` holds an
advisory lock (`tasqyn.log.lock`) around each write and rotation and reopens the file when another process has
rotated it, so no process writes into a renamed file. A worker's flow-run processes do not run the CLI: point
Prefect at `deploy/prefect-logging.yml` (PREFECT_LOGGING_SETTINGS_PATH) to send them to the same file and format.
"""

from __future__ import annotations

import fcntl
import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import IO, Any

from rich.console import Console

import flows  # noqa: F401  (environment: no telemetry, set before Prefect is imported)
from forecasting.home import Home

LOG_FORMAT = "%(asctime)s.%(msecs)03d | %(levelname)-7s | %(name)s - %(message)s"
FLOW_RUN_FORMAT = "%(asctime)s.%(msecs)03d | %(levelname)-7s | Flow run %(flow_run_name)r - %(message)s"
TASK_RUN_FORMAT = "%(asctime)s.%(msecs)03d | %(levelname)-7s | Task run %(task_run_name)r - %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
LOG_FILE = "tasqyn.log"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
WIDE = 4096  # console width when the output is not a terminal: lines are never folded

# Our loggers (their level follows `level`); Prefect's run loggers carry what our flows log.
OUR_LOGGERS = ("tasqyn", "flows", "forecasting", "records", "service")
RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")
# Loggers that do not propagate to the root in Prefect's configuration: they get the file handler themselves.
NON_PROPAGATING = ("prefect.extra", "prefect._internal", "uvicorn", "fastapi")
_FILE_HANDLER_NAME = "tasqyn-file"
_CONSOLE_HANDLER_NAME = "tasqyn-console"


def make_formatter() -> logging.Formatter:
    """The one formatter: Prefect's PrefectFormatter (flow and task runs named) with our layout and full dates."""
    from prefect.logging.formatters import PrefectFormatter

    return PrefectFormatter(
        LOG_FORMAT, DATE_FORMAT, flow_run_fmt=FLOW_RUN_FORMAT, task_run_fmt=TASK_RUN_FORMAT, validate=True
    )


def make_console(stderr: bool = False, file: IO[str] | None = None) -> Console:
    """A rich Console that folds nothing when its output is not a terminal (a file, a pipe, journald)."""
    probe = Console(stderr=stderr, file=file)
    if probe.is_terminal:
        return probe
    return Console(stderr=stderr, file=file, width=WIDE, soft_wrap=True)


class SharedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler that several processes may share: each write and rotation holds an advisory lock on
    `<file>.lock`, and a file another process has rotated away is reopened before writing."""

    def __init__(
        self,
        filename: str | os.PathLike[str] | None = None,
        maxBytes: int = MAX_BYTES,  # noqa: N803  (the names of logging's own handlers, for dictConfig files)
        backupCount: int = BACKUPS,  # noqa: N803
    ):
        path = Path(filename) if filename else log_file()  # default: <$TASQYN_HOME>/logs/tasqyn.log
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_path = path.with_name(path.name + ".lock")
        super().__init__(path, mode="a", maxBytes=maxBytes, backupCount=backupCount, encoding="utf-8", delay=True)

    def _open(self):  # noqa: ANN202  (the folder may have been removed since: make it again)
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()

    def _reopen_if_rotated(self) -> None:
        if self.stream is None:
            return
        try:
            st = os.stat(self.baseFilename)
            moved = (st.st_dev, st.st_ino) != _ident(self.stream)
        except FileNotFoundError:
            moved = True
        if moved:
            self.stream.close()
            self.stream = None  # type: ignore[assignment]  # reopened by emit (delay=True)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            self.handleError(record)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._reopen_if_rotated()
            super().emit(record)  # rolls over first when the record would pass maxBytes
            if self.stream is not None:
                self.stream.flush()
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _ident(stream: Any) -> tuple[int, int]:
    st = os.fstat(stream.fileno())
    return st.st_dev, st.st_ino


def home_from_args(args: list[str]) -> Path | None:
    """The value of `--home DIR` / `--home=DIR` among a command's arguments (None: $TASQYN_HOME or ./var)."""
    for k, a in enumerate(args):
        if a == "--home" and k + 1 < len(args):
            return Path(args[k + 1])
        if a.startswith("--home="):
            return Path(a.split("=", 1)[1])
    return None


def log_file(home: Home | str | Path | None = None) -> Path:
    """`<home>/logs/tasqyn.log`."""
    h = home if isinstance(home, Home) else Home.from_env(home)
    return h.root / "logs" / LOG_FILE


def configure_logging(
    home: Home | str | Path | None = None,
    level: int | str = "INFO",
    debug: bool = False,
    *,
    console_level: int | str = "WARNING",
    max_bytes: int = MAX_BYTES,
    backups: int = BACKUPS,
    console: bool = True,
) -> Path:
    """Send our records and Prefect's to stderr and to `<home>/logs/tasqyn.log` in one format; returns the file.

    `level` applies to our loggers (`tasqyn.*`) and to what flows and tasks log through `get_run_logger()`, and is
    what the file receives; stderr shows from `console_level` up (default WARNING: a command's own output and
    progress stay readable). Prefect's own records and other libraries' stay at WARNING. `debug`: ours at DEBUG
    and Prefect's at INFO, everything to both. Calling it again (another home or level) replaces the previous
    configuration; nothing is added twice.
    """
    import prefect.main  # noqa: F401  (importing it runs Prefect's setup_logging, which resets the levels set below)
    from prefect.logging.configuration import PROCESS_LOGGING_CONFIG, setup_logging
    from prefect.logging.handlers import PrefectConsoleHandler

    if not PROCESS_LOGGING_CONFIG:  # Prefect configures its logging on first use; do it now so we can adjust it
        setup_logging()
    lvl = logging.DEBUG if debug else _level(level)
    con_lvl = logging.DEBUG if debug else max(lvl, _level(console_level))
    fmt = make_formatter()
    root = logging.getLogger()
    for h in list(root.handlers):
        if h.get_name() in (_FILE_HANDLER_NAME, _CONSOLE_HANDLER_NAME):
            root.removeHandler(h)
            h.close()
    if console:
        consoles = [h for h in root.handlers if isinstance(h, PrefectConsoleHandler)]
        if not consoles:
            handler = PrefectConsoleHandler(stream=sys.stderr)
            handler.set_name(_CONSOLE_HANDLER_NAME)
            root.addHandler(handler)
            consoles = [handler]
        for h in consoles:
            h.setFormatter(fmt)
            h.setLevel(con_lvl)
    path = log_file(home)
    file_handler = SharedRotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups)
    file_handler.set_name(_FILE_HANDLER_NAME)
    file_handler.setFormatter(fmt)
    root.addHandler(file_handler)
    for name in NON_PROPAGATING:
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            if h.get_name() == _FILE_HANDLER_NAME:
                lg.removeHandler(h)
            elif isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                h.setFormatter(fmt)
        if not lg.propagate:
            lg.addHandler(file_handler)
    for name in (*OUR_LOGGERS, *RUN_LOGGERS):
        logging.getLogger(name).setLevel(lvl)
    logging.getLogger("prefect").setLevel(logging.INFO if debug else logging.WARNING)
    return path


def current_level() -> str:
    """The level our loggers log at in this process (the command's --log-level), by name: what worker processes
    and server processes are configured with."""
    return str(logging.getLevelName(logging.getLogger(OUR_LOGGERS[0]).getEffectiveLevel()))


def uvicorn_log_config(home: Home | str | Path | None = None, level: int | str = "INFO") -> dict[str, Any]:
    """uvicorn's `log_config` for `tasqyn serve`: every process of the server (each worker of `--workers N` applies
    it when it starts) logs in the one format to stderr (WARNING and up) and to `<home>/logs/tasqyn.log` (from
    `level`: the service's access log, tasqyn.access, is INFO); uvicorn's own access log stays off (the service
    writes its own, with the route and the time taken)."""
    lvl = logging.getLevelName(_level(level))
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"one": {"format": LOG_FORMAT, "datefmt": DATE_FORMAT}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "one",
                "stream": "ext://sys.stderr",
                "level": "WARNING",
            },
            "file": {
                "()": "flows.logging_setup.SharedRotatingFileHandler",
                "filename": str(log_file(home)),
                "formatter": "one",
            },
        },
        "root": {"handlers": ["console", "file"], "level": "WARNING"},
        "loggers": {
            **{name: {"level": lvl} for name in OUR_LOGGERS},
            "uvicorn": {"handlers": [], "level": "WARNING", "propagate": True},
            "uvicorn.error": {"handlers": [], "level": "WARNING", "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def _level(value: int | str) -> int:
    lvl = logging.getLevelName(value.upper()) if isinstance(value, str) else value
    if not isinstance(lvl, int):
        raise ValueError(f"unknown log level {value!r} (DEBUG, INFO, WARNING, ERROR)")
    return lvl
