"""A full disk or a truncated store: clear messages, previous generations kept, `tasqyn store check|restore`."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.ingest import run_ingest
from forecasting.home import Home
from forecasting.ingest import IngestError
from forecasting.storage import (
    StoreCorrupt,
    StoreWriteError,
    check_store,
    generation_path,
    open_store,
    restore_store,
    write_netcdf_atomic,
    write_store,
)

runner = CliRunner()


def _source(folder: Path, sid: str, start: str, days: int, noise: bool = False) -> Path:
    folder.mkdir(parents=True)
    dates = pd.date_range(start, periods=days, freq="D")
    q = 20 + 8 * np.sin(np.arange(days) / 40.0)
    if noise:  # incompressible
        q = q + np.random.default_rng(1).random(days)
    (folder / f"{sid}.csv").write_text(
        "date,discharge_m3s\n" + "".join(f"{d:%Y-%m-%d},{v:.2f}\n" for d, v in zip(dates, q, strict=True)),
        encoding="utf-8",
    )
    return folder


def _stations(ds) -> list[str]:
    return sorted(ds["station"].values.astype(str))


def test_each_write_keeps_three_previous_generations(tmp_path: Path) -> None:
    home = Home(tmp_path / "home").ensure()
    for k in range(5):
        run_ingest(_source(tmp_path / f"s{k}", f"S{k}", "2020-01-01", 400), "station-csv", home)
    files = {f.generation: f for f in check_store(home)}
    assert sorted(files) == [0, 1, 2, 3] and all(f.ok for f in files.values())
    assert files[0].stations == 5 and files[1].stations == 4 and files[3].stations == 2
    assert not generation_path(home, 4).exists()


def test_truncated_store_gives_a_clear_message_and_is_restored(tmp_path: Path) -> None:
    home = Home(tmp_path / "home").ensure()
    run_ingest(_source(tmp_path / "a", "A", "2020-01-01", 900), "station-csv", home)
    run_ingest(_source(tmp_path / "b", "B", "2020-01-01", 900), "station-csv", home)
    data = home.observations.read_bytes()
    home.observations.write_bytes(data[: len(data) // 2])  # a store cut short (disk full, killed copy)
    with pytest.raises(StoreCorrupt, match="cannot be read .*'tasqyn store restore 1'"):
        open_store(home.observations)
    out = runner.invoke(app, ["store", "check", "--home", str(home.root)])
    assert out.exit_code == 1
    assert "current: BAD" in out.stdout and "generation 1: ok" in out.stdout and "1 stations" in out.stdout
    assert "tasqyn store restore 1" in out.stderr
    out = runner.invoke(app, ["store", "restore", "1", "--home", str(home.root)])
    assert out.exit_code == 0, out.output
    assert _stations(open_store(home.observations)) == ["A"]
    assert len(list(home.store_dir.glob("observations.nc.replaced-*"))) == 1  # the damaged file is kept
    assert runner.invoke(app, ["store", "check", "--home", str(home.root)]).exit_code == 0
    # the next ingest works on the restored store
    run_ingest(_source(tmp_path / "c", "C", "2020-01-01", 900), "station-csv", home)
    assert _stations(open_store(home.observations)) == ["A", "C"]


def test_restore_refuses_a_damaged_or_missing_generation(tmp_path: Path) -> None:
    home = Home(tmp_path / "home").ensure()
    run_ingest(_source(tmp_path / "a", "A", "2020-01-01", 400), "station-csv", home)
    run_ingest(_source(tmp_path / "b", "B", "2020-01-01", 400), "station-csv", home)
    generation_path(home, 1).write_bytes(b"\x89HDF\r\n\x1a\n garbage")
    with pytest.raises(StoreCorrupt, match="choose another generation"):
        restore_store(home, 1)
    with pytest.raises(FileNotFoundError, match="no store generation 3"):
        restore_store(home, 3)
    assert _stations(open_store(home.observations)) == ["A", "B"]  # untouched
    out = runner.invoke(app, ["store", "restore", "2", "--home", str(home.root)])
    assert out.exit_code == 1 and "no store generation 2" in out.stderr
    out = runner.invoke(app, ["store", "check", "--home", str(tmp_path / "empty")])
    assert out.exit_code == 1 and "no store" in out.stderr


def test_stale_temporary_files_are_cleaned_when_a_write_starts(tmp_path: Path) -> None:
    home = Home(tmp_path / "home").ensure()
    old = home.store_dir / ".observations.nc.killed.tmp"
    fresh = home.store_dir / ".observations.nc.writing.tmp"
    for p in (old, fresh):
        p.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    run_ingest(_source(tmp_path / "a", "A", "2020-01-01", 30), "station-csv", home)
    assert not old.exists() and fresh.exists()


@pytest.fixture()
def tiny_disk(tmp_path: Path):
    """A 400 kB tmpfs (needs root to mount; skipped elsewhere)."""
    mnt = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_says_no_space_left_names_the_store_and_keeps_it(tiny_disk: Path, tmp_path: Path) -> None:
    home = Home(tiny_disk / "home").ensure()
    run_ingest(_source(tmp_path / "a", "A", "2020-01-01", 200), "station-csv", home)
    with pytest.raises(IngestError) as exc:  # run_ingest's one error type, the StoreWriteError's message inside
        run_ingest(_source(tmp_path / "big", "BIG", "1900-01-01", 40_000, noise=True), "station-csv", home)
    msg = str(exc.value)
    assert "no space left on device" in msg and str(home.observations) in msg and "MB free" in msg
    assert _stations(open_store(home.observations)) == ["A"]
    assert not list(home.store_dir.glob("*.tmp"))
    # a forecast file (write_netcdf_atomic) on the full disk says the same
    ds = open_store(home.observations)
    big = ds.reindex(time=pd.date_range("1800-01-01", "2020-12-31"))
    with pytest.raises(StoreWriteError, match="no space left on device: could not write .*forecast.nc"):
        write_netcdf_atomic(big, home.forecasts_dir / "forecast.nc", compress=False)
    assert not list(home.forecasts_dir.glob("*.tmp"))


def test_write_store_without_generations_and_on_an_empty_home(tmp_path: Path) -> None:
    home = Home(tmp_path / "home").ensure()
    assert check_store(home) == []
    assert open_store(home.observations) is None
    run_ingest(_source(tmp_path / "a", "A", "2020-01-01", 30), "station-csv", home)
    ds = open_store(home.observations)
    write_store(home, ds, generations=0)
    assert [f.generation for f in check_store(home)] == [0]
    write_store(home, ds)
    assert [f.generation for f in check_store(home)] == [0, 1]
