"""The scheduled service for real: what an operator starts (docs/OPERATIONS.md), end to end.

`prefect server start` on 127.0.0.1 (a free port; Prefect's own database is SQLite in a temporary PREFECT_HOME),
`prefect work-pool create tasqyn --type process`, `prefect worker start --pool tasqyn`, `prefect deploy --all`
from the project's prefect.yaml; then, through the server, `prefect deployment run` of `ingest`, `weekly-retrain`
and `daily-forecast` (with `publish=true`, as a service without reviewers runs it), each waited for until the
worker has finished it; then the API (create_app on the same home, PostgreSQL through TASQYN_DATABASE_URL, a
scratch database) must serve the new publication. The inbox holds the embedded Fulda sample with its dates moved
by whole years (seasons and leap days kept) so that its record ends yesterday, as a live feed would.

The server's scheduler is switched off so that only the runs the test triggers execute (a cron time falling inside
the test would otherwise add runs); the deployments' schedules are checked as registered. Every process is started
in its own process group and killed at the end, also when the test fails.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RUN_TIMEOUT_S = 360  # all flow runs together
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \| [A-Z]+ *\| Flow run '[^']+' - ")

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Terminate the process group of `proc` (the server's uvicorn, the worker's flow-run children), then kill."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class Service:
    """The processes of one scheduled service and how to talk to them."""

    def __init__(self, tmp: Path, home: Path, database_url: str) -> None:
        self.tmp, self.home, self.database_url = tmp, home, database_url
        self.port = _free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.procs: list[subprocess.Popen] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TASQYN_"))}
        self.env.update(
            PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            PREFECT_HOME=str(tmp / "prefect"),
            PREFECT_API_URL=self.api,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_UI_ENABLED="false",
            PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
            PREFECT_LOGGING_SETTINGS_PATH=str(ROOT / "deploy" / "prefect-logging.yml"),
            PREFECT_LOGGING_LEVEL="WARNING",
            DO_NOT_TRACK="1",
            TASQYN_HOME=str(home),
            TASQYN_PROJECT_DIR=str(ROOT),
            TASQYN_DATABASE_URL=database_url,
        )

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "w")  # noqa: SIM115  (closed with the process)
        proc = subprocess.Popen(
            [str(VENV_BIN / "prefect"), *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def prefect(self, *args: str, timeout: float = 180) -> str:
        res = subprocess.run(
            [str(VENV_BIN / "prefect"), "--no-prompt", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert res.returncode == 0, f"prefect {' '.join(args)}: {res.stdout}\n{res.stderr}"
        return res.stdout + res.stderr

    def wait_healthy(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[0].poll() is not None:
                pytest.fail(f"prefect server exited: {(self.tmp / 'server.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.api}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        pytest.fail(f"prefect server not healthy after {timeout} s: {(self.tmp / 'server.log').read_text()[-3000:]}")

    def run_deployment(self, name: str, *params: str) -> str:
        """`prefect deployment run NAME [--param k=v]...`; returns the flow run id."""
        out = self.prefect("deployment", "run", name, *(a for p in params for a in ("--param", p)))
        m = re.search(r"UUID:\s*([0-9a-f-]{36})", out) or re.search(r"([0-9a-f]{8}-[0-9a-f-]{27})", out)
        assert m, out
        return m.group(1)

    def wait_run(self, run_id: str, deadline: float) -> dict:
        """Poll the server until the flow run is in a terminal state (or the deadline passes)."""
        while time.monotonic() < deadline:
            run = httpx.get(f"{self.api}/flow_runs/{run_id}", timeout=10).json()
            state = (run.get("state") or {}).get("type")
            if state in TERMINAL:
                return run
            if self.procs[1].poll() is not None:
                pytest.fail(f"the worker exited: {(self.tmp / 'worker.log').read_text()[-3000:]}")
            time.sleep(2)
        pytest.fail(f"flow run {run_id} unfinished at the deadline; worker log: {self._worker_log()}")

    def _worker_log(self) -> str:
        return (self.tmp / "worker.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        for proc in reversed(self.procs):  # the worker (and its flow runs) first, then the server
            _stop(proc)


@pytest.fixture()
def scratch_database() -> Iterator[str]:
    """A fresh PostgreSQL database on the test server, dropped afterwards."""
    from records.db import make_engine

    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect():
            pass
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable ({type(exc).__name__})")
    name = f"tasqyn_sched_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture()
def service(tmp_path: Path, scratch_database: str) -> Iterator[Service]:
    svc = Service(tmp_path, tmp_path / "home", scratch_database)
    try:
        svc.start("server", "server", "start", "--host", "127.0.0.1", "--port", str(svc.port))
        svc.wait_healthy()
        svc.prefect("work-pool", "create", "tasqyn", "--type", "process")
        svc.start("worker", "worker", "start", "--pool", "tasqyn", "--type", "process", "--name", "test-worker")
        yield svc
    finally:
        svc.stop()


def _live_inbox(home: Path, today: dt.date) -> dt.date:
    """The Fulda sample as an export in the inbox, moved by whole years (a multiple of 4) so that its last full
    year becomes the current one, cut at yesterday; returns the last date."""
    from forecasting.sources.sample import export_station_csv

    folder = export_station_csv(home / "inbox" / "fulda-export")
    path = folder / "FULDA.csv"
    df = pd.read_csv(path, dtype={"date": str})
    last_year = int(df["date"].str[:4].max())
    shift = today.year - last_year
    shift += (-shift) % 4  # keep leap days: shift by a multiple of 4 years
    years = df["date"].str[:4].astype(int) + shift
    df["date"] = years.astype(str) + df["date"].str[4:]
    yesterday = today - dt.timedelta(days=1)
    df = df[df["date"] <= yesterday.isoformat()]
    df.to_csv(path, index=False)
    return dt.date.fromisoformat(df["date"].iloc[-1])


def test_server_worker_and_deployments_publish_what_the_api_serves(service: Service) -> None:
    from fastapi.testclient import TestClient

    from forecasting.config import local_today
    from service.app import create_app
    from service.settings import Settings

    t0 = time.monotonic()
    today = local_today()
    last = _live_inbox(service.home, today)
    assert (today - last).days == 1

    out = service.prefect("deploy", "--all", timeout=300)
    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployments = httpx.post(f"{service.api}/deployments/filter", json={}, timeout=10).json()
    registered = {d["name"]: d for d in deployments}
    assert {d["name"] for d in doc["deployments"]} <= set(registered), out
    daily = registered["daily-forecast"]
    assert daily["work_pool_name"] == "tasqyn"
    assert [s["schedule"].get("cron") for s in daily["schedules"]] == ["0 9 * * *"]
    assert daily["schedules"][0]["schedule"]["timezone"] == "Asia/Almaty"

    deadline = time.monotonic() + RUN_TIMEOUT_S
    states = {}
    for name, params in (
        ("ingest/ingest", ()),
        ("weekly-retrain/weekly-retrain", ()),
        ("daily-forecast/daily-forecast", ("publish=true",)),
    ):
        run = service.wait_run(service.run_deployment(name, *params), deadline)
        states[name] = run["state"]["type"]
        assert run["state"]["type"] == "COMPLETED", (name, run["state"], service._worker_log())
    print(f"flow runs {states} in {time.monotonic() - t0:.0f} s after the services were up")

    # The worker ran the flows in the home: the store, a model, the forecast file; logs in the one format.
    assert (service.home / "store" / "observations.nc").is_file()
    assert (service.home / "models" / "FULDA" / "CURRENT").is_file()
    assert list((service.home / "forecasts" / today.isoformat()).glob("forecast-*.nc"))
    log = (service.home / "logs" / "tasqyn.log").read_text(encoding="utf-8").splitlines()
    assert any(LOG_LINE.match(x) for x in log), log[-20:]

    settings = Settings.from_env(service.home, service.database_url, cache_revalidate_s=0)
    with TestClient(create_app(settings)) as client:
        health = client.get("/api/v1/health").json()
        assert health["latest_issue_date"] == today.isoformat(), health
        assert health["newest_observation"] == last.isoformat() and health["observation_age_days"] == 1
        basins = {b["basin_id"]: b for b in client.get("/api/v1/basins").json()}
        assert basins["FULDA"]["issue_date"] == today.isoformat()
        assert basins["FULDA"]["review_status"] == "unreviewed"  # published at once, no reviewer
        fc = client.get("/api/v1/stations/FULDA/forecast")
        assert fc.status_code == 200, fc.text
        body = fc.json()
        assert body["issue_date"] == today.isoformat() and body["data_age_days"] == 1
        assert [x["lead"] for x in body["leads"]] == list(range(1, 8))
        assert body["leads"][0]["valid_date"] == (today + dt.timedelta(days=1)).isoformat()
        version = (service.home / "models" / "FULDA" / "CURRENT").read_text().strip()
        assert version in str(body["model_version"])  # the model the retrain run made
        q = body["leads"][0]["quantiles"]
        assert 0 < q["0.05"] <= q["0.5"] <= q["0.95"]
