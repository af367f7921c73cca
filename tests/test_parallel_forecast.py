"""The daily forecast in worker processes (flows.parallel) gives what make_forecast on the whole store gives, value
for value, on real stations: one forecast normally, one stale, a station without discharge failed."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from flows.ingest import run_ingest
from flows.parallel import combine, forecast_all, plan_chunks
from flows.train import global_sample, train_basin
from forecasting import qc
from forecasting.config import DEFAULTS
from forecasting.forecast import make_forecast
from forecasting.model_registry import GLOBAL_MODEL, load_all
from forecasting.storage import open_store

pytestmark = [pytest.mark.slow, pytest.mark.realdata, pytest.mark.excerpt]

WANTED = ["CH2185", "CH2232", "CH2426", "PROTVA_SZ"]


@pytest.fixture(scope="module")
def trained_home(real_data, tmp_path_factory):
    from forecasting.home import Home

    tmp = tmp_path_factory.mktemp("parallel")
    src = tmp / "src"
    src.mkdir()
    registry = pd.read_csv(real_data / "stations.csv", dtype=str)
    keep = [s for s in WANTED if s in set(registry["station_id"])]
    assert len(keep) >= 2
    for sid in keep:
        lines = (real_data / f"{sid}.csv").read_text().splitlines()
        if sid == keep[0]:
            lines = lines[:-3]  # late reports: the newest discharge is 3 days old on the issue day (stale)
        (src / f"{sid}.csv").write_text("\n".join(lines) + "\n")
    (src / "KZ_NOQ.csv").write_text("date,precip_mm\n2020-12-01,1.0\n2020-12-02,0.0\n")  # no discharge: failed
    rows = registry[registry["station_id"].isin(keep)][["station_id", "name", "river", "country", "lat", "lon"]]
    rows = pd.concat([rows, pd.DataFrame([{"station_id": "KZ_NOQ", "name": "Broken gauge", "country": "KZ"}])])
    rows.to_csv(src / "stations.csv", index=False)
    home = Home(tmp / "home").ensure()
    assert run_ingest(src, "station-csv", home).ok
    for sid in keep:  # each station is its own basin
        train_basin(str(home.root), sid, [sid], [1, 2, 3])
    train_basin(str(home.root), GLOBAL_MODEL, keep, [1, 2, 3])
    return home, keep


def test_pool_and_in_process_forecasts_equal_make_forecast(trained_home):
    home, keep = trained_home
    config = DEFAULTS.with_(leads=(1, 2, 3), stale_after_days=2)
    created = datetime(2021, 1, 1, 6, 0, tzinfo=UTC)
    issue = "2020-12-31"
    whole = qc.usable(open_store(home.observations))
    reference = make_forecast(whole, load_all(home.models_dir), issue, config=config, created_at=created)
    status = dict(zip(reference["station"].values, reference["status"].values, strict=True))
    assert status[keep[0]] == "stale" and status["KZ_NOQ"] == "failed"
    assert sum(s == "ok" for s in status.values()) >= 1
    assert np.isfinite(reference["discharge_m3s"].sel(station=keep[1]).values).all()

    in_process = forecast_all(home.observations, home.models_dir, issue, config, workers=1, created_at=created)
    pooled = forecast_all(home.observations, home.models_dir, issue, config, workers=2, created_at=created)
    xr.testing.assert_identical(in_process, reference)
    xr.testing.assert_identical(pooled, reference)  # bit for bit: assert_identical compares values exactly
    assert pooled.attrs == reference.attrs


def test_chunks_keep_basins_together_and_cover_every_station():
    meta = pd.DataFrame(
        {"basin": ["A"] * 7 + ["B"] * 2 + ["C"] + ["D"] * 30},
        index=[f"S{i:02d}" for i in range(40)],
    )
    chunks = plan_chunks(meta, 4)
    flat = [s for c in chunks for s in c]
    assert sorted(flat) == list(meta.index) and len(flat) == len(set(flat))
    for c in chunks:  # a basin is split only when larger than a chunk (D: 30 stations, chunks of 10)
        basins = set(meta.loc[c, "basin"])
        assert len(basins) == 1 or "D" not in basins
    assert max(len(c) for c in chunks) <= 10
    assert plan_chunks(meta, 1) == [list(meta.index)]


def test_global_sample_spreads_over_basins():
    groups = {"B": ["b1", "b2", "b3"], "A": ["a1", "a2"], "C": ["c1"]}
    assert global_sample(groups, 0) == ["b1", "b2", "b3", "a1", "a2", "c1"]
    assert global_sample(groups, 10) == ["b1", "b2", "b3", "a1", "a2", "c1"]
    # one of each basin first (basins in name order: A, B, C, then A again), returned in store order
    assert global_sample(groups, 4) == ["b1", "a1", "a2", "c1"]


def test_combine_unions_nwp_attributes():
    a = xr.Dataset({"x": ("station", [1.0])}, coords={"station": ["s1"]}, attrs={"nwp_source": "ifs", "k": 1})
    b = xr.Dataset({"x": ("station", [2.0])}, coords={"station": ["s2"]}, attrs={"nwp_source": "gfs,ifs", "k": 1})
    out = combine([b, a], ["s1", "s2"])
    assert list(out["station"].values) == ["s1", "s2"] and list(out["x"].values) == [1.0, 2.0]
    assert out.attrs["nwp_source"] == "gfs,ifs" and out.attrs["nwp_run_time"] == ""


def test_forecast_all_without_store(tmp_path):
    with pytest.raises(FileNotFoundError, match="empty"):
        forecast_all(tmp_path / "none.nc", tmp_path, "2020-01-01", DEFAULTS)
    shutil.rmtree(tmp_path)


def test_a_model_that_cannot_be_loaded_stops_only_its_own_stations(trained_home, tmp_path):
    """A damaged model.json (a disk error, a half-copied registry) of one basin: its stations fall back to a
    baseline with that reason, in the pool and in one process; every other station is forecast as before."""
    home, keep = trained_home
    config = DEFAULTS.with_(leads=(1, 2, 3), stale_after_days=2)
    created = datetime(2021, 1, 1, 6, 0, tzinfo=UTC)
    models = tmp_path / "models"
    shutil.copytree(home.models_dir, models)
    assert len(keep) >= 3
    broken, torn = keep[1], keep[2]
    version = (models / broken / "CURRENT").read_text().strip()
    (models / broken / version / "model.json").write_text('{"name": "lightgbm", "vers', encoding="utf-8")
    version = (models / torn / "CURRENT").read_text().strip()
    (models / torn / version / "lead_2.txt").write_text("tree\nnot a model\n", encoding="utf-8")  # a booster
    good = forecast_all(home.observations, home.models_dir, "2020-12-31", config, workers=1, created_at=created)
    for workers in (1, 2):
        fc = forecast_all(home.observations, models, "2020-12-31", config, workers=workers, created_at=created)
        for sid, why in ((broken, "JSONDecodeError"), (torn, "lead_2.txt cannot be read")):
            one = fc.sel(station=sid)
            assert str(one["status"].values) == "fallback"
            message = str(one["message"].values)
            assert f"the model of basin {sid} cannot be loaded" in message and why in message, message
            assert "climatology" in message, message
        others = [s for s in keep if s not in (broken, torn)]
        xr.testing.assert_identical(fc.sel(station=others), good.sel(station=others))
