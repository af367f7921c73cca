"""Cross-process locks of the home (forecasting.locks): real concurrent processes, no lost update, clear timeout."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting import locks
from forecasting.home import Home
from forecasting.storage import open_store

ROOT = Path(__file__).resolve().parents[1]


def _spawn(code: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_counter_incremented_by_four_processes_loses_no_update(tmp_path: Path) -> None:
    """Four processes each do 40 read-increment-write cycles of one file under the lock: none is lost."""
    counter = tmp_path / "counter.txt"
    counter.write_text("0")
    code = f"""
        import time
        from pathlib import Path
        from forecasting.locks import home_lock
        p = Path({str(counter)!r})
        for _ in range(40):
            with home_lock({str(tmp_path)!r}, "store", timeout=60):
                n = int(p.read_text())
                time.sleep(0.001)  # widen the window a lost update needs
                p.write_text(str(n + 1))
    """
    procs = [_spawn(code) for _ in range(4)]
    for p in procs:
        _, errs = p.communicate(timeout=120)
        assert p.returncode == 0, errs
    assert int(counter.read_text()) == 160


def test_timeout_names_the_lock_its_holder_and_the_wait(tmp_path: Path) -> None:
    holder = _spawn(
        f"""
        import sys, time
        from forecasting.locks import home_lock
        with home_lock({str(tmp_path)!r}, "store"):
            print("held", flush=True)
            time.sleep(30)
        """
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert locks.is_locked(tmp_path, locks.STORE)
        t0 = time.monotonic()
        with pytest.raises(locks.LockTimeout) as exc, locks.home_lock(tmp_path, locks.STORE, timeout=0.6):
            pass
        assert 0.5 <= time.monotonic() - t0 < 5
        msg = str(exc.value)
        assert str(tmp_path / "locks" / "store.lock") in msg
        assert f"pid {holder.pid}" in msg and "since 20" in msg and "waited 1 s" in msg
    finally:
        holder.kill()
        holder.wait()
    # The kernel drops the lock with the killed process: no stale lock.
    with locks.home_lock(tmp_path, locks.STORE, timeout=5):
        assert not locks.is_locked(tmp_path, locks.MODELS)


def test_lock_is_reentrant_in_one_thread_and_exclusive_between_threads(tmp_path: Path) -> None:
    import threading

    with locks.home_lock(tmp_path, "store"), locks.home_lock(tmp_path, "store", timeout=0):
        got: list[object] = []

        def other() -> None:
            try:
                with locks.home_lock(tmp_path, "store", timeout=0.2):
                    got.append("acquired")
            except locks.LockTimeout as exc:
                got.append(exc)

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert isinstance(got[0], locks.LockTimeout)
    assert not locks.is_locked(tmp_path, "store")


def _station_folder(folder: Path, ids: list[str], start: str, days: int, seed: int) -> None:
    """A station-CSV folder with `ids`, each `days` days of realistic discharge (m3/s) and precipitation."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days, freq="D")
    doy = dates.dayofyear.to_numpy()
    rows = []
    for k, sid in enumerate(ids):
        base = 20.0 * (k + 1)
        q = base * (1 + 3 * np.exp(-(((doy - 110) / 20.0) ** 2))) * np.exp(rng.normal(0, 0.05, days))
        pd.DataFrame(
            {"date": dates.strftime("%Y-%m-%d"), "discharge_m3s": q.round(2), "precip_mm": rng.gamma(0.3, 3, days)}
        ).to_csv(folder / f"{sid}.csv", index=False, float_format="%.2f")
        rows.append({"station_id": sid, "name": sid, "river": "R", "country": "KZ", "lat": 50 + k, "lon": 70 + k})
    pd.DataFrame(rows).to_csv(folder / "stations.csv", index=False)


@pytest.mark.parametrize("round_", [1, 2])
def test_two_concurrent_ingest_processes_keep_both_sources(tmp_path: Path, round_: int) -> None:
    """Two `tasqyn ingest` processes of different station folders on one home at once: both sources' stations and
    every value are in the store afterwards (without the lock the last writer won and the other's data vanished)."""
    a, b = tmp_path / "a", tmp_path / "b"
    _station_folder(a, ["A1", "A2", "A3"], "2000-01-01", 3000, seed=round_)
    _station_folder(b, ["B1", "B2"], "2003-06-01", 2500, seed=10 + round_)
    home = Home(tmp_path / "home").ensure()
    cmd = [sys.executable, "-m", "flows.cli", "ingest", "--home", str(home.root)]
    procs = [
        subprocess.Popen([*cmd, str(src)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for src in (a, b)
    ]
    for p in procs:
        out, errs = p.communicate(timeout=300)
        assert p.returncode == 0, errs
    ds = open_store(home.observations)
    assert sorted(ds["station"].values.astype(str)) == ["A1", "A2", "A3", "B1", "B2"]
    q = ds["discharge_m3s"]
    for sid in ("A1", "A2", "A3"):
        assert int(q.sel(station=sid).notnull().sum()) == 3000
    for sid in ("B1", "B2"):
        assert int(q.sel(station=sid).notnull().sum()) == 2500
    log = pd.read_csv(home.ingest_log)
    assert sorted(log["source"]) == sorted([str(a), str(b)])
    assert set(log["kept"]) == {3 * 3000 * 2, 2 * 2500 * 2}
