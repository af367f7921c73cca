"""Shared fixtures: the real data folder (../shared/data/real), a fresh home directory per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
REAL_EXCERPT = FIXTURES / "real_excerpt"  # two real stations, nine years each (its README says which)
SHARED_REAL = Path(os.environ.get("TASQYN_REAL_DATA", ROOT.parent / "shared" / "data" / "real"))
HAVE_SHARED = (SHARED_REAL / "stations.csv").exists()
# The real-data tests read ../shared/data/real (CI has it); a fresh clone without it runs them on the excerpt, and
# the tests marked `fulldata` (they need stations or years the excerpt does not have) are skipped there.
REAL_DATA = SHARED_REAL if HAVE_SHARED else REAL_EXCERPT


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without ../shared, a test that reads `real_data` runs on the excerpt only if it is marked `excerpt` (it
    needs nothing the excerpt lacks); the others are skipped with the reason, as are those marked `fulldata`."""
    if HAVE_SHARED:
        return
    skip = pytest.mark.skip(reason=f"needs the full real data ({SHARED_REAL}); only the excerpt is here")
    for item in items:
        needs_real = {"real_data", "real_qc_ds"} & set(getattr(item, "fixturenames", ()))
        if "fulldata" in item.keywords or (needs_real and "excerpt" not in item.keywords):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real station-CSV folder: ../shared/data/real, else the excerpt in tests/fixtures/real_excerpt."""
    return REAL_DATA


@pytest.fixture(scope="session")
def real_excerpt() -> Path:
    """The excerpt of two real stations (CH2185 2012-2020, PROTVA_SZ 1997-2005), always present."""
    return REAL_EXCERPT


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
