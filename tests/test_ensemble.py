"""How a basin model and the global model are combined (forecasting.models.ensemble): the global model's weight and
the spread of the average, fitted per lead on the held-out years both share, kept beside the basin model in the
registry and used by the daily forecast only with the global version it was fitted for."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecasting.config import DEFAULTS
from forecasting.features import StationContext, log_q
from forecasting.forecast import make_forecast
from forecasting.model_registry import (
    GLOBAL_MODEL,
    fit_basin_model,
    fit_pairing,
    load_model,
    save_model,
    save_pairing,
)
from forecasting.models.calibration import FINE_LEVELS
from forecasting.models.ensemble import EnsembleFit, fit_ensemble, spread_about_median
from forecasting.models.lgbm import LGBMForecaster, LGBMParams
from forecasting.store import station_frame

FAST = LGBMParams(n_estimators=80, learning_rate=0.1, cal_years=4)
WEAK = replace(FAST, n_estimators=1, learning_rate=0.01)  # one shallow step: hardly more than persistence
STATIONS = ("CH2426", "CH2232")


@pytest.fixture(scope="module")
def frames(real_qc_ds: xr.Dataset) -> dict[str, pd.DataFrame]:
    return {s: station_frame(real_qc_ds, s).loc["1994-01-01":"2006-12-31"] for s in STATIONS}


@pytest.fixture(scope="module")
def trained(frames) -> dict[str, LGBMForecaster]:
    end = pd.Timestamp("2005-12-31")
    one = {"CH2426": frames["CH2426"]}
    return {
        "basin": LGBMForecaster([1, 3], FAST).fit(one, end),
        "weak_basin": LGBMForecaster([1, 3], WEAK).fit(one, end),
        "global": LGBMForecaster([1, 3], FAST).fit(frames, end),
        "weak_global": LGBMForecaster([1, 3], WEAK).fit(frames, end),
    }


def test_spread_about_the_median_in_log_discharge():
    ctx = StationContext("S", qscale=10.0, offset=0.1)
    q = np.sort(np.random.default_rng(1).gamma(20.0, 1.0, (6, 2, len(FINE_LEVELS))), axis=-1)  # away from 0
    same = spread_about_median(q, np.array([1.0, 1.0]), ctx, FINE_LEVELS)
    np.testing.assert_array_equal(same, q)
    half = spread_about_median(q, np.array([0.5, 2.0]), ctx, FINE_LEVELS)
    m = FINE_LEVELS.index(0.5)
    np.testing.assert_allclose(half[..., m], q[..., m], rtol=1e-12)  # the median stays
    d0 = log_q(q, ctx) - log_q(q, ctx)[..., m : m + 1]
    d1 = log_q(half, ctx) - log_q(half, ctx)[..., m : m + 1]
    np.testing.assert_allclose(d1[:, 0], 0.5 * d0[:, 0], atol=1e-9)  # lead 1: half the distance
    np.testing.assert_allclose(d1[:, 1], 2.0 * d0[:, 1], atol=1e-9)  # lead 2: twice
    assert np.all(np.diff(half, axis=-1) >= 0)


def test_the_weight_goes_to_the_model_that_forecasts_better_on_the_shared_held_out_years(trained, frames):
    good_basin = fit_ensemble(trained["basin"], trained["weak_global"], frames, "g1", 0.5)
    good_global = fit_ensemble(trained["weak_basin"], trained["global"], frames, "g2", 0.5)
    assert set(good_basin.weight) == {1, 3} and good_basin.global_version == "g1"
    assert np.mean(list(good_basin.weight.values())) <= 0.3, good_basin.weight
    assert np.mean(list(good_global.weight.values())) >= 0.7, good_global.weight
    for fit in (good_basin, good_global):
        for k in (1, 3):
            assert fit.loss[k]["weight_fitted"] <= fit.loss[k]["weight_default"]
            assert fit.loss[k]["spread_best"] <= fit.loss[k]["spread_1"]
            assert fit.rows[k] >= 300
    # only days neither model was trained on: from the later held-out start to the training end
    start = max(pd.Timestamp(trained["basin"].held_out_start), pd.Timestamp(trained["weak_global"].held_out_start))
    assert pd.Timestamp(good_basin.held_out[0]) >= start
    assert pd.Timestamp(good_basin.held_out[1]) < pd.Timestamp("2005-12-31")


def test_a_model_averaged_with_itself_keeps_its_calibrated_spread(trained, frames):
    """Averaging two copies of one calibrated model changes nothing, so the fitted spread stays near 1; the
    spread corrects what averaging two different models does to the width, not the models' own calibration."""
    fit = fit_ensemble(trained["global"], trained["global"], frames, "same", 0.5)
    assert fit.spread == {1: 1.0, 3: 1.0}


