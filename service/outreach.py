"""Notifications from the service: after a reviewer's action publishes (or changes a published run), deliver the
queued messages in a background thread (records.review queues them in the same transaction; bulletins.notify
delivers), so the reviewer's answer never waits for a channel. One delivery thread per process at a time; what
it leaves (time budget, back-off) is delivered by the `notifications` deployment or `tasqyn notify send`."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("tasqyn.service")
_RUNNING = threading.Lock()
BUDGET_S = 60.0


def deliver_soon(state: Any) -> threading.Thread | None:
    """Start delivering the due notifications in a daemon thread (None if one is already running)."""
    if not _RUNNING.acquire(blocking=False):
        return None

    def work() -> None:
        try:
            from bulletins.notify import deliver_due

            report = deliver_due(state.session_factory, state.settings.home.root, budget_s=BUDGET_S)
            if report.sent or report.retrying or report.failed:
                log.info("notifications after a review: %s", report.summary())
        except Exception as exc:  # noqa: BLE001 (logged; the messages stay queued for the next round)
            log.warning("notifications not delivered now: %s: %s", type(exc).__name__, exc)
        finally:
            _RUNNING.release()

    thread = threading.Thread(target=work, name="tasqyn-notify", daemon=True)
    thread.start()
    return thread
