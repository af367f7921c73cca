"""Shared fixtures: the real data folder (../shared/data/real), a fresh home directory per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("TASQYN_REAL_DATA", ROOT.parent / "shared" / "data" / "real"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real station-CSV folder; tests that need it are skipped where it is absent (CI has it)."""
    if not (REAL_DATA / "stations.csv").exists():
        pytest.skip(f"real data not found at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture(scope="session")
def real_qc_ds(real_data: Path):
    """The 10 real stations as one dataset, QC run and BAD-flagged values masked (read once per test session;
    tests select from it and never change it in place)."""
    from forecasting import qc
    from forecasting.backtest import mask_bad
    from forecasting.sources import get_adapter
    from forecasting.store import build_dataset

    ds, _ = build_dataset(get_adapter("station-csv").read(real_data))
    return mask_bad(qc.run_qc(ds))


@pytest.fixture()
def home(tmp_path: Path):
    from forecasting.home import Home

    return Home(tmp_path / "home").ensure()


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for all flow tests of the session (a real Prefect run, no network)."""
    from prefect.testing.utilities import prefect_test_harness

    import flows  # noqa: F401  (sets DO_NOT_TRACK etc. before Prefect is imported)

    with prefect_test_harness(server_startup_timeout=120):
        yield
