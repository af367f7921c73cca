"""Models: quantiles non-crossing and calibrated on held-out real data, fallbacks, missing inputs, registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecasting.config import DEFAULTS
from forecasting.forecast import make_forecast
from forecasting.model_registry import (
    GLOBAL_MODEL,
    MIN_TRAIN_DAYS,
    current_version,
    fit_basin_model,
    list_versions,
    load_model,
    save_model,
)
from forecasting.models import OUTPUT_LEVELS, get_model
from forecasting.models.ensemble import ensemble_quantiles
from forecasting.models.lgbm import LGBMForecaster, LGBMParams, sample_weights
from forecasting.store import station_frame

FAST = LGBMParams(n_estimators=80, learning_rate=0.1, cal_years=4)


@pytest.fixture(scope="module")
def real_ds(real_qc_ds: xr.Dataset) -> xr.Dataset:
    return real_qc_ds


def _frame(ds: xr.Dataset, sid: str, start: str, end: str) -> pd.DataFrame:
    return station_frame(ds, sid).loc[start:end]


def test_quantiles_do_not_cross_and_are_calibrated_on_held_out_years(real_ds):
    df = _frame(real_ds, "CH2141", "1994-01-01", "2010-12-31")
    model = LGBMForecaster([1, 3], FAST).fit({"CH2141": df}, pd.Timestamp("2005-12-31"))
    issue = pd.date_range("2006-01-01", "2010-12-20", freq="D")
    q = model.predict({"CH2141": df}, issue, OUTPUT_LEVELS)["CH2141"]
    assert q.shape == (len(issue), 2, len(OUTPUT_LEVELS))
    ok = ~np.isnan(q).any(axis=(1, 2))
    assert ok.mean() > 0.95
    assert (np.diff(q[ok], axis=2) >= 0).all()  # non-crossing
    for j, k in enumerate([1, 3]):
        obs = df["discharge_m3s"].reindex(issue + pd.Timedelta(days=k)).to_numpy()
        m = ok & ~np.isnan(obs)
        cov90 = np.mean((obs[m] >= q[m, j, 0]) & (obs[m] <= q[m, j, -1]))
        below_median = np.mean(obs[m] <= q[m, j, 3])
        assert 0.82 <= cov90 <= 0.96, (k, cov90)
        assert 0.33 <= below_median <= 0.67, (k, below_median)
    # the held-out calibration table is recorded for every lead and level
    cov = model.calibration[1].coverage
    assert set(cov) >= {"0.05", "0.5", "0.95"}
    assert abs(cov["0.95"] - 0.95) < 0.06 and abs(cov["0.05"] - 0.05) < 0.06


def test_short_station_falls_back_with_a_message(real_ds):
    long = _frame(real_ds, "CH2426", "2000-01-01", "2004-12-31")
    short = _frame(real_ds, "CH2185", "2004-01-01", "2004-12-31")  # one year: climatology
    tiny = _frame(real_ds, "CH2232", "2004-10-01", "2004-12-31")  # three months: persistence
    bm = fit_basin_model("B", {"L": long, "S": short, "T": tiny}, leads=[1, 2, 3], params=FAST)
    assert bm.model is not None and bm.model.stations == ["L"]
    assert "need 730" in bm.fallback["S"] and "climatology" in bm.fallback["S"]
    assert "persistence" in bm.fallback["T"]
    ds = xr.concat(
        [
            real_ds.sel(station=["CH2426"]).assign_coords(station=["L"]),
            real_ds.sel(station=["CH2185"]).assign_coords(station=["S"]),
            real_ds.sel(station=["CH2232"]).assign_coords(station=["T"]),
        ],
        dim="station",
    ).sel(time=slice("2000-01-01", "2004-12-31"))
    ds = ds.assign_coords(basin=("station", ["B", "B", "B"]))
    ds.loc[{"station": "S", "time": slice("2000-01-01", "2003-12-31")}] = np.nan  # only the short record
    ds["discharge_m3s"].loc[{"station": "S", "time": slice(None, "2003-12-31")}] = np.nan
    ds["discharge_m3s"].loc[{"station": "T", "time": slice(None, "2004-09-30")}] = np.nan
    fc = make_forecast(ds, {"B": bm}, "2004-12-31", [1, 2, 3])
    st = dict(zip(fc["station"].values, fc["status"].values, strict=True))
    names = dict(zip(fc["station"].values, fc["model_name"].values, strict=True))
    assert st == {"L": "ok", "S": "fallback", "T": "fallback"}
    assert names == {"L": "lightgbm", "S": "climatology", "T": "persistence"}
    msg = dict(zip(fc["station"].values, fc["message"].values, strict=True))
    assert "climatology" in msg["S"] and "days of discharge" in msg["S"]
    assert not np.isnan(fc["discharge_m3s"].values).any()
    assert (np.diff(fc["discharge_m3s"].values, axis=2) >= 0).all()


def test_missing_inputs_still_forecast_and_failures_are_reported(real_ds, tmp_path):
    ds = real_ds.sel(station=["UZ16279_chatkal_khudaydod", "CH2426"], time=slice("1965-01-01", "1967-09-15"))
    frames = {"UZ16279_chatkal_khudaydod": station_frame(ds, "UZ16279_chatkal_khudaydod")}
    bm = fit_basin_model("UZ16279_chatkal_khudaydod", frames, leads=[1, 2, 3, 4, 5, 6, 7], params=FAST)
    assert bm.model is not None  # 2.7 years of discharge only
    fc = make_forecast(ds, {bm.basin: bm}, "1967-09-10")
    one = fc.sel(station="UZ16279_chatkal_khudaydod")
    assert str(one["status"].values) == "ok"
    assert str(one["missing_inputs"].values) == "precip_mm,tmean_c,swe_mm"
    assert "inputs missing" in str(one["message"].values)
    assert not np.isnan(one["discharge_m3s"].values).any()
    assert pd.Timestamp(one["last_obs_date"].values) == pd.Timestamp("1967-09-10")
    # CH2426 has no data in 1965-67 and no model: it is in the output, failed, with NaN quantiles
    other = fc.sel(station="CH2426")
    assert str(other["status"].values) == "failed"
    assert np.isnan(other["discharge_m3s"].values).all()
    assert "no trained model" in str(other["message"].values)
    assert list(fc["valid_date"].values) == list(pd.date_range("1967-09-11", periods=7).values)
    assert fc.attrs["issue_date"] == "1967-09-10"


def test_registry_round_trip_gives_identical_forecasts(real_ds, tmp_path):
    df = _frame(real_ds, "PROTVA_SZ", "1980-01-01", "1990-12-31")
    params = LGBMParams(n_estimators=80, learning_rate=0.1, cal_years=4, error_correction=True)
    bm = fit_basin_model("PROTVA_SZ", {"PROTVA_SZ": df}, leads=[1, 3, 7], params=params)
    assert set(bm.model.error_correction) == {1, 3, 7}
    folder = save_model(tmp_path, bm)
    assert (folder / "model.json").exists() and (folder / "lead_7.txt").exists()
    assert current_version(tmp_path, "PROTVA_SZ") == bm.version
    again = load_model(tmp_path, "PROTVA_SZ", bm.version)
    assert again.model.error_correction == bm.model.error_correction
    ds = real_ds.sel(station=["PROTVA_SZ"], time=slice("1980-01-01", "1990-12-31"))
    a = make_forecast(ds, {"PROTVA_SZ": bm}, "1990-04-01", [1, 3, 7])
    b = make_forecast(ds, {"PROTVA_SZ": again}, "1990-04-01", [1, 3, 7])
    np.testing.assert_array_equal(a["discharge_m3s"].values, b["discharge_m3s"].values)
    assert str(b["model_version"].values[0]) == bm.version
    # a second version does not overwrite the first; the old one still loads
    bm2 = fit_basin_model("PROTVA_SZ", {"PROTVA_SZ": df}, leads=[1, 3, 7], params=FAST)
    save_model(tmp_path, bm2)
    assert list_versions(tmp_path, "PROTVA_SZ") == sorted([bm.version, bm2.version])
    assert current_version(tmp_path, "PROTVA_SZ") == bm2.version
    old = load_model(tmp_path, "PROTVA_SZ", bm.version)
    c = make_forecast(ds, {"PROTVA_SZ": old}, "1990-04-01", [1, 3, 7])
    np.testing.assert_array_equal(a["discharge_m3s"].values, c["discharge_m3s"].values)


def test_registry_of_model_names():
    assert get_model("climatology").name == "climatology"
    assert get_model("persistence").name == "persistence"
    assert get_model("lightgbm", leads=[1]).name == "lightgbm"
    with pytest.raises(KeyError):
        get_model("lstm")
    assert MIN_TRAIN_DAYS == 730


def test_forecast_averages_the_basin_model_with_the_global_model(real_ds):
    frames = {s: _frame(real_ds, s, "1998-01-01", "2004-12-31") for s in ("CH2426", "CH2232")}
    basin = fit_basin_model("CH2426", {"CH2426": frames["CH2426"]}, leads=[1, 3], params=FAST)
    glob = fit_basin_model(GLOBAL_MODEL, frames, leads=[1, 3], params=FAST)
    assert set(glob.model.stations) == {"CH2426", "CH2232"}
    ds = real_ds.sel(station=["CH2426"], time=slice("1998-01-01", "2004-12-31"))
    alone = make_forecast(ds, {"CH2426": basin}, "2004-06-01", [1, 3])
    both = make_forecast(ds, {"CH2426": basin, GLOBAL_MODEL: glob}, "2004-06-01", [1, 3])
    g_only = make_forecast(ds, {"CH2426": glob}, "2004-06-01", [1, 3])  # the global model alone
    expected = ensemble_quantiles(
        [alone["discharge_m3s"].values[0], g_only["discharge_m3s"].values[0]],
        [1 - DEFAULTS.global_weight, DEFAULTS.global_weight],
    )
    np.testing.assert_allclose(both["discharge_m3s"].values[0], expected, rtol=1e-9)
    assert not np.allclose(both["discharge_m3s"].values, alone["discharge_m3s"].values)
    assert str(both["model_version"].values[0]) == f"{basin.version}+{GLOBAL_MODEL}/{glob.version}"
    assert str(both["model_name"].values[0]) == "lightgbm" and str(both["status"].values[0]) in ("ok", "stale")


def test_early_stopping_on_the_held_out_years_is_recorded(real_ds):
    """Optional early stopping: the number of trees of each lead is chosen on the held-out years and recorded."""
    from dataclasses import replace

    df = _frame(real_ds, "CH2426", "1994-01-01", "2006-12-31")
    params = replace(FAST, early_stopping=10, max_estimators=2000, learning_rate=0.2)
    model = LGBMForecaster([1, 7], params).fit({"CH2426": df}, pd.Timestamp("2005-12-31"))
    trees = {k: model.validation[str(k)]["trees"] for k in (1, 7)}
    assert all(1 <= t < 2000 for t in trees.values()), trees  # stopped long before the cap
    assert model.boosters[1].best_iteration == trees[1]
    q = model.predict({"CH2426": df}, pd.date_range("2006-01-01", "2006-03-01"), OUTPUT_LEVELS)["CH2426"]
    assert np.isfinite(q).all() and (np.diff(q, axis=2) >= 0).all()


def test_a_river_that_runs_dry_is_forecast_better_than_persistence(real_ds):
    """Steppe rivers freeze or dry up: the Protva lowered by 14 m3/s is at zero on over half the days. The
    discharge scale comes from the flowing days, so the log transform stays sane and the model beats persistence
    at every lead (with the median of all days as scale it fell to skill -1 at lead 1)."""
    df = _frame(real_ds, "PROTVA_SZ", "1980-01-01", "2005-12-31").copy()
    df["discharge_m3s"] = (df["discharge_m3s"] - 14.0).clip(lower=0.0)
    assert (df["discharge_m3s"] == 0).mean() > 0.5 and df["discharge_m3s"].median() == 0
    model = LGBMForecaster([1, 3, 7], FAST).fit({"P": df}, pd.Timestamp("2000-12-31"))
    assert model.contexts["P"].qscale > 1.0  # the median of the flowing days, not 0.001
    issue = pd.date_range("2001-01-01", "2005-12-20", freq="D")
    q = model.predict({"P": df}, issue, OUTPUT_LEVELS)["P"]
    obs = df["discharge_m3s"]
    for j, k in enumerate([1, 3, 7]):
        o = obs.reindex(issue + pd.Timedelta(days=k)).to_numpy()
        p = obs.reindex(issue).to_numpy()
        f = q[:, j, OUTPUT_LEVELS.index(0.5)]
        ok = ~np.isnan(o) & ~np.isnan(p) & ~np.isnan(f)
        skill = 1 - np.sum((f[ok] - o[ok]) ** 2) / np.sum((p[ok] - o[ok]) ** 2)
        assert skill > 0.2, (k, skill)
        assert (q[ok, j, 0] >= 0).all()  # never a negative discharge


def test_sample_weights_follow_the_flow_level_without_favouring_rises():
    """Weight = the largest of Q(t), the climatological discharge of the valid day and sqrt(Q(t) Q(t+k)), relative
    to the station's median discharge; clipped to [0.1, 50]."""
    ln = np.log
    x = pd.DataFrame(
        {
            "lq0": [0.0, 0.0, ln(2.0), ln(100.0), ln(0.01), 0.0],
            "lq_anom": [0.0, -ln(3.0), 0.0, 0.0, 0.0, 0.0],  # Q(t) / climatology of day t
            "clim_dlq": [0.0, 0.0, 0.0, 0.0, 0.0, ln(5.0)],  # climatology of t+k / climatology of t
        }
    )
    y = np.array([ln(16.0), 0.0, -ln(4.0), 0.0, 0.0, ln(2.0)])  # log Q(t+k) - log Q(t)
    w = sample_weights(x, y)
    assert w == pytest.approx([4.0, 3.0, 2.0, 50.0, 0.1, 5.0])
    assert sample_weights(x, y, power=2.0)[:3] == pytest.approx([16.0, 9.0, 4.0])


