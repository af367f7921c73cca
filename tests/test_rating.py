"""Rating curves: water-level forecasts from discharge forecasts, so that official marks in cm give risk levels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecasting.forecast import make_forecast
from forecasting.model_registry import fit_basin_model
from forecasting.models.lgbm import LGBMParams
from forecasting.rating import fit_rating
from forecasting.risk import add_risk
from forecasting.store import station_frame

FAST = LGBMParams(n_estimators=80, learning_rate=0.1, cal_years=4)


def _synthetic(n: int = 900, seed: int = 3) -> tuple[pd.Series, pd.Series]:
    """A gauge whose level follows H = 120 + 35 ln(Q) cm, with 1 cm of reading noise."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2018-01-01", periods=n, freq="D")
    q = pd.Series(np.exp(rng.normal(2.0, 0.8, n)), index=idx)
    h = 120 + 35 * np.log(q) + rng.normal(0.0, 1.0, n)
    return q, h


def test_rating_curve_recovers_a_known_relation():
    q, h = _synthetic()
    curve, why = fit_rating(q, h)
    assert curve is not None and why == ""
    test_q = np.array([3.0, 7.4, 20.0])
    np.testing.assert_allclose(curve.level(test_q), 120 + 35 * np.log(test_q), atol=2.0)
    assert curve.rmse_cm == pytest.approx(1.0, abs=0.4)
    grid = np.linspace(0.0, 3 * curve.q_max, 200)
    assert (np.diff(curve.level(grid)) >= 0).all()  # monotone, also when extrapolated
    assert curve.level(3 * curve.q_max) > curve.level(curve.q_max) + 20  # beyond the observed range it keeps rising
    assert np.isnan(curve.level(np.nan))
    assert "paired days" in curve.note() and "extrapolated" in curve.note()


def test_no_rating_curve_without_pairs_or_under_ice():
    q, h = _synthetic()
    curve, why = fit_rating(q, h.where(h.index < h.index[30]))
    assert curve is None and "only 30 days" in why
    ice = pd.Series(np.random.default_rng(1).normal(200, 30, len(q)), index=q.index)  # level unrelated to flow
    curve, why = fit_rating(q, ice)
    assert curve is None and "does not follow discharge" in why


@pytest.fixture(scope="module")
def real_ds(real_qc_ds: xr.Dataset) -> xr.Dataset:
    return real_qc_ds.sel(station=["CH2185", "PROTVA_SZ"])


def test_real_gauge_rating_curve(real_ds):
    df = station_frame(real_ds, "CH2185")
    curve, _ = fit_rating(df["discharge_m3s"], df["water_level_cm"])
    assert curve is not None and curve.end == "2020-12-31" and curve.n_pairs > 1000
    assert curve.rmse_cm < 5.0  # Plessur at Chur: levels within a few cm of the curve


def test_marks_in_cm_give_the_same_risk_as_the_discharge_they_stand_for(real_ds):
    """A station with official marks in cm gets levels: the forecast maps its discharge quantiles through the
    rating curve, and P(level > mark) equals P(discharge > the discharge of that mark)."""
    ds = real_ds.sel(station=["CH2185"], time=slice("1995-01-01", "2005-06-30"))
    frame = station_frame(ds, "CH2185")
    bm = fit_basin_model("CH2185", {"CH2185": frame}, leads=[1, 3], params=FAST)
    issue = "2005-06-10"
    fc = make_forecast(ds, {"CH2185": bm}, issue, [1, 3])
    wl = fc["water_level_cm"].values[0]
    assert np.isfinite(wl).all() and (np.diff(wl, axis=1) >= 0).all()
    assert "rating curve from" in str(fc["rating_note"].values[0])
    curve, _ = fit_rating(frame.loc[:issue, "discharge_m3s"], frame.loc[:issue, "water_level_cm"])
    q50 = fc["discharge_m3s"].sel(quantile=0.5).values[0]
    # marks placed at the discharges of the median forecast of each lead: probabilities near one half
    marks_q = {"warning": float(q50[0]), "danger": float(q50[1]), "extreme": float(q50.max() * 3)}
    rows = []
    for kind, qv in marks_q.items():
        rows.append(("CH2185", kind, float(curve.level(qv)), "cm", "official mark (test)"))
    thr_cm = pd.DataFrame(rows, columns=["station_id", "kind", "value", "units", "source"])
    thr_q = thr_cm.assign(value=list(marks_q.values()), units="m3/s")
    p_cm = add_risk(fc, thr_cm)["p_exceed"].values[0]
    p_q = add_risk(fc, thr_q)["p_exceed"].values[0]
    assert np.isfinite(p_cm).all()
    np.testing.assert_allclose(p_cm, p_q, atol=0.03)
    assert p_cm[0, 0] == pytest.approx(0.5, abs=0.03)  # the mark at the lead-1 median


def test_station_without_levels_says_why_its_cm_marks_are_unusable(real_ds):
    ds = real_ds.sel(station=["PROTVA_SZ"], time=slice("1990-01-01", "2004-06-30"))
    bm = fit_basin_model("PROTVA_SZ", {"PROTVA_SZ": station_frame(ds, "PROTVA_SZ")}, leads=[1, 3], params=FAST)
    fc = make_forecast(ds, {"PROTVA_SZ": bm}, "2004-06-30", [1, 3])
    thr = pd.DataFrame(
        [("PROTVA_SZ", "danger", 400.0, "cm", "official mark")],
        columns=["station_id", "kind", "value", "units", "source"],
    )
    out = add_risk(fc, thr)
    msg = str(out["level_message"].values[0])
    assert "need a water-level forecast" in msg and "no water level observed" in msg
    assert int(out["station_level"].values[0]) == 0


def test_station_page_draws_the_level_forecast_against_the_marks_in_cm(real_data, real_ds, tmp_path):
    """A station whose official marks are in cm: its page shows the water-level forecast (through the rating
    curve) against those marks, with the curve's note, beside the discharge hydrograph."""
    from fastapi.testclient import TestClient

    from service.app import create_app
    from tests import dashboard_support as dsup

    home = dsup.copy_home(dsup.prepared_store(real_data), tmp_path / "home")
    settings = dsup.settings_for(home)
    ds = real_ds.sel(station=["CH2185"], time=slice("1995-01-01", "2005-06-30"))
    bm = fit_basin_model("CH2185", {"CH2185": station_frame(ds, "CH2185")}, leads=[1, 3], params=FAST)
    fc = make_forecast(ds, {"CH2185": bm}, "2005-06-10", [1, 3])
    h50 = float(fc["water_level_cm"].sel(quantile=0.5).values[0, 0])
    thr = pd.DataFrame(
        [("CH2185", kind, h50 + d, "cm", "опасная отметка (test)") for kind, d in (("warning", 5), ("danger", 40))],
        columns=["station_id", "kind", "value", "units", "source"],
    )
    dsup.publish_dataset(home, settings, add_risk(fc, thr), "cm")
    with TestClient(create_app(settings)) as client:
        page = client.get("/stations/CH2185?lang=en").text
    chart = page[page.index('id="level-chart"') :]
    assert "water level, cm" in chart and "thr-warning" in chart and "thr-danger" in chart
    assert 'id="rating-note"' in page and "Rating curve from" in page
    table = page[page.index('id="lead-table"') : page.index("</table>", page.index('id="lead-table"'))]
    assert "warning mark" in table and table.count('<td class="p') == 2 * 2  # the marks in cm: P per lead
