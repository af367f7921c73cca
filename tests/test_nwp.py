"""Weather forecasts as inputs: the nwp-csv lead convention on GraphCast's real forecasts, bad rows, the forcing
store (idempotent, revisions), which run a forecast may use (no leakage, too old), features and drivers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting import explain
from forecasting.config import DEFAULTS
from forecasting.features import NWP_FEATURES, nwp_column
from forecasting.forcing import forcing_from_result, local_day, station_forcing
from forecasting.sources.nwp_csv import read_nwp_csv

NWP_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nwp"
GC = NWP_DATA / "forecasts" / "graphcast_lamah_1145.csv"


@pytest.fixture(scope="module")
def graphcast():
    if not GC.exists():
        pytest.skip(f"{GC} not found")
    return read_nwp_csv(GC)


def test_lead_day_1_is_the_issue_day_and_lead_k_is_valid_on_t_plus_k(graphcast):
    raw = pd.read_csv(GC, parse_dates=["issue_date", "valid_date"])
    assert graphcast.quarantine == [] and graphcast.sources == ["graphcast"]
    forcing = forcing_from_result(graphcast)
    ds = forcing["graphcast"]
    # the store's lead is days from the run's local issue day: lead_day 1 -> lead 0
    frt = pd.DatetimeIndex(ds["forecast_reference_time"].values)
    assert (local_day(frt, DEFAULTS.time_zone) == pd.DatetimeIndex(sorted(raw["issue_date"].unique()))).all()
    sf = station_forcing(forcing, "lamah_1145", pd.DatetimeIndex(["2016-06-22", "2016-06-23"]))
    for t in sf.columns.index:
        for k in (1, 3, 7):  # our lead k (valid t+k) is the archive's lead_day k+1
            row = raw[(raw["issue_date"] == t) & (raw["lead_day"] == k + 1)].iloc[0]
            assert row["valid_date"] == t + pd.Timedelta(days=k)
            assert sf.columns.loc[t, nwp_column("precip_mm", k)] == pytest.approx(max(row["precip_mm"], 0.0))
    assert (sf.runs["reason"] == "").all() and (sf.runs["source"] == "graphcast").all()


def test_a_forecast_never_uses_a_run_issued_after_it_and_old_runs_fall_back(graphcast):
    forcing = forcing_from_result(graphcast)
    # the first run is issued on 2016-01-10: the day before has none (no run from the future is used)
    sf = station_forcing(forcing, "lamah_1145", pd.DatetimeIndex(["2016-01-09", "2016-01-10"]))
    assert sf.runs["reason"].iloc[0] == "no NWP run in the forcing store"
    assert np.isnan(sf.columns.iloc[0]).all() and sf.runs["reason"].iloc[1] == ""
    # after the last run (2017-12-31) the run of that day is 1 day old on 2018-01-01 (used, shifted by one day:
    # its lead 2 is our lead 1), and too old a week later
    cfg = DEFAULTS.with_(nwp_max_age_hours=36.0)
    sf = station_forcing(forcing, "lamah_1145", pd.DatetimeIndex(["2018-01-01", "2018-01-07"]), cfg)
    last = forcing["graphcast"]["precip_mm"].sel(station="lamah_1145").isel(forecast_reference_time=-1).values
    assert sf.runs["reason"].iloc[0] == ""
    assert sf.columns.iloc[0][nwp_column("precip_mm", 1)] == pytest.approx(last[2])
    assert "h old" in sf.runs["reason"].iloc[1] and "max 36 h" in sf.runs["reason"].iloc[1]
    assert np.isnan(sf.columns.iloc[1]).all()


def test_bad_csv_rows_are_quarantined_and_the_rest_kept(tmp_path):
    f = tmp_path / "wrf-kazhydromet_11433.csv"
    f.write_text(
        "station_id,issue_date,lead_day,precip_mm,valid_date,tmean_c\n"
        "11433,2024-04-01,1,2.0,2024-04-01,3.5\n"
        "11433,2024-04-01,2,4.0,2024-04-02,4.0\n"
        "11433,2024-04-01,12,1.0,2024-04-12,\n"  # lead day out of range
        "11433,2024-04-01,3,1.0,2024-04-03,\n"
        "11433,2024-04-01,3,9.0,2024-04-03,\n"  # the same issue/lead with a different value
        "11433,2024-04-01,4,-3.0,2024-04-04,\n"  # negative precipitation
        "11433,2024-04-01,5,-0.1,2024-04-05,\n"  # a small negative: set to 0
        "11433,2024-04-01,6,1.0,2024-04-09,\n"  # valid_date disagrees with the lead day
    )
    res = read_nwp_csv(f)
    why = {(q.line, q.field): q.reason for q in res.quarantine}
    assert all(q.file == str(f) for q in res.quarantine)
    assert "1..11" in why[(4, "lead_day")]
    assert "different values" in why[(5, "precip_mm")] and "different values" in why[(6, "precip_mm")]
    assert "negative precipitation" in why[(7, "precip_mm")]
    assert "valid_date disagrees" in why[(9, "valid_date")]
    p = res.runs[res.runs["variable"] == "precip_mm"].set_index("lead")["value"]
    assert p.to_dict() == {0: 2.0, 1: 4.0, 4: 0.0}
    assert any("small negative" in m for m in res.messages)
    assert set(res.runs["source"]) == {"wrf-kazhydromet"}
    assert set(res.runs["variable"]) == {"precip_mm", "tmean_c"}


def test_forcing_store_is_idempotent_and_keeps_revisions(tmp_path, home):
    from flows.nwp import forcing_dir, load_forcing, run_ingest_nwp

    f = tmp_path / "graphcast_X1.csv"
    f.write_text("station_id,issue_date,lead_day,precip_mm\nX1,2024-04-01,1,1.0\nX1,2024-04-01,2,2.0\n")
    first = run_ingest_nwp(f, "nwp-csv", home)
    assert first.ok and first.runs == 1 and first.revised == 0
    again = run_ingest_nwp(f, "nwp-csv", home)
    assert again.revised == 0
    store = load_forcing(home)["graphcast"]
    assert store.sizes["forecast_reference_time"] == 1 and store["precip_mm"].attrs["units"] == "mm"
    assert store["forecast_reference_time"].attrs["standard_name"] == "forecast_reference_time"
    f.write_text("station_id,issue_date,lead_day,precip_mm\nX1,2024-04-01,2,5.0\nX1,2024-04-02,1,0.5\n")
    third = run_ingest_nwp(f, "nwp-csv", home)
    assert third.revised == 1
    rev = pd.read_csv(home.store_dir / "forcing_revisions.csv")
    assert rev[["lead", "old_value", "new_value"]].values.tolist() == [[1, 2.0, 5.0]]
    store = load_forcing(home)["graphcast"]
    assert store.sizes["forecast_reference_time"] == 2
    assert float(store["precip_mm"].sel(station="X1").isel(forecast_reference_time=0, lead=0)) == 1.0  # kept
    assert (forcing_dir(home) / "graphcast.nc").exists()


def test_every_nwp_feature_has_an_nwp_driver():
    for var, names in NWP_FEATURES.items():
        for name in names:
            want = "nwp_rain" if var == "precip_mm" else "nwp_temperature"
            assert explain.driver_of(name) == want, name
    assert {"nwp_rain", "nwp_temperature"} <= set(explain.DRIVERS)


def test_error_model_degrades_forecasts_by_lead(graphcast):
    from forecasting.forcing import archive_pairs, observed_future
    from forecasting.models.forcing_error import ForcingErrorModel

    obs = pd.read_csv(NWP_DATA / "lamah_1145.csv", parse_dates=["date"], index_col="date")
    forcing = forcing_from_result(graphcast)
    pairs = archive_pairs(forcing, {"lamah_1145": obs})
    err = ForcingErrorModel.fit(pairs, "graphcast")
    assert err.n_runs > 600 and err.days[0] == 1
    fut = observed_future(obs.loc["1990":"2010"], ("precip_mm",))
    deg = err.degrade(fut, np.random.default_rng(0))
    corr = [np.corrcoef(np.sqrt(fut[c].dropna()), np.sqrt(deg[c].dropna()))[0, 1] for c in deg.columns[1:10]]
    assert corr[0] > 0.85 and corr[-1] < 0.6 and corr[0] > corr[4] > corr[-1]  # real errors grow with lead
    assert (deg.dropna() >= 0).all().all()


def test_the_backtest_scores_the_daily_forecast(real_qc_ds):
    """forecast_station over many issue days (the backtest's call) gives, day by day, what make_forecast publishes
    for that day: the same quantiles, model and status, fallbacks included."""
    from forecasting.forecast import forecast_station, make_forecast
    from forecasting.model_registry import fit_basin_model
    from forecasting.models.lgbm import LGBMParams
    from forecasting.store import station_frame

    sid = "CH2232"
    ds = real_qc_ds.sel(station=[sid], time=slice("1995-01-01", "2005-12-31")).copy(deep=True)
    ds["discharge_m3s"].loc[{"time": slice("2005-06-06", "2005-06-12")}] = np.nan  # a gauge that stops reporting
    params = LGBMParams(n_estimators=60, learning_rate=0.1, cal_years=3)
    frame = station_frame(ds, sid)
    bm = fit_basin_model(sid, {sid: frame.loc[:"2004-12-31"]}, leads=[1, 3], params=params)
    days = pd.DatetimeIndex(["2005-06-01", "2005-06-05", "2005-06-10", "2005-06-14"])
    cfg = DEFAULTS.with_(leads=(1, 3))
    many = forecast_station(sid, frame.loc[: days.max()], {sid: bm}, sid, days, cfg)
    assert many.status == ["ok", "ok", "fallback", "ok"]  # 06-10: no discharge within 3 days
    for i, day in enumerate(days):
        fc = make_forecast(ds.sel(time=slice(None, day)), {sid: bm}, day, config=cfg)
        np.testing.assert_allclose(fc["discharge_m3s"].values[0], many.q[i], rtol=1e-9)
        assert str(fc["status"].values[0]) == many.status[i]
        assert str(fc["model_name"].values[0]) == many.model_name[i]


@pytest.mark.slow
def test_backtest_with_graphcast_archive_beats_the_same_forecaster_without(tmp_path):
    """tasqyn backtest --nwp archive on the Rottum: GraphCast's real forecasts of the test years (each issue day
    the run issued by it), the NWP models trained on degraded observed rain; scored side by side without NWP."""
    from flows.backtest import run_backtest_files
    from forecasting.models.lgbm import LGBMParams

    if not (NWP_DATA / "stations.csv").exists():
        pytest.skip("nwp data not found")
    params = LGBMParams(n_estimators=150, learning_rate=0.08)
    rep = run_backtest_files(NWP_DATA, tmp_path / "bt.json", 2, [1, 3, 7], params, plots=False, nwp="archive")
    st = rep["stations"]["lamah_1145"]
    assert rep["nwp"] == "archive" and st["test_start"] == "2016-01-01"
    assert st["nwp"]["share_of_issues_with_nwp"] == pytest.approx(722 / 731)  # runs from 2016-01-10 on
    assert st["nwp"]["training"]["training"] == "degraded" and st["nwp"]["training"]["variables"] == ["precip_mm"]
    assert st["nwp"]["training"]["draws"] == 3  # forcing.TRAINING_DRAWS
    assert st["models_used"]["lightgbm-nwp"] == 722 and st["models_used"]["lightgbm"] == 9
    for k in ("1", "3", "7"):
        with_nwp, without = st["leads"][k]["skill_vs_persistence"], st["without_nwp"][k]["skill_vs_persistence"]
        assert with_nwp > without + 0.05, k
        assert 0.86 <= st["leads"][k]["coverage_90"] <= 0.97
    assert "| lamah_1145 | 3 |" in (tmp_path / "bt.md").read_text()
    # the Pascoe's test years (2013-2014) have no archived run: it is forecast without NWP, and says why
    pascoe = rep["stations"]["camelsaus_102101A"]
    assert pascoe["nwp"]["share_of_issues_with_nwp"] == 0.0
    assert pascoe["leads"]["1"]["skill_vs_persistence"] == pascoe["without_nwp"]["1"]["skill_vs_persistence"]


@pytest.mark.parametrize("inputs", ["nwp", "plain"])
def test_days_with_heavy_rain_get_their_own_residual_quantiles(inputs):
    """The quantiles on the days with the most rain (forecast over the lead window for an NWP model, observed over
    the last 3 days for a model without) come from those days' own held-out residuals (lgbm._fit_wet): one table
    for all days was too narrow there (the Rottum with GraphCast: 0.77 of the observations in the 90% interval at
    lead 1; the real stations without NWP: 0.81) and a little too wide on the other days."""
    from forecasting.forcing import training_forcing
    from forecasting.models.forcing_error import ForcingErrorModel
    from forecasting.models.lgbm import WET_FEATURE, LGBMForecaster, LGBMParams
    from forecasting.sources import get_adapter
    from forecasting.store import build_dataset, station_frame

    if not (NWP_DATA / "lamah_1145.csv").exists():
        pytest.skip("nwp data not found")
    sid = "lamah_1145"
    ds, _ = build_dataset(get_adapter("station-csv").read(NWP_DATA / "lamah_1145.csv"))
    frame = station_frame(ds, sid).loc["1990-01-01":"2015-12-31"]
    nf = training_forcing({sid: frame}, ("precip_mm",), "degraded", None, ForcingErrorModel.default(), seed=3)
    fast = LGBMParams(n_estimators=60, learning_rate=0.1, cal_years=8, nwp=("precip_mm",) if inputs == "nwp" else ())
    end = pd.Timestamp("2011-12-31")
    wet_model = LGBMForecaster([1, 3], fast).fit(nf, end)
    one_table = LGBMForecaster([1, 3], LGBMParams(**{**fast.__dict__, "wet_share": 0.0})).fit(nf, end)
    assert one_table.wet == {} and set(wet_model.wet) == {1, 3}
    for k in (1, 3):
        spec = wet_model.wet[k]
        assert spec["feature"] == WET_FEATURE[inputs] and spec["threshold"][sid] > 5.0  # mm
        width = np.ptp(np.asarray(spec["calibration"].table)[:, [0, -1]], axis=1).mean()
        assert width > np.ptp(np.asarray(wet_model.calibration[k].table)[:, [0, -1]], axis=1).mean()
    back = LGBMForecaster.from_metadata(wet_model.metadata(), wet_model.boosters)
    assert back.wet[3]["threshold"] == wet_model.wet[3]["threshold"]

    # the years after training: coverage of the 90% interval on the wet days and on the others
    days = pd.date_range("2012-01-01", "2015-12-20", freq="D")
    obs = frame["discharge_m3s"]
    p3 = frame["precip_mm"].rolling(3, min_periods=2).sum().reindex(days)  # days t-2..t
    cov = {}
    flags = wet_model.heavy_rain_days(sid, nf[sid], days, [1, 3])  # what the forecast file says per lead
    assert not one_table.heavy_rain_days(sid, nf[sid], days, [1, 3]).any()
    for name, model in (("wet", wet_model), ("one", one_table), ("back", back)):
        q = model.predict(nf, days, (0.05, 0.5, 0.95))[sid]
        for j, k in enumerate((1, 3)):
            o = obs.reindex(days + pd.Timedelta(days=k)).to_numpy()
            ahead = nf[sid][[nwp_column("precip_mm", d) for d in range(1, k + 1)]].reindex(days).sum(axis=1)
            rain = ahead if inputs == "nwp" else p3
            heavy = rain.to_numpy() >= wet_model.wet[k]["threshold"][sid]
            np.testing.assert_array_equal(flags[:, j], heavy)
            inside = (o >= q[:, j, 0]) & (o <= q[:, j, 2])
            ok = np.isfinite(o) & np.isfinite(q[:, j, 0])
            cov[name, k] = (inside[ok & heavy].mean(), inside[ok & ~heavy].mean(), (ok & heavy).sum())
    k = 1  # where rain matters most
    wet_cov, dry_cov, n_heavy = cov["wet", k]
    assert n_heavy > 80
    assert cov["back", k] == cov["wet", k]  # the wet tables travel with the model
    assert wet_cov > cov["one", k][0] + 0.03, cov  # the heavy-rain days: wider, closer to nominal
    assert 0.82 <= wet_cov <= 0.97 and 0.84 <= dry_cov <= 0.97, cov


@pytest.fixture(scope="module")
def rottum_frame():
    from forecasting.sources import get_adapter
    from forecasting.store import build_dataset, station_frame

    if not (NWP_DATA / "lamah_1145.csv").exists():
        pytest.skip("nwp data not found")
    ds, _ = build_dataset(get_adapter("station-csv").read(NWP_DATA / "lamah_1145.csv"))
    return station_frame(ds, "lamah_1145").loc["1995-01-01":"2015-12-31"]


def test_training_forcing_draws_are_independent_and_the_archive_is_kept(rottum_frame, graphcast):
    """Degraded training forcing comes in TRAINING_DRAWS draws: the first is the single draw of the same seed,
    the others differ where it rained, and an archived run replaces every draw on its days."""
    from forecasting.features import nwp_draws, with_nwp_draw
    from forecasting.forcing import TRAINING_DRAWS, training_forcing
    from forecasting.models.forcing_error import ForcingErrorModel

    sid = "lamah_1145"
    frame = pd.concat(
        [
            rottum_frame,
            pd.read_csv(NWP_DATA / "lamah_1145.csv", parse_dates=["date"], index_col="date").loc[
                "2016-01-01":"2016-12-31"
            ],
        ]
    )
    err = ForcingErrorModel.default()
    archive = forcing_from_result(graphcast)
    one = training_forcing({sid: frame}, ("precip_mm",), "degraded", archive, err, seed=5, draws=1)[sid]
    many = training_forcing({sid: frame}, ("precip_mm",), "degraded", archive, err, seed=5)[sid]
    assert TRAINING_DRAWS >= 3 and nwp_draws(many) == TRAINING_DRAWS and nwp_draws(one) == 1
    col = nwp_column("precip_mm", 1)
    pd.testing.assert_series_equal(one[col], many[col])
    rained = frame["precip_mm"].shift(-1).loc[:"2015-12-31"] > 5.0
    second = with_nwp_draw(many, 1)
    assert col in second and nwp_column("precip_mm", 1, 1) not in second
    changed = (second[col] - many[col]).abs().loc[:"2015-12-31"][rained] > 0.5
    assert changed.mean() > 0.5  # a different draw of the errors on the rainy days
    run_days = pd.date_range("2016-02-01", "2016-11-30")  # covered by GraphCast's runs
    for d in range(1, TRAINING_DRAWS):
        pd.testing.assert_series_equal(
            with_nwp_draw(many, d)[col].loc[run_days], many[col].loc[run_days], check_names=False
        )
    sf = station_forcing(archive, sid, run_days, DEFAULTS, ("precip_mm",))
    np.testing.assert_allclose(many[col].loc[run_days], sf.columns[col].loc[run_days])


def test_nwp_models_average_the_draws_and_forecast_the_expected_rise(rottum_frame):
    """Trained on several draws of the degraded forcing, the NWP model depends less on which draw it got (the
    difference between the forecasts of models trained with different seeds is smaller than with one draw); with
    the gamma objective (LGBMParams.nwp_objective) its point forecast on the days with heavy forecast rain is the
    expected flow, higher than the squared error of the log change gives and nearer the mean observed."""
    from dataclasses import replace

    from forecasting.forcing import training_forcing
    from forecasting.models.forcing_error import ForcingErrorModel
    from forecasting.models.lgbm import LGBMForecaster, LGBMParams

    sid, frame = "lamah_1145", rottum_frame
    end = pd.Timestamp("2011-12-31")
    days = pd.date_range("2012-01-01", "2015-12-20", freq="D")
    err = ForcingErrorModel.default()
    test_in = training_forcing({sid: frame}, ("precip_mm",), "degraded", None, err, seed=99, draws=1)  # unseen draw
    fast = LGBMParams(n_estimators=60, learning_rate=0.1, cal_years=4, nwp=("precip_mm",))
    assert fast.loss == "gamma" and replace(fast, nwp=()).loss == "regression"

    def median(params: LGBMParams, seed: int, draws: int) -> np.ndarray:
        nf = training_forcing({sid: frame}, ("precip_mm",), "degraded", None, err, seed=seed, draws=draws)
        return LGBMForecaster([1], params).fit(nf, end).predict(test_in, days, (0.05, 0.5, 0.95))[sid][:, 0, 1]

    spread = {}
    for draws in (1, 3):
        runs = [np.log(median(fast, seed, draws)) for seed in (0, 1, 2)]
        spread[draws] = np.mean([np.nanmean(np.abs(runs[a] - runs[b])) for a, b in ((0, 1), (0, 2), (1, 2))])
    assert spread[3] < 0.92 * spread[1], spread

    gamma = median(fast, 0, 3)
    l2 = median(replace(fast, nwp_objective="regression"), 0, 3)
    obs = frame["discharge_m3s"].reindex(days + pd.Timedelta(days=1)).to_numpy()
    rain = test_in[sid][nwp_column("precip_mm", 1)].reindex(days).to_numpy()
    heavy = (rain >= np.nanquantile(rain, 0.9)) & np.isfinite(obs)
    assert np.mean(l2[heavy]) < np.mean(gamma[heavy]) < np.mean(obs[heavy])
    assert np.mean(gamma[heavy] > l2[heavy]) > 0.7
