"""One log format: our records and a Prefect flow run's land in <home>/logs/tasqyn.log alike; no folding when the
output is not a terminal; the file rotates, also when two processes share it."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect import flow, get_run_logger

from flows.logging_setup import LOG_FILE, configure_logging, make_console

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \| (?P<level>[A-Z]+) *\| (?P<source>.+?) - (?P<msg>.*)$")


@flow(name="logging-probe")
def _probe_flow(text: str) -> None:
    get_run_logger().info(text)


@pytest.fixture()
def restore_logging():
    """Put the root logger's handlers and the levels we touch back after the test."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    names = ("tasqyn", "flows", "forecasting", "records", "service", "prefect", "prefect.flow_runs")
    levels = {n: logging.getLogger(n).level for n in names}
    yield
    for h in root.handlers:
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    for n, lv in levels.items():
        logging.getLogger(n).setLevel(lv)
    for name in ("prefect.extra", "prefect._internal", "uvicorn", "fastapi"):
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            if h.get_name() == "tasqyn-file":
                lg.removeHandler(h)


def test_our_record_and_a_flow_runs_record_share_the_file_and_format(prefect_harness, home, restore_logging):
    path = configure_logging(home, "INFO")
    assert path == home.root / "logs" / LOG_FILE
    logging.getLogger("tasqyn.test").info("ours: station CH2232 read")
    logging.getLogger("tasqyn.test").debug("not shown at INFO")
    _probe_flow("from the flow run: 7 stations forecast")
    for h in logging.getLogger().handlers:
        h.flush()
    lines = path.read_text(encoding="utf-8").splitlines()
    ours = [m for m in map(LINE.match, lines) if m and m["msg"] == "ours: station CH2232 read"]
    theirs = [m for m in map(LINE.match, lines) if m and m["msg"] == "from the flow run: 7 stations forecast"]
    assert len(ours) == 1 and len(theirs) == 1, lines
    assert ours[0]["level"] == theirs[0]["level"] == "INFO"
    assert ours[0]["source"] == "tasqyn.test"
    assert theirs[0]["source"].startswith("Flow run '")  # Prefect names the run
    assert not any("not shown at INFO" in x for x in lines)
    # Configuring again does not add a second file handler (each record once).
    configure_logging(home, "DEBUG")
    logging.getLogger("tasqyn.test").debug("debug now shown")
    text = path.read_text(encoding="utf-8")
    assert text.count("debug now shown") == 1


def test_long_lines_are_not_folded_when_stderr_is_not_a_terminal(tmp_path):
    long = "x" * 150 + " stations: " + ", ".join(f"KZ{i:05d}" for i in range(40))
    code = (
        "import logging, sys\n"
        "from flows.logging_setup import configure_logging, make_console\n"
        f"configure_logging({str(tmp_path / 'home')!r}, 'INFO')\n"
        f"logging.getLogger('tasqyn.cli').warning({long!r})\n"
        f"make_console(stderr=True).print({long!r})\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, env=_env(tmp_path)
    )
    assert res.returncode == 0, res.stderr
    err_lines = res.stderr.splitlines()
    assert any(LINE.match(x) and x.endswith(long) for x in err_lines), res.stderr  # one line, our format
    assert long in err_lines  # the console printed it whole
    assert len(long) > 300


def test_console_is_narrow_only_on_a_terminal(tmp_path):
    with open(tmp_path / "out.txt", "w") as fh:
        c = make_console(file=fh)
        assert not c.is_terminal and c.width > 1000


def test_file_rotates_and_two_processes_share_it(tmp_path):
    """Two processes log 400 records each, at the same time, into one small rotating file: every record is kept
    exactly once across the file and its backups, and no file passes the size limit. (With a plain
    RotatingFileHandler this fails in about one run of three: one process writes into a file the other has rotated
    away, and their renames race.)"""
    code = (
        "import logging, os, sys, time\n"
        "from flows.logging_setup import configure_logging\n"
        f"configure_logging({str(tmp_path / 'home')!r}, 'INFO', max_bytes=8000, backups=50, console=False)\n"
        "log = logging.getLogger('tasqyn.writer')\n"
        f"open({str(tmp_path)!r} + '/ready-' + sys.argv[1], 'w').close()\n"
        f"while not os.path.exists({str(tmp_path / 'go')!r}): time.sleep(0.01)\n"  # both write at once
        "for i in range(400):\n"
        "    log.info('writer %s record %04d', sys.argv[1], i)\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, tag], cwd=ROOT, env=_env(tmp_path), stderr=subprocess.PIPE)
        for tag in ("A", "B")
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{t}").exists() for t in ("A", "B")) and time.monotonic() < deadline:
        time.sleep(0.05)
    (tmp_path / "go").touch()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    logs = sorted((tmp_path / "home" / "logs").glob("tasqyn.log*"))
    logs = [p for p in logs if not p.name.endswith(".lock")]
    assert len(logs) > 3  # it rotated
    records = [x for p in logs for x in p.read_text(encoding="utf-8").splitlines()]
    for tag in ("A", "B"):
        mine = sorted(x.rsplit(" ", 1)[1] for x in records if f"writer {tag} record" in x)
        assert mine == [f"{i:04d}" for i in range(400)]
    assert all(p.stat().st_size <= 8000 for p in logs)


def _env(tmp_path: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}
    env.update(PYTHONPATH=str(ROOT), PREFECT_HOME=str(tmp_path / "prefect"), TERM="dumb")
    return env


@pytest.mark.slow
def test_prefect_logging_file_of_deploy_sends_flow_runs_to_the_home_log(tmp_path):
    """deploy/prefect-logging.yml (PREFECT_LOGGING_SETTINGS_PATH of the worker and its flow runs): a flow run's
    record and ours reach <TASQYN_HOME>/logs/tasqyn.log in the one format."""
    code = (
        "import logging\n"
        "from prefect import flow, get_run_logger\n"
        "@flow(name='probe')\n"
        "def probe():\n"
        "    get_run_logger().info('flow says hello')\n"
        "    logging.getLogger('tasqyn.probe').info('we say hello')\n"
        "probe()\n"
    )
    env = _env(tmp_path)
    env.update(
        TASQYN_HOME=str(tmp_path / "home"),
        PREFECT_LOGGING_SETTINGS_PATH=str(ROOT / "deploy" / "prefect-logging.yml"),
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr
    lines = (tmp_path / "home" / "logs" / LOG_FILE).read_text(encoding="utf-8").splitlines()
    got = {m["msg"]: m["source"] for m in map(LINE.match, lines) if m}
    assert got["flow says hello"].startswith("Flow run '")
    assert got["we say hello"] == "tasqyn.probe"