def test_feature_tables_are_shared_but_give_the_forecast_of_fresh_ones(real_ds):
    """The basin and the global model read one feature table per station (forecasting.models.feature_tables):
    the forecast and its explanation are those made with no table kept, and a changed observation is never
    served from an old table."""
    from forecasting.models.feature_tables import FEATURE_TABLES

    frames = {s: _frame(real_ds, s, "1998-01-01", "2004-12-31") for s in ("CH2426", "CH2232")}
    basin = fit_basin_model("CH2426", {"CH2426": frames["CH2426"]}, leads=[1, 3], params=FAST)
    glob = fit_basin_model(GLOBAL_MODEL, frames, leads=[1, 3], params=FAST)
    models = {"CH2426": basin, GLOBAL_MODEL: glob}
    ds = real_ds.sel(station=["CH2426"], time=slice("1998-01-01", "2004-12-31"))

    def without_tables(data: xr.Dataset) -> xr.Dataset:  # every call builds its own tables, none is kept
        FEATURE_TABLES.clear()
        FEATURE_TABLES.size = 0
        try:
            return make_forecast(data, models, "2004-06-01", [1, 3])
        finally:
            FEATURE_TABLES.size = 4

    fresh = without_tables(ds)
    shared = make_forecast(ds, models, "2004-06-01", [1, 3])  # basin and global model read the same tables
    for var in ("discharge_m3s", "driver_contribution"):
        np.testing.assert_array_equal(shared[var].values, fresh[var].values)
    changed = ds.copy(deep=True)
    changed["discharge_m3s"].loc[{"time": "2004-06-01"}] = changed["discharge_m3s"].sel(time="2004-06-01") * 3
    bumped = make_forecast(changed, models, "2004-06-01", [1, 3])  # the tables of `ds` are still kept
    expected = without_tables(changed)
    np.testing.assert_array_equal(bumped["discharge_m3s"].values, expected["discharge_m3s"].values)
    assert (bumped["discharge_m3s"].values[0, 0] > 1.5 * shared["discharge_m3s"].values[0, 0]).all()  # lead 1


