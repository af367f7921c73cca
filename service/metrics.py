"""Observability: `GET /metrics` in the Prometheus text format, and the access log.

`install_metrics(app, state)` adds an ASGI middleware (outermost: it sees every answer, the cached ones too) that
counts requests and their latency by method, route template (`/api/v1/stations/{station_id}/forecast`, never the
raw path: one series per route, not per station) and status, and writes one access-log line per request
(`tasqyn.access`, INFO, in the one log format of the process: flows.logging_setup); and the `/metrics` route.

Besides the request metrics, each scrape reads what the service already knows (the database, the store the
service has loaded, the forcing store's newest run times; nothing recomputed per station and request):

- `tasqyn_forecast_runs_total{status}`: runs recorded, by status (running, success, failed);
- `tasqyn_forecast_last_run_*`: the newest daily run: `_info{run_id,issue_date,status,review_status}`,
  `_success` (1 success, 0 failed or running), `_start_timestamp_seconds`, `_duration_seconds` (start to end),
  `_age_seconds` (since it started), and `_stations{state}` (total, forecast, stale, failed) of the newest
  finished run;
- `tasqyn_observation_age_days{station}`: days from the station's newest discharge or water level to today
  (local day, Asia/Almaty); `tasqyn_observation_stale_stations`: stations whose newest one is older than the
  stale limit (forecasting.config.DEFAULTS.stale_after_days);
- `tasqyn_nwp_run_age_hours{source}`: age of the newest weather-forecast run of each source in the forcing store
  (absent without one);
- `tasqyn_notification_messages{channel,status}` and `tasqyn_notification_delivery_attempts_total{channel}`:
  the notification log (records.notifications).

Several worker processes (`tasqyn serve --workers N`): each process counts its own requests. Set
PROMETHEUS_MULTIPROC_DIR to an empty folder writable by the service (cleared at each start) before the service
starts: prometheus-client then keeps the counters in files there and every scrape, whichever worker answers it,
adds all workers' counts (docs/OPERATIONS.md). Without it, a scrape shows the answering worker's counts only.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select
from starlette.routing import Match

from forecasting.config import DEFAULTS, local_today
from records.db import ForecastRun
from records.published import stale_now
from service.state import ServiceState

log = logging.getLogger("tasqyn.access")

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "tasqyn_http_requests",
    "HTTP requests answered, by method, route template and status code",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "tasqyn_http_request_duration_seconds",
    "time to answer an HTTP request (to the last byte sent), by method and route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
UNMATCHED = "<unmatched>"


def route_template(app: Any, scope: dict) -> str:
    """The route template the router served a request by (scope["route"]), else that of a plain route of `app`
    matching the path, else UNMATCHED (never the raw path, which is unbounded)."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    for candidate in getattr(getattr(app, "router", None), "routes", ()):
        template = getattr(candidate, "path", None)
        if not isinstance(template, str):
            continue  # (included routers: their routes are found through scope["route"] or the known paths)
        try:
            match, _ = candidate.matches(scope)
        except Exception:  # noqa: BLE001 - a route that cannot judge the request does not match it
            continue
        if match == Match.FULL:
            return template or UNMATCHED
    return UNMATCHED


