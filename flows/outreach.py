"""After a publication: write the bulletins into the home and send the notifications, as Prefect tasks of their
own with retries, at the end of the daily flow.

Neither may fail or hold up the daily run: `after_publication` catches what they raise (after their retries),
logs it and records it on the run's message; the delivery of notifications has per-message timeouts and a time
budget, and what is not delivered within it is retried later with back-off (`tasqyn notify send`, the
`notifications` deployment), never inside the run.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task

from forecasting.home import Home

BULLETIN_TASK_TIMEOUT_S = 600


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
    return out
