"""Publication: recording forecast runs and writing their station and basin levels and thresholds in the database.

- `record_run` creates (or updates) the row of a run when it starts (with its process id and host); `fail_run`
  marks it failed (the previous publication stays in place: the public API serves the latest *published
  successful* run); `fail_abandoned_runs` fails the runs whose process died while `running` and removes their
  partial files.
- `publish_forecast` writes the station and basin levels of a forecast dataset with risk added
  (forecasting.risk.add_risk), the run's counts, and optionally publishes it. Writing the same run again replaces
  its levels (idempotent); a rerun of the same issue date is a new run (new run_id) and, once published, is the one
  served for that date.
- `save_thresholds` / `load_thresholds` keep the versioned threshold sets (forecasting.thresholds.next_version).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from forecasting.config import ForecastConfig
from forecasting.risk import basin_levels, station_summary
from forecasting.thresholds import THRESHOLD_COLUMNS, empty_table, next_version
from records.db import BasinLevel, ForecastRun, ReviewAction, StationLevel, Threshold, utcnow


def _date(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    ts = pd.Timestamp(value)
    return None if pd.isna(ts) else ts.date()


def record_run(
    session: Session,
    run_id: str,
    issue_date: dt.date | str,
    status: str = "running",
    model_versions: Mapping[str, str] | None = None,
    data_cutoff: dt.date | str | None = None,
    forecast_path: str | None = None,
    message: str | None = None,
    threshold_version: int | None = None,
) -> ForecastRun:
    """Create the row of run `run_id` (or update it if it exists). Flushes; the caller commits."""
    run = session.scalars(select(ForecastRun).where(ForecastRun.run_id == run_id)).first()
    if run is None:
        run = ForecastRun(run_id=run_id, issue_date=_date(issue_date), status=status, review_status="draft")
        session.add(run)
    if status == "running":  # who runs it: fail_abandoned_runs can tell a dead run from a slow one
        run.pid, run.host = os.getpid(), socket.gethostname()[:255]
    run.status = status
    if model_versions is not None:
        run.model_versions = dict(model_versions)
    if data_cutoff is not None:
        run.data_cutoff = _date(data_cutoff)
    if forecast_path is not None:
        run.forecast_path = str(forecast_path)
    if message is not None:
        run.message = message
    if threshold_version is not None:
        run.threshold_version = threshold_version
    if status in ("success", "failed") and run.finished_at is None:
        run.finished_at = utcnow()
    session.flush()
    return run


def fail_run(session: Session, run_id: str, issue_date: dt.date | str, message: str) -> ForecastRun:
    """Mark run `run_id` failed (never published); the previous publication stays what the public sees."""
    run = record_run(session, run_id, issue_date, status="failed", message=message)
    run.published_at = None
    session.flush()
    return run


ABANDONED_AFTER_HOURS = 6.0  # a run `running` this long is failed even when its process cannot be checked


def _process_start(pid: int) -> float | None:
    """Unix time a process started (Linux /proc), None if unknown; raises ProcessLookupError if there is none."""
    os.kill(pid, 0)  # ProcessLookupError if gone (PermissionError: it exists, another user's)
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(float(x.split()[1]) for x in Path("/proc/stat").read_text().splitlines() if x.startswith("btime"))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _abandoned_because(run: ForecastRun, max_age_s: float, now: float, host: str) -> str | None:
    created = run.created_at if run.created_at.tzinfo else run.created_at.replace(tzinfo=dt.UTC)
    if run.pid is not None and run.host == host:
        try:
            started = _process_start(run.pid)
        except ProcessLookupError:
            return f"its process {run.pid} on {host} is gone (killed or crashed while running)"
        except PermissionError:
            started = None
        if started is not None and started > created.timestamp() + 1:
            return f"its process {run.pid} on {host} is gone (the pid now belongs to a newer process)"
        return None  # still running here
    age = now - created.timestamp()
    if age > max_age_s:
        where = f"process {run.pid} on {run.host}" if run.pid is not None else "its process"
        return f"still running after {age / 3600:.1f} h ({where} cannot be checked from {host})"
    return None


def fail_abandoned_runs(
    session: Session, forecasts_dir: Path | None = None, max_age_hours: float = ABANDONED_AFTER_HOURS
) -> list[str]:
    """Mark failed the runs left `running` by a process that died (same host: its pid is gone or reused), or running
    longer than `max_age_hours` (any host), with the reason in their message; remove their partial forecast files
    (`<forecasts_dir>/<issue date>/forecast-<run id>.nc` and its `*.tmp`) and temporaries older than an hour.
    Called when the daily flow and the service start. Flushes; the caller commits. Returns the run ids failed."""
    from forecasting.storage import clean_stale_temporaries

    now, host = time.time(), socket.gethostname()[:255]
    failed = []
    for run in session.scalars(select(ForecastRun).where(ForecastRun.status == "running")).all():
        why = _abandoned_because(run, max_age_hours * 3600, now, host)
        if why is None:
            continue
        fail_run(session, run.run_id, run.issue_date, f"abandoned: {why}")
        failed.append(run.run_id)
        if forecasts_dir is not None:
            day = Path(forecasts_dir) / run.issue_date.isoformat()
            name = f"forecast-{run.run_id}.nc"
            for p in [day / name, *day.glob(f".{name}.*.tmp")]:
                if p.is_file() and not run.forecast_path:
                    p.unlink(missing_ok=True)
    if forecasts_dir is not None and Path(forecasts_dir).is_dir():
        for day in Path(forecasts_dir).iterdir():
            clean_stale_temporaries(day)
    session.flush()
    return failed


def publish_forecast(
    session: Session,
    forecast_ds: xr.Dataset,
    run_id: str,
    review_status: str = "draft",
    publish: bool = False,
    forecast_path: str | None = None,
    basin_of: Mapping[str, str] | None = None,
    basin_names: Mapping[str, str] | None = None,
    username: str = "system",
    stations: pd.DataFrame | None = None,
) -> ForecastRun:
    """Write the levels of `forecast_ds` (risk added) as run `run_id` and optionally publish it.

    `review_status`: "draft" (waits for a hydrologist) or "unreviewed" (published without review, e.g. when the
    service runs without reviewers); with `publish` the run becomes the public one (published_at set, an
    `auto_publish` action in the audit trail). Station -> basin from `basin_of`, else from `stations` (the store's
    forecasting.store.station_table, column `basin`), else the dataset's `basin` coordinate, else the station
    itself. Each station gets its state (forecasting.risk.station_state): only `ok` stations carry a level; a
    basin's level is the maximum over its stations with a level and it counts the others (n_no_level). Counts:
    n_forecast = stations with status ok|stale|fallback, n_stale (state stale), n_failed, and state_counts.
    The forecast's run configuration (attribute `run_config`) is kept on the run. Flushes; the caller commits.
    """
    if review_status not in ("draft", "unreviewed", "approved"):
        raise ValueError(f"review_status must be draft, unreviewed or approved, not {review_status!r}")
    if "station_level" not in forecast_ds:
        raise ValueError("the forecast dataset has no risk variables: run forecasting.risk.add_risk first")
    issue = _date(forecast_ds.attrs.get("issue_date"))
    if issue is None:
        raise ValueError("the forecast dataset has no issue_date attribute")
    if basin_of is None and stations is not None and "basin" in stations:
        basin_of = {str(k): str(v) for k, v in stations["basin"].items() if isinstance(v, str) and v}
    summary = station_summary(forecast_ds)
    basins = basin_levels(summary, basin_of)
    if basin_of is not None:
        summary["basin_id"] = [
            basin_of.get(s, b) for s, b in zip(summary["station_id"], summary["basin_id"], strict=True)
        ]
    status = summary["status"]
    versions = {}
    if "model_version" in forecast_ds:
        names = forecast_ds["model_name"].values.astype(str) if "model_name" in forecast_ds else None
        for i, (sid, ver) in enumerate(
            zip(summary["station_id"], forecast_ds["model_version"].values.astype(str), strict=True)
        ):
            versions[sid] = f"{names[i]}:{ver}" if names is not None else ver

    run = record_run(
        session,
        run_id,
        issue,
        status="success",
        model_versions=versions,
        data_cutoff=forecast_ds.attrs.get("data_cutoff") or None,
        forecast_path=forecast_path,
        threshold_version=_int_or_none(forecast_ds.attrs.get("threshold_version")),
    )
    run.review_status = review_status
    run.alert_probability = _float_or_none(forecast_ds.attrs.get("alert_probability"))
    run.n_stations = len(summary)
    run.n_forecast = int(status.isin(["ok", "stale", "fallback"]).sum())
    run.n_stale = int((summary["state"] == "stale").sum())
    run.n_failed = int((status == "failed").sum())
    run.state_counts = {str(k): int(v) for k, v in summary["state"].value_counts().items()}
    run.run_config = ForecastConfig.from_json(forecast_ds.attrs.get("run_config")).to_dict()
    session.execute(delete(StationLevel).where(StationLevel.run_id == run.id))
    session.execute(delete(BasinLevel).where(BasinLevel.run_id == run.id))
    session.add_all(
        StationLevel(
            run_id=run.id,
            issue_date=issue,
            station_id=r.station_id,
            basin_id=r.basin_id,
            level=None if pd.isna(r.level) else int(r.level),
            level_label=r.level_label,
            state=r.state,
            model_level=int(r.model_level),
            data_age_days=None if pd.isna(r.data_age_days) else int(r.data_age_days),
            model_name=r.model_name or None,
            first_date=_date(r.first_date),
            probability=_float_or_none(r.probability),
            trend=r.trend or None,
            stale=bool(r.stale),
            status=r.status,
            message=(r.state_reason or r.message) or None,
        )
        for r in summary.itertuples(index=False)
    )
    session.add_all(
        BasinLevel(
            run_id=run.id,
            issue_date=issue,
            basin_id=r.basin_id,
            name=(basin_names or {}).get(r.basin_id) or r.basin_id,
            level=None if pd.isna(r.level) else int(r.level),
            first_date=_date(r.first_date),
            probability=_float_or_none(r.probability),
            n_stations=int(r.n_stations),
            n_no_level=int(r.n_no_level),
        )
        for r in basins.itertuples(index=False)
    )
    if publish:
        run.published_at = utcnow()
        session.add(
            ReviewAction(
                run_id=run.id,
                issue_date=issue,
                username=username,
                role="system",
                action="auto_publish",
                target_type="run",
                target_id=run_id,
                reason=f"published {review_status}",
            )
        )
    session.flush()
    return run


def _float_or_none(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(f) else f


def _int_or_none(v: Any) -> int | None:
    f = _float_or_none(v)
    return None if f is None else int(f)


# --- thresholds ------------------------------------------------------------------------------------------------


def latest_threshold_version(session: Session) -> int | None:
    """The newest stored threshold-set version, or None."""
    return session.scalar(select(func.max(Threshold.version)))


def load_thresholds(session: Session, version: int | None = None) -> pd.DataFrame:
    """The threshold table (forecasting.thresholds layout) of `version` (default: the newest)."""
    version = version if version is not None else latest_threshold_version(session)
    if version is None:
        return empty_table()
    rows = session.scalars(select(Threshold).where(Threshold.version == version).order_by(Threshold.id)).all()
    if not rows:
        return empty_table()
    return pd.DataFrame(
        [{c: getattr(r, c) for c in THRESHOLD_COLUMNS} for r in rows], columns=THRESHOLD_COLUMNS
    ).astype({"value": "float64"})


def save_thresholds(session: Session, table: pd.DataFrame, valid_from: dt.date | str | None = None) -> int:
    """Store a threshold set; returns its version. A new version only when a value changed (else the stored one).

    Every version is a complete set (all stations), so a forecast's `threshold_version` names exactly the values
    it was computed with.
    """
    current = latest_threshold_version(session)
    stored = load_thresholds(session, current) if current is not None else None
    version, is_new = next_version(table, stored, current)
    if not is_new:
        return version
    now = utcnow()
    session.add_all(
        Threshold(
            station_id=str(r.station_id),
            kind=str(r.kind),
            value=float(r.value),
            units=str(r.units),
            source=str(r.source),
            years=r.years if isinstance(r.years, str) else None,
            version=version,
            valid_from=_date(valid_from),
            created_at=now,
        )
        for r in table.itertuples(index=False)
    )
    session.flush()
    return version
