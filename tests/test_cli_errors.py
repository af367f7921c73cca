"""Every command on an empty or missing home, a missing path, an unknown format or an unreachable database says
in one or two lines what is wrong and what to do, exits non-zero and prints no traceback (unless --debug)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from flows import cli

UNREACHABLE_DB = "postgresql+psycopg://nobody@127.0.0.1:1/none"


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    """Run `tasqyn ARGS` through the real entry point; (exit code, stdout + stderr)."""
    monkeypatch.setattr(sys, "argv", ["tasqyn", *args])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["forecast"], "nothing has been ingested into"),
        (["forecast", "--no-ingest"], "run 'tasqyn ingest SOURCE'"),
        (["train"], "nothing has been ingested into"),
        (["stations"], "is empty; run 'tasqyn ingest' first"),
        (["outlook", "--issue-date", "2024-03-01"], "is empty; run 'tasqyn ingest' first"),
        (["store", "check"], "run 'tasqyn ingest' first"),
        (["forecast", "--issue-date", "2024-13-01"], "is not a date (YYYY-MM-DD)"),
        (["ingest", "/no/such/folder"], "no such file or folder"),
        (["users", "list", "--database-url", UNREACHABLE_DB], "the database cannot be reached"),
        (["keys", "list", "--database-url", UNREACHABLE_DB], "check TASQYN_DATABASE_URL"),
    ],
)
def test_clear_errors_without_traceback(
    args: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("TASQYN_HOME", str(tmp_path / "empty-home"))
    code, out = run(monkeypatch, capsys, *args)
    assert code != 0, out
    assert expected in out, out
    assert "Traceback" not in out and 'File "' not in out, out
    assert len([line for line in out.splitlines() if line.strip()]) <= 4, out


def test_unknown_format_and_missing_backtest_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("TASQYN_HOME", str(tmp_path / "home"))
    junk = tmp_path / "notes.txt"
    junk.write_text("nothing a gauge would write\n")
    code, out = run(monkeypatch, capsys, "ingest", str(junk))
    assert code == 1 and "no known format" in out and "Traceback" not in out
    code, out = run(monkeypatch, capsys, "ingest", str(junk), "--format", "nosuchformat")
    assert code == 1 and "unknown format" in out and "Traceback" not in out
    code, out = run(
        monkeypatch, capsys, "backtest", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r.json")
    )
    assert code == 1 and "not a station-CSV folder" in out and "Traceback" not in out


def test_debug_shows_the_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("TASQYN_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sys, "argv", ["tasqyn", "users", "list", "--database-url", UNREACHABLE_DB, "--debug"])
    with pytest.raises(Exception, match="Connection refused|connection failed"):
        cli.main()
