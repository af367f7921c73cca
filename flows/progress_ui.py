"""Progress of long commands on the console: a rich bar per kind of item on a terminal, a few plain lines elsewhere.

The library and the flows report what they finish through `forecasting.progress` (kind, item, done, total: a file
of a source folder, a basin trained, a station forecast or backtested); `CommandProgress` listens while it is open
and shows it:

    with CommandProgress(err):
        train_flow(...)

On a terminal each kind gets a bar (done/total, elapsed, remaining; cleared at the end). Off a terminal (a log
file, journald, a pipe) it prints one unwrapped line when a kind starts, then at most one every `every_s` seconds
and at each tenth of the total, and one when it is done, so a long run shows that it moves without flooding the log.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from forecasting import progress

LABELS = {"file": "reading files", "basin": "training basins", "station": "forecasting stations"}


class CommandProgress:
    """Shows forecasting.progress reports on `console` (a bar on a terminal, sparse lines elsewhere)."""

    def __init__(self, console: Console, every_s: float = 30.0, labels: dict[str, str] | None = None) -> None:
        self.console = console
        self.every_s = every_s
        self.labels = {**LABELS, **(labels or {})}
        self.live = console.is_terminal
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._last: dict[str, tuple[float, int]] = {}  # kind -> (time, done) of the last line printed
        self._reporting: AbstractContextManager[None] | None = None

    def __enter__(self) -> CommandProgress:
        """Start listening to forecasting.progress reports (and the bar on a terminal)."""
        self._tasks.clear()
        self._last.clear()
        self._reporting = progress.reporting(self.listener)
        self._reporting.__enter__()
        if self.live:
            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._bar.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if self._reporting is not None:
            self._reporting.__exit__(exc_type, exc, tb)
            self._reporting = None

    def label(self, kind: str) -> str:
        return self.labels.get(kind, kind)

    def listener(self, kind: str, item: str, done: int, total: int) -> None:
        """forecasting.progress listener: `done` of `total` items of `kind`, the last one `item`."""
        if self._bar is not None:
            if kind not in self._tasks:
                self._tasks[kind] = self._bar.add_task(self.label(kind), total=total)
            self._bar.update(
                self._tasks[kind], total=total, completed=done, description=f"{self.label(kind)} {escape(item)}"
            )
            return
        now = time.monotonic()
        last_t, last_done = self._last.get(kind, (0.0, -1))
        tenth = max(1, total // 10)
        if last_done < 0 or done >= total or now - last_t >= self.every_s or done // tenth > last_done // tenth:
            self._last[kind] = (now, done)
            self.console.print(f"{self.label(kind)}: {done}/{total} ({escape(item)})", soft_wrap=True, highlight=False)

    def note(self, text: str) -> None:
        """A message line (printed above the bars on a terminal, unwrapped elsewhere)."""
        self.console.print(escape(text), soft_wrap=True, highlight=False)
