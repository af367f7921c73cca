"""The ingest flow under a real (temporary) Prefect API: one bad source never stops the others."""

from __future__ import annotations

import shutil

import pytest

from forecasting.storage import open_store

pytestmark = pytest.mark.excerpt  # runs on tests/fixtures/real_excerpt where ../shared is absent


@pytest.mark.slow
@pytest.mark.fulldata
def test_ingest_flow_reports_bad_source_and_ingests_the_rest(prefect_harness, real_data, home, tmp_path):
    from flows.ingest import ingest_flow

    good = tmp_path / "good"
    good.mkdir()
    for name in ("stations.csv", "CH2232.csv"):
        shutil.copy(real_data / name, good / name)
    empty = tmp_path / "broken.csv"
    empty.write_bytes(b"")
    out = ingest_flow(
        sources=[str(tmp_path / "missing-folder"), str(empty), str(good)], fmt="station-csv", home=str(home.root)
    )
    by_src = {o["source"]: o for o in out}
    assert by_src[str(good)]["ok"] is True
    assert by_src[str(tmp_path / "missing-folder")]["ok"] is False
    assert by_src[str(empty)]["ok"] is False
    ds = open_store(home.observations)
    assert list(ds["station"].values) == ["CH2232"]
    assert ds["discharge_m3s"].notnull().sum() == 14610
