"""`tasqyn backtest` from the command line on the committed real excerpt: the report, its summary, and the PNG
plots only when asked (`--no-plots` writes none)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from flows.cli import app

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def test_backtest_cli_with_and_without_plots(real_excerpt, tmp_path) -> None:
    args = ["backtest", "--data", str(real_excerpt), "--test-years", "2", "--leads", "1,3"]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a" / "report.json"), "--no-plots"])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert set(report["stations"]) == {"CH2185", "PROTVA_SZ"} and report["leads"] == [1, 3]
    assert (tmp_path / "a" / "report.md").exists()
    assert list((tmp_path / "a").rglob("*.png")) == []  # --no-plots: no PNG at all
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b" / "report.json")])
    assert res.exit_code == 0, res.output
    pngs = {p.name for p in (tmp_path / "b").rglob("*.png")}
    assert {"CH2185.png", "PROTVA_SZ.png", "calibration.png"} <= pngs
