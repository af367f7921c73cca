"""After a publication: write the bulletins into the home and send the notifications, as Prefect tasks of their
own with retries, at the end of the daily flow.

Neither may fail or hold up the daily run: `after_publication` catches what they raise (after their retries),
logs it and records it on the run's message; the delivery of notifications has per-message timeouts and a time
budget, and what is not delivered within it is retried later with back-off (`tasqyn notify send`, the
`notifications` deployment), never inside the run.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task

from forecasting.home import Home

BULLETIN_TASK_TIMEOUT_S = 600
NOTIFY_BUDGET_S = 60.0  # delivery time the daily run gives the notifications; the rest is retried later


@task(name="render-bulletins", retries=2, retry_delay_seconds=5, timeout_seconds=BULLETIN_TASK_TIMEOUT_S)
def render_bulletins(root: str, database_url: str, run_id: str) -> dict[str, list[str]]:
    """Write the bulletin of published run `run_id` in every language and format into <home>/bulletins/<date>/
    (files named by run id and revision: a rerun never overwrites). Returns the files written and kept."""
    from sqlalchemy import select

    from bulletins.files import home_bulletin, write_bulletins
    from records.db import ForecastRun, open_database

    engine, factory = open_database(database_url)
    try:
        with factory() as s:
            run = s.scalars(select(ForecastRun).where(ForecastRun.run_id == run_id)).one()
            content = home_bulletin(Home(root).root, s, run.issue_date)
        if content.run_id != run_id:
            raise RuntimeError(f"run {run_id} is not the published run of {content.issue_date} ({content.run_id} is)")
        out = write_bulletins(Home(root).root, content)
    finally:
        engine.dispose()
    return {k: [str(p) for p in v] for k, v in out.items()}


@task(name="send-notifications", retries=2, retry_delay_seconds=5, timeout_seconds=NOTIFY_BUDGET_S + 120)
def send_notifications(root: str, database_url: str, run_id: str, budget_s: float = NOTIFY_BUDGET_S) -> dict:
    """Queue the notifications the publication of `run_id` causes (records.notifications: nothing twice, also on a
    retry or a rerun) and deliver what is due within `budget_s` seconds; failed deliveries stay queued for a
    retry with back-off outside the run. Returns the counts."""
    from sqlalchemy import select

    from bulletins.notify import deliver_due
    from records.db import ForecastRun, open_database
    from records.notifications import publication_event

    engine, factory = open_database(database_url)
    try:
        with factory() as s:
            run = s.scalars(select(ForecastRun).where(ForecastRun.run_id == run_id)).one()
            queued = len(publication_event(s, run))
            s.commit()
        report = deliver_due(factory, Home(root).root, budget_s=budget_s)
    finally:
        engine.dispose()
    return {
        "queued": queued,
        "sent": len(report.sent),
        "retrying": len(report.retrying),
        "failed": len(report.failed),
        "left": report.left,
    }


@flow(name="notifications")
def notify_flow(home: str | None = None, database_url: str | None = None, budget_s: float = 300.0) -> dict:
    """Deliver the notifications whose (next) attempt is due (deployment `notifications`, every 10 minutes): the
    retries with back-off of deliveries that failed, and messages queued by an approval in the service. Also writes
    the bulletin files of the newest published run if they are missing (a draft approved in the service)."""
    from bulletins.notify import deliver_due
    from records.db import database_url as db_url
    from records.db import open_database

    h = Home.from_env(home)
    url = db_url(h, database_url)
    engine, factory = open_database(url)
    written: list[str] = []
    try:
        try:
            written = missing_bulletins(h, factory)
        except Exception as exc:  # noqa: BLE001 (the deliveries go on)
            get_run_logger().warning(f"bulletins not written: {type(exc).__name__}: {exc}")
        report = deliver_due(factory, h.root, budget_s=budget_s)
    finally:
        engine.dispose()
    get_run_logger().info(f"notifications: {report.summary()}; bulletins written: {len(written)}")
    return {
        "sent": report.sent,
        "retrying": report.retrying,
        "failed": report.failed,
        "left": report.left,
        "bulletins": written,
    }


def missing_bulletins(home: Home, factory: Any) -> list[str]:
    """Write the bulletin files of the newest published run that are not in the home yet; returns those written."""
    from bulletins.files import home_bulletin, write_bulletins
    from records.bulletin import BulletinNotFound

    with factory() as s:
        try:
            content = home_bulletin(home.root, s)
        except BulletinNotFound:
            return []
    return [str(p) for p in write_bulletins(home.root, content)["written"]]


def _note_on_run(database_url: str, run_id: str, note: str) -> None:
    """Append `note` to the run's message (shown on the runs page)."""
    from sqlalchemy import select

    from records.db import ForecastRun, open_database

    engine, factory = open_database(database_url)
    try:
        with factory() as s:
            run = s.scalars(select(ForecastRun).where(ForecastRun.run_id == run_id)).first()
            if run is not None:
                run.message = "; ".join(m for m in (run.message, note) if m)[:4000]
                s.commit()
    finally:
        engine.dispose()


def after_publication(home: Home, database_url: str, run_id: str) -> dict[str, Any]:
    """Run the tasks that follow a publication; never raises. Returns what each did (or its error)."""
    logger = get_run_logger()
    out: dict[str, Any] = {}
    try:
        files = render_bulletins(str(home.root), database_url, run_id)
        out["bulletins"] = files
        logger.info(f"bulletins of run {run_id}: {len(files['written'])} written, {len(files['kept'])} kept")
    except Exception as exc:  # noqa: BLE001 (a bulletin that cannot be written never fails the forecast)
        note = f"bulletin not written: {type(exc).__name__}: {exc}"
        logger.warning(f"run {run_id}: {note}")
        out["bulletins_error"] = note
        try:
            _note_on_run(database_url, run_id, note)
        except Exception as exc2:  # noqa: BLE001
            logger.warning(f"run {run_id}: the note could not be recorded: {exc2}")
    try:
        out["notifications"] = counts = send_notifications(str(home.root), database_url, run_id)
        logger.info(f"notifications of run {run_id}: {counts}")
    except Exception as exc:  # noqa: BLE001 (a channel or a notification bug never fails the forecast)
        note = f"notifications not sent: {type(exc).__name__}: {exc}"
        logger.warning(f"run {run_id}: {note}")
        out["notifications_error"] = note
        try:
            _note_on_run(database_url, run_id, note)
        except Exception as exc2:  # noqa: BLE001
            logger.warning(f"run {run_id}: the note could not be recorded: {exc2}")
    return out
