"""The training flow on a local Dask cluster of 2 workers: one task per basin, a failing basin is reported while
the others are trained and saved."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting import qc
from forecasting.sources import get_adapter
from forecasting.storage import write_netcdf_atomic
from forecasting.store import build_dataset


@pytest.fixture()
def small_store(real_data, home):
    ds, _ = build_dataset(get_adapter("station-csv").read(real_data))
    ds = qc.run_qc(ds).sel(station=["CH2426", "CH2232"], time=slice("2001-01-01", "2004-12-31"))
    dry = ds.sel(station=["CH2232"]).assign_coords(station=["NOQ"], name=("station", ["no discharge"]))
    dry["discharge_m3s"][:] = np.nan
    dry["water_level_cm"][:] = np.nan  # (a post with levels only would be trained on its level)
    ds = ds.sel(station=["CH2426", "CH2232"])
    import xarray as xr

    ds = xr.concat([ds, dry], dim="station")
    write_netcdf_atomic(ds, home.observations)
    return home


@pytest.mark.slow
def test_train_flow_on_local_dask_cluster(small_store, monkeypatch):
    from distributed import LocalCluster
    from prefect.testing.utilities import prefect_test_harness

    from flows.train import train_flow
    from forecasting.model_registry import GLOBAL_MODEL, current_version, load_all

    monkeypatch.setenv("TASQYN_HOME", str(small_store.root))
    with (
        prefect_test_harness(server_startup_timeout=180),
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
    ):
        result = train_flow(small_store.root, dask_address=cluster.scheduler_address, leads=[1, 2, 3])
    assert set(result["trained"]) == {"CH2426", "CH2232", GLOBAL_MODEL}  # and the global model of all stations
    assert set(result["failed"]) == {"NOQ"}
    assert "no discharge" in result["failed"]["NOQ"]
    for b in ("CH2426", "CH2232"):
        v = current_version(small_store.models_dir, b)
        assert v == result["trained"][b]["version"]
        assert (small_store.models_dir / b / v / "model.json").exists()
    models = load_all(small_store.models_dir)
    assert set(models) == {"CH2426", "CH2232", GLOBAL_MODEL}
    assert set(models[GLOBAL_MODEL].model.stations) == {"CH2426", "CH2232"}
    assert "NOQ" in models[GLOBAL_MODEL].fallback
    assert models["CH2426"].model is not None and models["CH2426"].model.leads == [1, 2, 3]
    # after training, each basin is paired with the new global model (weights fitted on the shared held-out year)
    g = current_version(small_store.models_dir, GLOBAL_MODEL)
    assert set(result["paired"]) == {"CH2426", "CH2232"}
    for b in ("CH2426", "CH2232"):
        assert result["paired"][b]["global_version"] == g
        fit = models[b].ensembles[g]["plain"]
        assert set(fit.weight) == {1, 2, 3} and all(0 <= w <= 1 for w in fit.weight.values())


@pytest.mark.slow
def test_train_flow_in_process_selected_basin(small_store):
    from prefect.testing.utilities import prefect_test_harness

    from flows.train import train_flow

    with prefect_test_harness(server_startup_timeout=180):
        result = train_flow(small_store.root, basins=["CH2426"], leads=[1])
    assert list(result["trained"]) == ["CH2426"] and result["failed"] == {}
    assert result["paired"] == {}  # no global model in the registry: nothing to pair with
    with pytest.raises(KeyError, match="unknown basin"):
        train_flow(small_store.root, basins=["nope"], leads=[1])