def test_a_pooled_model_gives_each_station_its_own_spread():
    """Held-out residuals of a calm river (sd 0.1) and a flashy one (sd 0.4) pooled in one model, with the same
    scale proxy: one pooled table covers the calm river ~100% and the flashy one ~70% of the time; with each
    station's spread both are near the nominal 90% on new residuals."""
    from forecasting.models.calibration import fit_calibration, station_spreads

    rng = np.random.default_rng(3)
    n = 1500
    sids = np.array(["calm"] * n + ["flashy"] * n)
    sd = np.where(sids == "calm", 0.1, 0.4)
    scale = rng.uniform(0.0, 1.0, 2 * n)  # the proxy says nothing about the station
    resid = rng.normal(0.0, sd * (1 + scale))
    pooled = fit_calibration(resid, scale)
    spreads = station_spreads(resid, scale, sids, pooled)
    assert spreads["calm"] < 0.8 < 1.25 < spreads["flashy"]
    own = fit_calibration(resid / np.array([spreads[s] for s in sids]), scale)
    new = rng.normal(0.0, sd * (1 + scale))  # later residuals of the same stations
    levels = (0.05, 0.95)
    for sid in ("calm", "flashy"):
        m = sids == sid
        q_pooled = pooled.quantiles(np.zeros(m.sum()), scale[m], levels)
        q_own = own.quantiles(np.zeros(m.sum()), scale[m], levels, spreads[sid])
        own_cover = float(np.mean((new[m] >= q_own[:, 0]) & (new[m] <= q_own[:, 1])))
        pooled_cover = float(np.mean((new[m] >= q_pooled[:, 0]) & (new[m] <= q_pooled[:, 1])))
        assert 0.86 <= own_cover <= 0.94, (sid, own_cover)
        assert abs(pooled_cover - 0.90) > 0.07  # the pooled table is wrong for both
    # a station the calibration never saw keeps the pooled spread
    assert "other" not in spreads