def test_no_fit_without_shared_held_out_years(trained, frames):
    refit = LGBMForecaster([1, 3], replace(FAST, refit=True)).fit(frames, pd.Timestamp("2005-12-31"))
    assert fit_ensemble(trained["basin"], refit, frames, "g", 0.5).weight == {}  # refit: held-out years seen
    short = {s: f.loc["2005-05-01":] for s, f in frames.items()}  # records too short to hold years out
    tiny = LGBMForecaster([1, 3], FAST).fit(short, pd.Timestamp("2005-12-31"))
    assert tiny.held_out_start == ""
    assert fit_ensemble(trained["basin"], tiny, frames, "g", 0.5).weight == {}


def test_the_forecast_uses_the_fit_of_its_global_version_and_the_registry_keeps_it(real_qc_ds, frames, tmp_path):
    basin = fit_basin_model("CH2426", {"CH2426": frames["CH2426"]}, leads=[1, 3], params=FAST)
    glob = fit_basin_model(GLOBAL_MODEL, frames, leads=[1, 3], params=FAST)
    ds = real_qc_ds.sel(station=["CH2426"], time=slice("1994-01-01", "2006-12-31"))
    issue = "2006-06-01"
    default = make_forecast(ds, {"CH2426": basin, GLOBAL_MODEL: glob}, issue, [1, 3])
    g_only = make_forecast(ds, {"CH2426": glob}, issue, [1, 3])
    b_only = make_forecast(ds, {"CH2426": basin}, issue, [1, 3])

    # weight 1 on the global model at lead 1, 0 at lead 3: the forecast is the global model's, then the basin's
    basin.ensembles[glob.version] = {"plain": EnsembleFit(glob.version, {1: 1.0, 3: 0.0}, {1: 1.0, 3: 1.0})}
    fitted = make_forecast(ds, {"CH2426": basin, GLOBAL_MODEL: glob}, issue, [1, 3])
    q = fitted["discharge_m3s"].values[0]
    np.testing.assert_allclose(q[0], g_only["discharge_m3s"].values[0][0], rtol=1e-9)
    np.testing.assert_allclose(q[1], b_only["discharge_m3s"].values[0][1], rtol=1e-9)
    assert not np.allclose(q, default["discharge_m3s"].values[0])

    # a fit for another global version is not used: the default weight
    basin.ensembles = {"v-other": basin.ensembles[glob.version]}
    other = make_forecast(ds, {"CH2426": basin, GLOBAL_MODEL: glob}, issue, [1, 3])
    np.testing.assert_allclose(other["discharge_m3s"].values, default["discharge_m3s"].values, rtol=1e-12)

    # fitted on the shared held-out years, saved beside the basin model, read back with it
    basin.ensembles = {}
    basin.ensembles[glob.version] = fit_pairing(basin, glob, frames, None, DEFAULTS.global_weight)
    models_dir = tmp_path / "models"
    save_model(models_dir, basin)
    path = save_pairing(models_dir, basin, glob.version)
    assert path.parent.name == "ensemble" and path.name == f"{glob.version}.json"
    back = load_model(models_dir, "CH2426")
    assert back.model.wet and back.model.wet.keys() == basin.model.wet.keys()  # the wet days' own quantiles too
    assert back.model.wet[1]["threshold"] == basin.model.wet[1]["threshold"]
    assert back.ensembles[glob.version]["plain"].to_dict() == basin.ensembles[glob.version]["plain"].to_dict()
    a = make_forecast(ds, {"CH2426": basin, GLOBAL_MODEL: glob}, issue, [1, 3])
    b = make_forecast(ds, {"CH2426": back, GLOBAL_MODEL: glob}, issue, [1, 3])
    np.testing.assert_allclose(a["discharge_m3s"].values, b["discharge_m3s"].values, rtol=1e-12)

    # a damaged or edited fit never stops the basin, and is never used: it loads with the default weights
    edited = json.loads(path.read_text(encoding="utf-8"))
    edited["plain"]["weight"]["1"] = 7.5  # a weight out of [0, 1]
    for text in ("{not json", json.dumps(edited), '{"plain": {}}', "[]"):
        path.write_text(text, encoding="utf-8")
        damaged = load_model(models_dir, "CH2426")
        assert damaged.ensembles == {} and damaged.model is not None, text[:40]
