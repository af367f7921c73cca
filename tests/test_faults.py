"""Faults (issue 12, Medium): a killed `tasqyn forecast` leaves no Prefect API server behind, and runs left
`running` by a dead process are marked failed (with the reason) and their partial files removed when the next flow
or the service starts."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from records.db import ForecastRun
from records.publication import fail_abandoned_runs, record_run
from tests import dashboard_support as ds

ROOT = Path(__file__).resolve().parents[1]
STATIONS = ["CH2141", "CH2185", "PROTVA_SZ"]
SERVER = "prefect.server.api.server:create_app"


def _children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def _cmdline(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}/cmdline").read_bytes()).replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.realdata
@pytest.mark.slow
def test_killed_forecast_leaves_no_prefect_server_and_its_run_is_failed(real_data, tmp_path) -> None:
    h = ds.copy_home(ds.prepared_store(real_data, STATIONS), tmp_path / "home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update({"PYTHONPATH": str(ROOT), "PREFECT_HOME": str(tmp_path / "prefect"), "TASQYN_HOME": str(h.root)})
    cmd = [sys.executable, "-c", "from flows.cli import main; main()", "forecast", "--no-ingest", "--home", str(h.root)]
    settings = ds.settings_for(h)
    factory = ds.session_factory(settings)  # the schema exists before the flow starts
    proc = subprocess.Popen(cmd, env=env, cwd=str(ROOT), start_new_session=True, stdout=subprocess.DEVNULL)
    server = None
    try:
        deadline = time.monotonic() + 240
        while server is None and time.monotonic() < deadline and proc.poll() is None:
            server = next((c for c in _children(proc.pid) if SERVER in _cmdline(c)), None)
            time.sleep(0.2)
        assert server is not None, f"no temporary Prefect server seen (exit {proc.poll()})"
        assert "flows.ephemeral_guard" in _cmdline(server)  # started through the guard
        # kill once the flow is inside its run (recorded `running`), the server serving it
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            with factory() as s:
                if s.query(ForecastRun).filter(ForecastRun.status == "running").count():
                    break
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)  # only the command, not its process group
        proc.wait(10)
        deadline = time.monotonic() + 15
        while _alive(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(server), "the temporary Prefect server outlived the killed command"
    finally:
        if proc.poll() is None:
            proc.kill()
        if server is not None and _alive(server):
            os.kill(server, signal.SIGKILL)
    # the run it left `running` is failed when the service starts, with the reason
    with factory() as s:
        running = s.query(ForecastRun).filter(ForecastRun.status == "running").all()
    assert running, "the flow finished before it could be killed"
    from service.app import create_app

    with TestClient(create_app(settings)):
        pass
    with factory() as s:
        run = s.query(ForecastRun).filter(ForecastRun.run_id == running[0].run_id).one()
        assert run.status == "failed" and f"process {proc.pid}" in run.message and "gone" in run.message


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_abandoned_runs_failed_with_reason_and_cleaned(tmp_path) -> None:
    settings = ds.settings_for(ds.Home(tmp_path / "home").ensure())
    factory = ds.session_factory(settings)
    forecasts = settings.home.forecasts_dir
    day = forecasts / "2020-06-01"
    day.mkdir(parents=True)
    old_tmp = day / ".forecast-other.nc.abc.tmp"
    old_tmp.write_bytes(b"x")
    os.utime(old_tmp, (time.time() - 7200, time.time() - 7200))
    young_tmp = day / ".forecast-live.nc.def.tmp"
    young_tmp.write_bytes(b"x")
    with factory() as s:
        dead = record_run(s, "dead", dt.date(2020, 6, 1))
        dead.pid = _dead_pid()  # killed while running: its pid is gone
        (day / "forecast-dead.nc").write_bytes(b"partial")
        (day / ".forecast-dead.nc.xyz.tmp").write_bytes(b"partial")
        reused = record_run(s, "reused", dt.date(2020, 6, 1))
        reused.pid = 1  # a pid that now belongs to a process older than the run (init): not the run's process
        reused.created_at = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
        live = record_run(s, "live", dt.date(2020, 6, 1))  # this process: alive
        far = record_run(s, "far-young", dt.date(2020, 6, 1))
        far.host, far.pid = "another-host", 4242
        far_old = record_run(s, "far-old", dt.date(2020, 6, 1))
        far_old.host, far_old.pid = "another-host", 4242
        far_old.created_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=7)
        done = record_run(s, "done", dt.date(2020, 6, 1), status="success")
        done.pid = _dead_pid()
        s.commit()
        assert live.pid == os.getpid() and live.host
        failed = fail_abandoned_runs(s, forecasts)
        s.commit()
    assert sorted(failed) == ["dead", "far-old", "reused"]
    with factory() as s:
        runs = {r.run_id: r for r in s.query(ForecastRun)}
    assert runs["dead"].status == "failed" and "is gone (killed or crashed while running)" in runs["dead"].message
    assert runs["dead"].finished_at is not None and runs["dead"].published_at is None
    assert "still running after 7.0 h" in runs["far-old"].message and "another-host" in runs["far-old"].message
    # pid 1 (init) started at boot, after the run's 1990 start: the pid is not the run's process any more
    assert runs["reused"].status == "failed" and "newer process" in runs["reused"].message
    assert {runs[k].status for k in ("live", "far-young")} == {"running"} and runs["done"].status == "success"
    assert not (day / "forecast-dead.nc").exists() and not (day / ".forecast-dead.nc.xyz.tmp").exists()
    assert not old_tmp.exists() and young_tmp.exists()  # a young temporary may be a write in progress