def test_the_global_model_keeps_each_stations_spread_through_the_registry(real_ds, tmp_path):
    frames = {s: _frame(real_ds, s, "1996-01-01", "2006-12-31") for s in ("CH2426", "PROTVA_SZ")}
    glob = fit_basin_model(GLOBAL_MODEL, frames, leads=[1, 3], params=FAST)
    spreads = glob.model.spread
    assert set(spreads) == {1, 3} and set(spreads[1]) == {"CH2426", "PROTVA_SZ"}
    assert all(0.25 <= f <= 4.0 for lead in spreads.values() for f in lead.values())
    assert spreads[1]["CH2426"] != spreads[1]["PROTVA_SZ"]
    save_model(tmp_path, glob)
    again = load_model(tmp_path, GLOBAL_MODEL)
    assert again.model.spread == spreads
    ds = real_ds.sel(station=["PROTVA_SZ"], time=slice("1996-01-01", "2006-12-31"))
    a = make_forecast(ds, {"PROTVA_SZ": glob}, "2006-04-01", [1, 3])
    b = make_forecast(ds, {"PROTVA_SZ": again}, "2006-04-01", [1, 3])
    np.testing.assert_array_equal(a["discharge_m3s"].values, b["discharge_m3s"].values)


def test_a_damaged_booster_names_its_file(real_ds, tmp_path):
    """A booster file that cannot be read: loading the model says which file and what to do (the daily forecast
    then falls back for that basin's stations only: tests/test_parallel_forecast.py)."""
    df = _frame(real_ds, "CH2426", "1996-01-01", "2006-12-31")
    save_model(tmp_path, fit_basin_model("CH2426", {"CH2426": df}, leads=[1, 3], params=FAST))
    folder = tmp_path / "CH2426" / current_version(tmp_path, "CH2426")
    (folder / "lead_3.txt").write_text("tree\nversion=v4\nnot a model\n", encoding="utf-8")  # a damaged file
    with pytest.raises(ValueError, match="lead_3.txt cannot be read .*retrain the basin"):
        load_model(tmp_path, "CH2426")