class RequestMetrics:
    """ASGI middleware: request count and latency by route template, and one access-log line per request."""

    KNOWN_PATHS = 20_000  # raw paths remembered with their route template (answers served by the caches)

    def __init__(self, app: Any, root: FastAPI) -> None:
        self.app = app
        self.root = root
        self.known: dict[str, str] = {}  # raw path -> route template, as the router matched it

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]

        async def send_status(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - t0
            method = str(scope.get("method", ""))
            route = self.template(scope)
            REQUESTS.labels(method, route, str(status[0])).inc()
            LATENCY.labels(method, route).observe(seconds)
            if log.isEnabledFor(logging.INFO):
                client = scope.get("client") or ("-", 0)
                log.info(
                    '%s "%s %s HTTP/%s" %d %.1f ms route=%s',
                    client[0],
                    method,
                    scope.get("path", ""),
                    scope.get("http_version", "1.1"),
                    status[0],
                    seconds * 1000,
                    route,
                )

    def template(self, scope: dict) -> str:
        """The route template of a request; an answer a cache in front of the router gave (no scope["route"]) gets
        the template the router matched for the same path before."""
        raw = str(scope.get("path", ""))
        if getattr(scope.get("route"), "path", None) is None and raw in self.known:
            return self.known[raw]
        route = route_template(self.root, scope)
        if route != UNMATCHED and scope.get("route") is not None:
            if len(self.known) >= self.KNOWN_PATHS:
                self.known.pop(next(iter(self.known)))
            self.known[raw] = route
        return route


class ServiceCollector:
    """The metrics read at scrape time from what the service knows (see the module docstring)."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self._nwp: dict[str, tuple[int, str, pd.Timestamp | None]] = {}  # file -> (mtime, source, newest run)

    def collect(self) -> Iterator[Metric]:
        yield from self._runs()
        yield from self._observations()
        yield from self._nwp_runs()
        yield from self._notifications()

    # --- the daily runs -----------------------------------------------------------------------------------

    def _runs(self) -> Iterator[Metric]:
        try:
            self.state.ensure_db()
            with self.state.session_factory() as s:
                counts = dict(s.execute(select(ForecastRun.status, func.count()).group_by(ForecastRun.status)).all())
                newest = s.scalars(select(ForecastRun).order_by(ForecastRun.created_at.desc()).limit(1)).first()
                done = s.scalars(
                    select(ForecastRun)
                    .where(ForecastRun.status != "running")
                    .order_by(ForecastRun.created_at.desc())
                    .limit(1)
                ).first()
                info = _run_facts(newest) if newest is not None else None
                finished = _run_facts(done) if done is not None else None
        except Exception as exc:  # noqa: BLE001 - a database that is down shows as missing run metrics
            logging.getLogger("tasqyn.service").warning("metrics: the database cannot be read: %s", exc)
            return
        runs = CounterMetricFamily("tasqyn_forecast_runs", "daily forecast runs recorded, by status", labels=["status"])
        for status in ("running", "success", "failed"):
            runs.add_metric([status], float(counts.get(status, 0)))
        yield runs
        if info is None:
            return
        g = GaugeMetricFamily(
            "tasqyn_forecast_last_run_info",
            "the newest daily run (value 1)",
            labels=["run_id", "issue_date", "status", "review_status"],
        )
        g.add_metric([info["run_id"], info["issue_date"], info["status"], info["review_status"]], 1.0)
        yield g
        yield _gauge("tasqyn_forecast_last_run_success", "1 if the newest run succeeded", info["success"])
        yield _gauge("tasqyn_forecast_last_run_start_timestamp_seconds", "start of the newest run", info["start"])
        yield _gauge("tasqyn_forecast_last_run_age_seconds", "seconds since the newest run started", info["age"])
        if info["duration"] is not None:
            yield _gauge("tasqyn_forecast_last_run_duration_seconds", "newest run, start to end", info["duration"])
        if finished is not None:
            st = GaugeMetricFamily(
                "tasqyn_forecast_last_run_stations",
                "stations of the newest finished run: total, forecast, stale, failed",
                labels=["state"],
            )
            for state in ("total", "forecast", "stale", "failed"):
                st.add_metric([state], float(finished[state]))
            yield st

    # --- observations ---------------------------------------------------------------------------------------

    def _observations(self) -> Iterator[Metric]:
        try:
            loaded = self.state.store()
        except Exception:  # noqa: BLE001 - an unreadable store shows as missing observation metrics (and in health)
            return
        if loaded is None:
            return
        today = local_today()
        ages = {sid: float((today - d).days) if d is not None else float("nan") for sid, d in loaded.newest.items()}
        g = GaugeMetricFamily(
            "tasqyn_observation_age_days",
            "days from the station's newest discharge or water level to today (local day)",
            labels=["station"],
        )
        for sid, age in ages.items():
            g.add_metric([sid], age)
        yield g
        limit = DEFAULTS.stale_after_days
        stale = len(stale_now(loaded.newest, today, limit))
        yield _gauge(
            "tasqyn_observation_stale_stations", f"stations without an observation in the last {limit} days", stale
        )

    # --- weather forecasts ----------------------------------------------------------------------------------

    def _nwp_runs(self) -> Iterator[Metric]:
        folder = self.state.settings.home.store_dir / "forcing"
        files = sorted(folder.glob("*.nc")) if folder.is_dir() else []
        if not files:
            return
        g = GaugeMetricFamily(
            "tasqyn_nwp_run_age_hours", "age of the newest weather-forecast run in the forcing store", labels=["source"]
        )
        now = pd.Timestamp.now(tz="UTC").tz_localize(None)
        for path in files:
            source, newest = self._newest_run(path)
            if newest is not None:
                g.add_metric([source], (now - newest).total_seconds() / 3600.0)
        yield g

    def _newest_run(self, path: Path) -> tuple[str, pd.Timestamp | None]:
        import xarray as xr

        from forecasting.storage import NETCDF_ENGINE, NETCDF_LOCK

        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return path.stem, None
        hit = self._nwp.get(str(path))
        if hit and hit[0] == mtime:
            return hit[1], hit[2]
        try:
            with NETCDF_LOCK, xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
                source = str(ds.attrs.get("source") or path.stem)
                times = ds["forecast_reference_time"].values if "forecast_reference_time" in ds else []
                newest = pd.Timestamp(np.max(times)) if len(times) else None
        except (OSError, ValueError, RuntimeError, KeyError):
            source, newest = path.stem, None
        if newest is not None and newest.tzinfo is not None:
            newest = newest.tz_convert("UTC").tz_localize(None)
        self._nwp[str(path)] = (mtime, source, newest)
        return source, newest

    # --- notifications --------------------------------------------------------------------------------------

    def _notifications(self) -> Iterator[Metric]:
        from records.notifications import NotificationMessage

        try:
            with self.state.session_factory() as s:
                rows = s.execute(
                    select(
                        NotificationMessage.channel,
                        NotificationMessage.status,
                        func.count(),
                        func.coalesce(func.sum(NotificationMessage.attempts), 0),
                    ).group_by(NotificationMessage.channel, NotificationMessage.status)
                ).all()
        except Exception:  # noqa: BLE001 - no notification metrics when the database cannot be read
            return
        msgs = GaugeMetricFamily(
            "tasqyn_notification_messages", "notification messages by channel and status", labels=["channel", "status"]
        )
        attempts = CounterMetricFamily(
            "tasqyn_notification_delivery_attempts", "delivery attempts made, by channel", labels=["channel"]
        )
        per_channel: dict[str, float] = {}
        for channel, status, n, tries in rows:
            msgs.add_metric([str(channel), str(status)], float(n))
            per_channel[str(channel)] = per_channel.get(str(channel), 0.0) + float(tries or 0)
        for channel, tries in sorted(per_channel.items()):
            attempts.add_metric([channel], tries)
        yield msgs
        yield attempts


def _run_facts(run: ForecastRun) -> dict[str, Any]:
    start = _utc(run.created_at)
    end = _utc(run.finished_at) if run.finished_at is not None else None
    now = dt.datetime.now(dt.UTC)
    return {
        "run_id": run.run_id,
        "issue_date": str(run.issue_date),
        "status": run.status,
        "review_status": run.review_status,
        "success": 1.0 if run.status == "success" else 0.0,
        "start": start.timestamp(),
        "age": (now - start).total_seconds(),
        "duration": (end - start).total_seconds() if end is not None else None,
        "total": run.n_stations,
        "forecast": run.n_forecast,
        "stale": run.n_stale,
        "failed": run.n_failed,
    }


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value))


def metrics_text(collector: ServiceCollector) -> bytes:
    """The exposition of this process's request metrics (or all workers' in multiprocess mode) and the service's."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))
    registry.register(collector)
    return generate_latest(registry)


class _Forward:
    """A collector that yields another registry's metrics (the module's request metrics)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


def install_metrics(app: FastAPI, state: ServiceState) -> None:
    """Add the request metrics and access log (outermost middleware) and `GET /metrics` to `app`."""
    collector = ServiceCollector(state)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(metrics_text(collector), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestMetrics, root=app)
