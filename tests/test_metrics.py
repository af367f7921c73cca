"""Verification metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting import metrics


def test_nse_hand_computed():
    o = np.array([1.0, 2.0, 3.0, 4.0])
    f = np.array([1.5, 2.0, 2.5, 4.0])
    # sum sq err = 0.25 + 0 + 0.25 + 0 = 0.5; sum sq dev = 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert metrics.nse(o, f) == pytest.approx(1 - 0.5 / 5)
    assert metrics.nse(o, o) == pytest.approx(1.0)
    assert metrics.nse(o, np.full(4, o.mean())) == pytest.approx(0.0)
    # NaN pairs are dropped
    assert metrics.nse(np.append(o, np.nan), np.append(f, 3.0)) == pytest.approx(0.9)
    assert metrics.nse(np.ones(3), np.ones(3)) is None  # zero variance: undefined


def test_kge_hand_computed():
    o = np.array([1.0, 2.0, 3.0, 4.0])
    f = 2 * o  # r = 1, alpha = 2, beta = 2
    assert metrics.kge(o, f) == pytest.approx(1 - np.sqrt(0 + 1 + 1))
    assert metrics.kge(o, o) == pytest.approx(1.0)


def test_skill_vs_persistence():
    o = np.array([2.0, 4.0, 6.0])
    ref = np.array([1.0, 2.0, 3.0])  # errors 1, 2, 3 -> MSE 14/3
    f = np.array([2.0, 4.0, 5.0])  # errors 0, 0, 1 -> MSE 1/3
    assert metrics.skill_score(o, f, ref) == pytest.approx(1 - (1 / 3) / (14 / 3))


def test_crps_of_point_forecast_equals_mae():
    rng = np.random.default_rng(1)
    o = rng.gamma(2.0, 10.0, 500)
    f = o + rng.normal(0, 5, 500)
    levels = np.round(np.arange(1, 20) * 0.05, 2)
    q = np.repeat(f[:, None], len(levels), axis=1)
    assert metrics.crps_quantiles(o, q, levels) == pytest.approx(np.mean(np.abs(o - f)))


def test_crps_sharper_correct_forecast_is_better():
    rng = np.random.default_rng(2)
    o = rng.normal(0, 1, 4000)
    levels = np.round(np.arange(1, 20) * 0.05, 2)
    from scipy.stats import norm

    good = np.repeat(norm.ppf(levels)[None, :], len(o), axis=0)
    wide = 3 * good
    c_good = metrics.crps_quantiles(o, good, levels)
    assert c_good < metrics.crps_quantiles(o, wide, levels)
    # CRPS of N(0,1) against itself is 1/sqrt(pi) = 0.564; the 19-level approximation is close
    assert c_good == pytest.approx(1 / np.sqrt(np.pi), rel=0.08)


def test_contingency_counts():
    obs = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    fc = np.array([1, 0, 1, 0, 1, 0], dtype=bool)
    c = metrics.contingency(obs, fc)  # hits 2, misses 1, false alarms 1
    assert (c["hits"], c["misses"], c["false_alarms"]) == (2, 1, 1)
    assert c["pod"] == pytest.approx(2 / 3)
    assert c["far"] == pytest.approx(1 / 3)
    assert c["csi"] == pytest.approx(2 / 4)
    none = metrics.contingency(np.zeros(5, bool), np.zeros(5, bool))
    assert none["pod"] is None and none["far"] is None and none["csi"] is None


def test_coverage_and_central_asian():
    o = np.array([1.0, 2.0, 3.0, 10.0])
    assert metrics.coverage(o, o - 1, o + 1) == 1.0
    assert metrics.coverage(o, o + 1, o + 2) == 0.0
    assert metrics.coverage(o, np.array([0.0, 2.5, 3.0, 0.0]), np.array([2.0, 4.0, 9.0, 9.0])) == 0.5


def test_central_asian_hand_computed():
    # observed changes o - base = -2, -2, 0, 2, 2: mean 0, sample standard deviation sqrt(16/4) = 2 (the standard
    # deviation of Q itself is about 30 here); allowable error 0.674 * 2 = 1.348
    base = np.array([100.0, 50.0, 80.0, 20.0, 60.0])
    o = np.array([98.0, 48.0, 80.0, 22.0, 62.0])
    f = np.array([98.0, 47.0, 81.3, 20.6, 65.0])  # errors 0, 1, 1.3, 1.4, 3: three within 1.348
    p, s = metrics.central_asian(o, f, base)
    assert p == pytest.approx(0.6)
    # RMSE = sqrt((0 + 1 + 1.69 + 1.96 + 9) / 5) = sqrt(2.73) = 1.6523; S/sigma = 1.6523 / 2
    assert s == pytest.approx(0.826136, abs=1e-6)
    # a pair with a NaN is dropped; fewer than 2 pairs or no change at all: undefined
    p2, s2 = metrics.central_asian(np.append(o, np.nan), np.append(f, 1.0), np.append(base, 1.0))
    assert (p2, s2) == pytest.approx((0.6, 0.826136), abs=1e-6)
    assert metrics.central_asian(o[:1], f[:1], base[:1]) == (None, None)
    assert metrics.central_asian(base + 1, f, base) == (None, None)


def test_crps_from_quantiles_hand_computed():
    levels = np.array([0.25, 0.5, 0.75])
    o = np.array([10.0, 20.0, 5.0])
    q = np.array([[8.0, 11.0, 14.0], [15.0, 16.0, 17.0], [np.nan, 5.0, 6.0]])  # the NaN row is dropped
    # o = 10: QS = (0 - .25)(8 - 10) + (1 - .5)(11 - 10) + (1 - .75)(14 - 10) = 0.5 + 0.5 + 1 = 2; CRPS = 2/3 * 2
    # o = 20: QS = (-.25)(-5) + (-.5)(-4) + (-.75)(-3) = 1.25 + 2 + 2.25 = 5.5; CRPS = 2/3 * 5.5
    # mean: (4/3 + 11/3) / 2 = 2.5
    crps = metrics.crps_quantiles(o, q, levels)
    assert crps == pytest.approx(2.5)
    # persistence 9, 17 (a point forecast): its CRPS is its mean absolute error (1 + 3) / 2 = 2
    pers = np.repeat(np.array([[9.0], [17.0], [np.nan]]), 3, axis=1)
    crps_ref = metrics.crps_quantiles(o, pers, levels)
    assert crps_ref == pytest.approx(2.0)
    assert metrics.skill_ratio(crps, crps_ref) == pytest.approx(-0.25)  # CRPSS = 1 - 2.5 / 2
    assert metrics.crps_quantiles(o[2:], q[2:], levels) is None
