"""Why a forecast rises: driver contributions add up to the forecast and respond to the inputs as hydrology says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecasting import explain
from forecasting.features import build_features, inv_log_q, lead_features, log_q
from forecasting.forecast import make_forecast
from forecasting.model_registry import fit_basin_model
from forecasting.models.lgbm import LGBMForecaster, LGBMParams
from forecasting.store import station_frame

FAST = LGBMParams(n_estimators=80, learning_rate=0.1, cal_years=4)
SID = "CH2232"  # Allenbach, 29 km2: rain reaches the gauge within a day


@pytest.fixture(scope="module")
def real_ds(real_qc_ds: xr.Dataset) -> xr.Dataset:
    return real_qc_ds.sel(station=[SID, "PROTVA_SZ"])


@pytest.fixture(scope="module")
def model(real_ds: xr.Dataset) -> LGBMForecaster:
    df = station_frame(real_ds, SID).loc["1990-01-01":"2005-12-31"]
    return LGBMForecaster([1, 3], FAST).fit({SID: df})


def test_every_feature_has_its_driver(model):
    drivers = {f: explain.driver_of(f) for f in model.feature_names}
    # every feature is placed by an explicit rule, none falls through to the default ("flow")
    prefixes = [p for p, _d in explain._PREFIXES]
    assert [f for f in model.feature_names if not any(f.startswith(p) for p in prefixes)] == []
    expected = {"lq0": "flow", "dlq_3": "flow", "lq_anom": "flow", "p0": "rain", "psum7": "rain", "swe0": "snow"}
    expected |= {"melt7": "snow", "snow_store": "snow", "dd7": "temperature", "tmax0": "temperature"}
    expected |= {"doy_sin": "season", "clim_dlq": "season", "log_area": "basin"}
    assert {f: drivers[f] for f in expected} == expected


def test_contributions_add_up_to_the_point_forecast(real_ds, model):
    df = station_frame(real_ds, SID).loc["1990-01-01":"2006-06-30"]
    issue = pd.Timestamp("2006-06-15")
    contrib = model.contributions({SID: df}, issue)[SID]
    assert list(contrib.index) == [1, 3] and "bias" in contrib.columns
    base = build_features(df, model.contexts[SID]).reindex(pd.DatetimeIndex([issue]))
    for k in (1, 3):
        x = lead_features(base, model.contexts[SID], k)[model.feature_names]
        point = model.blend[k] * model.boosters[k].predict(x)[0]  # the model's change of log discharge
        assert contrib.loc[k].sum() == pytest.approx(point, rel=1e-6, abs=1e-9)
    grouped = explain.group_contributions(contrib)
    assert list(grouped.columns) == list(explain.DRIVERS)
    np.testing.assert_allclose(grouped.sum(axis=1), contrib.sum(axis=1), rtol=1e-9, atol=1e-12)
    assert (grouped["calibration"] == 0).all()  # set by the forecast, not by the model


def test_heavy_rain_today_is_the_driver_of_tomorrows_rise(real_ds, model):
    """The same dry summer day with and without 60 mm of rain on the issue day: with it, the forecast rises and
    rain is the main driver of that rise."""
    df = station_frame(real_ds, SID).loc["1990-01-01":"2006-08-31"]
    p = df["precip_mm"].loc["2006-06-01":"2006-08-31"].rolling(3).sum()
    issue = p.idxmin()  # the driest 3 days of that summer
    wet = df.copy()
    wet.loc[issue, "precip_mm"] = 60.0
    dry_c = explain.group_contributions(model.contributions({SID: df}, issue)[SID])
    wet_c = explain.group_contributions(model.contributions({SID: wet}, issue)[SID])
    assert wet_c.loc[1, "rain"] > dry_c.loc[1, "rain"] + 0.1  # at least 10% more flow from rain
    assert wet_c.loc[1, "rain"] > 0
    top = explain.main_drivers(wet_c.loc[1])
    assert top and top[0][0] == "rain" and top[0][1] > 10


def test_forecast_dataset_carries_the_drivers(real_ds):
    ds = real_ds.sel(station=[SID], time=slice("1995-01-01", "2004-12-31"))
    bm = fit_basin_model(SID, {SID: station_frame(ds, SID)}, leads=[1, 3], params=FAST)
    fc = make_forecast(ds, {SID: bm}, "2004-12-31", [1, 3])
    dc = fc["driver_contribution"]
    assert dc.dims == ("station", "lead", "driver") and list(fc["driver"].values) == list(explain.DRIVERS)
    assert np.isfinite(dc.values).all()
    # together the drivers give the published median: log(Q50 / Q(t)) in the model's log space
    ctx = bm.model.contexts[SID]
    q0 = float(fc["last_obs_m3s"].values[0])
    q50 = fc["discharge_m3s"].sel(quantile=0.5).values[0]
    np.testing.assert_allclose(inv_log_q(log_q(np.full(2, q0), ctx) + dc.values[0].sum(axis=1), ctx), q50, rtol=1e-6)
    # ... and the model's own contributions carry it: the calibration's closing term stays small, the state of the
    # river and the season (with the model's bias) are never exactly zero
    assert np.abs(dc.sel(driver="calibration").values).max() < 0.2
    assert np.abs(dc.sel(driver=["flow", "season"]).values).min() > 1e-4
    # a station forecast by a baseline has no drivers (NaN), not made-up ones
    no_model = make_forecast(ds, {}, "2004-12-31", [1, 3])
    assert str(no_model["status"].values[0]) == "fallback"
    assert np.isnan(no_model["driver_contribution"].values).all()


def test_main_drivers_in_percent():
    row = pd.Series({"flow": np.log(0.8), "rain": np.log(1.5), "snow": 0.01, "temperature": 0.0, "season": 1.0})
    assert [(d, round(v)) for d, v in explain.main_drivers(row)] == [("rain", 50), ("flow", -20)]
    assert explain.as_percent(0.0) == 0.0


def _published_view(fc, station_id: str, tmp_path):
    """The read model's view of a station's forecast, published in a scratch database."""
    from forecasting.risk import add_risk
    from forecasting.thresholds import empty_table
    from records.db import open_database
    from records.publication import publish_forecast
    from records.published import station_forecast_view

    fc = add_risk(fc, empty_table())
    _, factory = open_database(f"sqlite:///{tmp_path / 'why.db'}")
    with factory() as s:
        run = publish_forecast(s, fc, "why-run", publish=True)
        s.commit()
        return station_forecast_view(s, run, fc, station_id, {})


@pytest.mark.parametrize("lang", ["en", "ru", "kk"])
def test_dashboard_says_why_in_three_languages(real_ds, lang, tmp_path):
    from service import i18n
    from service.pages.explain_view import why_short, why_view

    ds = real_ds.sel(station=["PROTVA_SZ"], time=slice("1990-01-01", "2004-03-20"))
    bm = fit_basin_model("PROTVA_SZ", {"PROTVA_SZ": station_frame(ds, "PROTVA_SZ")}, leads=[1, 3, 7], params=FAST)
    fc = _published_view(make_forecast(ds, {"PROTVA_SZ": bm}, "2004-03-20", [1, 3, 7]), "PROTVA_SZ", tmp_path)
    why = why_view(fc, lang)
    assert why["leads"] == [1, 3, 7]
    # the total of each lead is the median's change on the issue day's discharge
    q0 = fc.last_obs_m3s
    for lead, total in zip(fc.leads, why["total"], strict=True):
        assert lead.quantiles["0.5"] == pytest.approx(q0 * (1 + total / 100), rel=0.02)
    assert {r["driver"] for r in why["rows"]} <= set(explain.DRIVERS)
    names = [i18n.t("driver." + d, lang) for d in explain.DRIVERS]
    assert any(n in why["sentence"] for n in names) or i18n.t("station.why_nothing", lang) in why["sentence"]
    assert why["sentence"].endswith(".") and "{" not in why["sentence"]
    short = why_short(fc, lang)  # the basin page's column: the same main drivers as the sentence
    assert short in why["sentence"] and (short == "" or any(n in short for n in names))
