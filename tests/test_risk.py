"""Risk levels from forecast quantiles: hand-computed exceedance probabilities, levels, roll-up and trend."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecasting.risk import add_risk, basin_levels, exceedance_probability, levels_from_probabilities, station_summary

TAU = np.array([0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95])
Q = np.array([10.0, 12.0, 15.0, 20.0, 26.0, 32.0, 36.0])


def test_straddling_threshold_interpolates_in_log_discharge() -> None:
    # T = 23 lies between q0.5 = 20 and q0.75 = 26: F = 0.5 + 0.25 * ln(23/20) / ln(26/20)
    expected = 1 - (0.5 + 0.25 * math.log(23 / 20) / math.log(26 / 20))
    assert exceedance_probability(Q, TAU, 23.0) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.3668, abs=1e-4)
    # linear interpolation when asked: 1 - (0.5 + 0.25 * 3/6)
    assert exceedance_probability(Q, TAU, 23.0, log=False) == pytest.approx(0.375, abs=1e-12)
    # exactly at a quantile: 1 - tau
    assert exceedance_probability(Q, TAU, 15.0) == pytest.approx(0.75)


def test_tails_are_never_zero_or_one() -> None:
    # upper tail: exponential in log Q fitted to q0.9, q0.95: P = 0.05 exp(-ln(40/36) / b), b = ln(36/32) / ln 2
    b = math.log(36 / 32) / math.log(2)
    p40 = exceedance_probability(Q, TAU, 40.0)
    assert p40 == pytest.approx(0.05 * math.exp(-math.log(40 / 36) / b), rel=1e-12)
    assert 0 < p40 < 0.05
    p_far = exceedance_probability(Q, TAU, 500.0)
    assert 0 < p_far < p40
    # lower tail: F = 0.05 exp(-ln(10/5) / b'), b' = ln(12/10) / ln 2
    b_lo = math.log(12 / 10) / math.log(2)
    p5 = exceedance_probability(Q, TAU, 5.0)
    assert p5 == pytest.approx(1 - 0.05 * math.exp(-math.log(10 / 5) / b_lo), rel=1e-12)
    assert 0.95 < p5 < 1
    # a degenerate forecast (all quantiles equal) still gives 0 < p < 1 beyond it
    flat = np.full(7, 20.0)
    assert 0 < exceedance_probability(flat, TAU, 21.0) < 0.05
    # NaN in, NaN out
    assert np.isnan(exceedance_probability(np.where(TAU == 0.5, np.nan, Q), TAU, 23.0))


def test_probability_decreases_with_threshold() -> None:
    t = np.linspace(1, 100, 400)
    p = exceedance_probability(np.broadcast_to(Q, (t.size, 7)), TAU, t)
    assert np.all(np.diff(p) <= 1e-15) and np.all((p > 0) & (p < 1))


def test_levels_use_alert_probability() -> None:
    p = np.array([[0.9, 0.35, 0.1], [0.29, 0.1, 0.0], [0.5, np.nan, 0.31]])
    assert levels_from_probabilities(p, 0.3).tolist() == [2, 0, 3]
    assert levels_from_probabilities(p, 0.5).tolist() == [1, 0, 1]


def _forecast(station_q: dict[str, np.ndarray], issue: str = "2024-04-01", level_cm: dict | None = None) -> xr.Dataset:
    stations = list(station_q)
    leads = np.arange(1, 4)
    data = np.stack([np.asarray(station_q[s], dtype=float) for s in stations])  # (station, lead, quantile)
    ds = xr.Dataset(
        {
            "discharge_m3s": (("station", "lead", "quantile"), data),
            "valid_date": ("lead", pd.Timestamp(issue) + pd.to_timedelta(leads, "D")),
            "status": ("station", np.array(["ok"] * len(stations), dtype=object)),
            "message": ("station", np.array([""] * len(stations), dtype=object)),
            "last_obs_m3s": ("station", data[:, 0, 3]),
        },
        coords={"station": stations, "lead": leads, "quantile": TAU},
        attrs={"issue_date": issue},
    )
    if level_cm is not None:
        wl = np.stack([np.asarray(level_cm.get(s, np.full((3, 7), np.nan)), dtype=float) for s in stations])
        ds["water_level_cm"] = (("station", "lead", "quantile"), wl)
    return ds


def _thr(rows: list[tuple[str, str, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"station_id": s, "kind": k, "value": v, "units": u, "source": "test", "years": None} for s, k, v, u in rows]
    )


def test_add_risk_hand_cases_m3s_cm_and_missing() -> None:
    rising = np.stack([Q, Q * 1.5, Q * 3.0])  # lead 3: q0.5 = 60
    steady = np.stack([Q, Q, Q])
    fc = _forecast({"A": rising, "B": steady, "C": steady, "D": steady})
    thr = _thr(
        [
            ("A", "warning", 23.0, "m3/s"),
            ("A", "danger", 40.0, "m3/s"),
            ("A", "extreme", 100.0, "m3/s"),
            ("B", "danger", 500.0, "cm"),  # cm without a water-level forecast: unusable
            ("C", "warning", 23.0, "m3/s"),
        ]
    )
    out = add_risk(fc, thr, alert_probability=0.3, threshold_version=4)
    p = out["p_exceed"]
    # A lead 1: warning straddled (hand value 0.3668 >= 0.3) -> level 1; danger 40 > q0.95 -> tail < 0.05
    assert float(p.sel(station="A", lead=1, threshold="warning")) == pytest.approx(0.36682, abs=1e-4)
    assert 0 < float(p.sel(station="A", lead=1, threshold="danger")) < 0.05
    # A lead 2: danger 40 between q0.75 = 39 and q0.9 = 48 (x1.5): 1 - (0.75 + 0.15 ln(40/39)/ln(48/39)) = 0.232
    hand = 1 - (0.75 + 0.15 * math.log(40 / 39) / math.log(48 / 39))
    assert float(p.sel(station="A", lead=2, threshold="danger")) == pytest.approx(hand, abs=1e-12)
    assert hand == pytest.approx(0.2317, abs=1e-4)  # below 0.3: still level 1
    # A lead 3 (x3): danger 40 between q0.1 = 36 and q0.25 = 45 -> 0.829; extreme 100 between 96 and 108 -> 0.083
    assert float(p.sel(station="A", lead=3, threshold="danger")) == pytest.approx(
        1 - (0.1 + 0.15 * math.log(40 / 36) / math.log(45 / 36)), abs=1e-12
    )
    assert float(p.sel(station="A", lead=3, threshold="extreme")) == pytest.approx(
        1 - (0.9 + 0.05 * math.log(100 / 96) / math.log(108 / 96)), abs=1e-12
    )
    assert out["level"].sel(station="A").values.tolist() == [1, 1, 2]
    assert int(out["station_level"].sel(station="A")) == 2
    assert pd.Timestamp(out["first_date"].sel(station="A").values) == pd.Timestamp("2024-04-04")
    assert float(out["level_probability"].sel(station="A")) == pytest.approx(
        float(p.sel(station="A", threshold="danger").max())
    )
    assert str(out["trend"].sel(station="A").values) == "rising"
    # B: thresholds in cm, no water-level forecast
    assert np.isnan(p.sel(station="B").values).all()
    assert int(out["station_level"].sel(station="B")) == 0
    assert "water-level forecast" in str(out["level_message"].sel(station="B").values)
    # C: a warning only, 0.367 each lead -> level 1
    assert int(out["station_level"].sel(station="C")) == 1
    assert str(out["trend"].sel(station="C").values) == "steady"
    # D: no thresholds
    assert int(out["station_level"].sel(station="D")) == 0
    assert str(out["level_message"].sel(station="D").values) == "no thresholds"
    assert np.isnan(float(out["level_probability"].sel(station="D")))
    assert out.attrs["threshold_version"] == 4 and out.attrs["alert_probability"] == 0.3
    assert str(out["threshold_units"].sel(station="B", threshold="danger").values) == "cm"


def test_thresholds_in_cm_with_a_water_level_forecast() -> None:
    wl = np.stack([np.array([480, 490, 495, 500, 505, 510, 520.0])] * 3)  # T = 500 cm = median
    fc = _forecast({"B": np.stack([Q, Q, Q])}, level_cm={"B": wl})
    out = add_risk(fc, _thr([("B", "danger", 502.0, "cm")]))
    # linear in cm: 502 between q0.5 = 500 and q0.75 = 505 -> 1 - (0.5 + 0.25 * 2/5) = 0.4
    assert float(out["p_exceed"].sel(station="B", lead=1, threshold="danger")) == pytest.approx(0.4)
    assert int(out["station_level"].sel(station="B")) == 2


def test_falling_trend_and_basin_rollup() -> None:
    falling = np.stack([Q * 0.9, Q * 0.8, Q * 0.7])
    fc = _forecast({"A": falling, "B": np.stack([Q, Q, Q * 2])})
    fc["last_obs_m3s"] = ("station", np.array([20.0, 20.0]))
    fc = fc.assign_coords(basin=("station", np.array(["nura", "nura"], dtype=object)))
    out = add_risk(fc, _thr([("A", "warning", 23.0, "m3/s"), ("B", "warning", 23.0, "m3/s")]))
    summ = station_summary(out)
    assert summ.set_index("station_id").loc["A", "trend"] == "falling"
    b = basin_levels(summ)
    assert b["basin_id"].tolist() == ["nura"] and int(b["level"].iloc[0]) == 1 and int(b["n_stations"].iloc[0]) == 2
    # B reaches warning from lead 1 (0.367), A never (its medians are lower)
    assert b["first_date"].iloc[0] == pd.Timestamp("2024-04-02")
