"""The `tasqyn ingest` and `tasqyn stations` commands, run as a user would (typer's CliRunner on flows.cli.app)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()
REGISTRY = "station_id,name,river,country,lat,lon,area_km2\nKZ1,Esil - Astana,Esil,KZ,51.17,71.43,7400\n"
SWISS = ["CH2109", "CH2141", "CH2185", "CH2203", "CH2232", "CH2268", "CH2426", "CH2474"]


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_text(content)
    return folder


def test_ingest_good_data_exits_0_with_a_summary(tmp_path):
    src = write(
        tmp_path / "src",
        {"stations.csv": REGISTRY, "KZ1.csv": "date,discharge_m3s,precip_mm\n2024-03-01,10.5,0\n2024-03-02,11,2.5\n"},
    )
    result = runner.invoke(app, ["ingest", str(src), "--home", str(tmp_path / "home")])
    assert result.exit_code == 0, result.output
    assert "1 stations, 4 values kept, 0 flagged by QC, 0 quarantined" in result.stdout
    assert (tmp_path / "home" / "store" / "observations.nc").exists()


def test_ingest_with_bad_rows_keeps_the_rest_and_names_file_line_field(tmp_path):
    src = write(
        tmp_path / "src",
        {
            "stations.csv": REGISTRY,
            "KZ1.csv": "date,discharge_m3s\n2024-03-01,10.5\n2024-03-02,abc\n2024-03-03,11.2\n2024-03-0",
        },
    )
    result = runner.invoke(app, ["ingest", str(src), "--format", "station-csv", "--home", str(tmp_path / "home")])
    assert result.exit_code == 0, result.output
    assert "2 values kept" in result.stdout and "2 quarantined" in result.stdout
    assert "quarantine written to" in result.stdout
    assert "KZ1.csv, line 3, field 'discharge_m3s': not a number: 'abc'" in result.stderr
    assert "KZ1.csv, line 5" in result.stderr and "truncated" in result.stderr


def test_ingest_exits_non_zero_only_when_nothing_could_be_ingested(tmp_path):
    empty = write(tmp_path / "empty", {"KZ1.csv": ""})
    result = runner.invoke(app, ["ingest", str(empty / "KZ1.csv"), "-f", "station-csv", "--home", str(tmp_path / "h")])
    assert result.exit_code != 0
    assert "nothing could be ingested" in result.stderr
    assert "empty file" in result.stderr
    # The same empty file next to a good one: the good one is ingested, exit 0.
    good = write(tmp_path / "good", {"stations.csv": REGISTRY, "KZ1.csv": "date,discharge_m3s\n2024-03-01,10.5\n"})
    result = runner.invoke(
        app, ["ingest", str(empty / "KZ1.csv"), str(good), "-f", "station-csv", "--home", str(tmp_path / "h")]
    )
    assert result.exit_code == 0, result.output
    assert "1 values kept" in result.stdout


def test_ingest_unknown_format_and_missing_path(tmp_path):
    result = runner.invoke(app, ["ingest", str(tmp_path / "nowhere"), "--home", str(tmp_path / "h")])
    assert result.exit_code != 0
    assert "nowhere" in result.stderr
    result = runner.invoke(app, ["ingest", str(tmp_path), "-f", "no-such-format", "--home", str(tmp_path / "h")])
    assert result.exit_code != 0 and "unknown format" in result.stderr


def test_stations_on_an_empty_store(tmp_path):
    result = runner.invoke(app, ["stations", "--home", str(tmp_path / "home")])
    assert result.exit_code == 1 and "tasqyn ingest" in result.stderr


@pytest.fixture(scope="module")
def real_home(real_data, tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("cli") / "home"
    result = runner.invoke(app, ["ingest", str(real_data), "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "10 stations" in result.stdout and "0 quarantined" in result.stdout
    return home


def test_stations_lists_the_real_stations_with_periods_and_variables(real_home):
    result = runner.invoke(app, ["stations", "--csv", "--home", str(real_home)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout), dtype=str, keep_default_na=False).set_index("station_id")
    assert len(table) == 10
    for sid in SWISS:
        assert (table.loc[sid, "start"], table.loc[sid, "end"]) == ("1981-01-01", "2020-12-31")
        assert table.loc[sid, "variables"] == "Q H P Tmin Tmax SWE"
        assert table.loc[sid, "missing"] == ""
    protva = table.loc["PROTVA_SZ"]
    assert (protva["start"], protva["end"]) == ("1956-01-01", "2005-12-31")
    assert protva["variables"] == "Q P Tmean"
    assert protva["missing"] == "lat, lon, area_km2"  # no coordinates or area in the registry
    assert "repeated" in protva["flags"] and "spike" in protva["flags"]  # its copied years
    chatkal = table.loc["UZ16279_chatkal_khudaydod"]
    assert (chatkal["start"], chatkal["end"]) == ("1965-01-01", "1967-09-15")
    assert chatkal["variables"] == "Q"
    assert chatkal["missing"] == "precip, temperature"  # discharge only
    assert float(table.loc["CH2474", "completeness_pct"]) < 100  # the Calancasca has gaps


def test_stations_table_one_row_per_station(real_home):
    result = runner.invoke(app, ["stations", "--home", str(real_home)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    rows = {sid: [ln for ln in lines if ln.startswith(f"│ {sid} ")] for sid in [*SWISS, "PROTVA_SZ"]}
    assert all(len(r) == 1 for r in rows.values()), rows  # compact: exactly one line each
    assert "1956-01-01..2005-12-31" in rows["PROTVA_SZ"][0] and "lat, lon, area_km2" in rows["PROTVA_SZ"][0]
    assert "1981-01-01..2020-12-31" in rows["CH2141"][0]
    assert "1965-01-01..1967-09-15" in result.stdout and "precip, temperature" in result.stdout


def test_stations_variables_gives_the_per_variable_detail(real_home):
    result = runner.invoke(app, ["stations", "--variables", "--csv", "--home", str(real_home)])
    assert result.exit_code == 0, result.output
    inv = pd.read_csv(io.StringIO(result.stdout), dtype={"station_id": str})
    swe = inv[(inv["station_id"] == "CH2141") & (inv["variable"] == "swe_mm")].iloc[0]
    assert swe["start"] == "1998-09-02" and swe["end"] == "2020-12-31"  # SWE only from 1998
    assert set(inv.loc[inv["station_id"] == "PROTVA_SZ", "variable"]) == {"discharge_m3s", "precip_mm", "tmean_c"}
    q = inv[(inv["station_id"] == "PROTVA_SZ") & (inv["variable"] == "discharge_m3s")].iloc[0]
    assert q["repeated"] >= 365 and q["spike"] >= 3
    table = runner.invoke(app, ["stations", "-v", "--home", str(real_home)])
    assert table.exit_code == 0 and "PROTVA_SZ: metadata missing: lat, lon, area_km2" in table.stdout
