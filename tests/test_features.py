"""Features as of the issue date: no leakage, the snow store, missing inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.features import (
    SNOW_FEATURES,
    build_features,
    fit_context,
    inputs_frame,
    lead_features,
    melt_potential,
    missing_inputs,
    targets,
)
from forecasting.snowmodel import SnowParams, fit_snow_params, simulate


def _read(real_data, sid: str, start: str | None = None, end: str | None = None) -> pd.DataFrame:
    df = pd.read_csv(real_data / f"{sid}.csv", parse_dates=["date"], index_col="date")
    return df.loc[start:end]


def test_features_do_not_use_data_after_the_issue_day(real_data):
    df = _read(real_data, "PROTVA_SZ", "1985-01-01", "1992-12-31")
    ctx = fit_context("PROTVA_SZ", df, pd.Timestamp("1989-12-31"))
    assert ctx.snow is not None
    base = build_features(df, ctx)
    t = pd.Timestamp("1991-03-20")  # just before the spring flood
    altered = df.copy()
    rng = np.random.default_rng(0)
    after = altered.index > t
    for col in ("discharge_m3s", "precip_mm", "tmean_c"):
        altered.loc[after, col] = altered.loc[after, col] * rng.uniform(0.1, 10, after.sum())
    altered.loc[altered.index > t + pd.Timedelta(days=5), "tmean_c"] = np.nan
    changed = build_features(altered, ctx)
    pd.testing.assert_frame_equal(base.loc[:t], changed.loc[:t])
    assert not base.loc[t + pd.Timedelta(days=1) :].equals(changed.loc[t + pd.Timedelta(days=1) :])
    # truncating the record at t gives the same features as well
    pd.testing.assert_frame_equal(base.loc[:t], build_features(df.loc[:t], ctx))


def test_target_is_the_log_change_over_the_lead(real_data):
    df = _read(real_data, "CH2141", "2000-01-01", "2001-12-31")
    ctx = fit_context("CH2141", df)
    y = targets(df, ctx, [1, 3])
    q = df["discharge_m3s"]
    t = pd.Timestamp("2000-05-10")
    expected = np.log(q[t + pd.Timedelta(days=3)] + ctx.offset) - np.log(q[t] + ctx.offset)
    assert y.loc[t, 3] == pytest.approx(expected)


def test_snow_store_mass_balance_and_melt():
    days = 120
    t = np.r_[np.full(60, -5.0), np.full(60, 5.0)]
    p = np.full(days, 2.0)
    store, melt, winput = simulate(p, t, np.array([0.5]), np.array([0.0]), np.array([3.0]))
    assert store[59, 0] == pytest.approx(120.0)  # 60 days of 2 mm snow
    assert melt[60, 0] == pytest.approx(15.0)  # 3 mm/degC/day * 5 degC
    assert (store >= 0).all()
    assert store[-1, 0] + winput[:, 0].sum() == pytest.approx(p.sum())  # nothing is lost


def test_snow_params_fit_on_protva_training_years(real_data):
    df = _read(real_data, "PROTVA_SZ", "1970-01-01", "1990-12-31")
    inp = inputs_frame(df)
    params = fit_snow_params(inp["p"], inp["t"], inp["q_obs"])
    assert isinstance(params, SnowParams)
    assert params.score is not None and params.score > 0.3
    assert fit_snow_params(inp["p"] * np.nan, inp["t"], inp["q_obs"]) is None


def test_missing_inputs_for_a_discharge_only_station(real_data):
    df = _read(real_data, "UZ16279_chatkal_khudaydod")
    day = pd.Timestamp("1966-06-01")
    assert missing_inputs(df, day) == ["precip_mm", "tmean_c", "swe_mm"]
    ctx = fit_context("UZ", df)
    assert ctx.snow is None
    f = build_features(df, ctx)
    assert f.loc[day, "lq0"] == pytest.approx(np.log((df.loc[day, "discharge_m3s"] + ctx.offset) / ctx.qscale))
    assert np.isnan(f.loc[day, "snow_store"]) and np.isnan(f.loc[day, "psum7"])
    swiss = _read(real_data, "CH2141", "1990-01-01", "1990-12-31")
    assert missing_inputs(swiss, pd.Timestamp("1990-06-01")) == ["swe_mm"]  # SWE starts in 1998


def test_swe_melt_cover_and_snow_free_features(real_data):
    df = _read(real_data, "CH2141", "2000-01-01", "2001-12-31")
    ctx = fit_context("CH2141", df)
    f = build_features(df, ctx)
    swe = df["swe_mm"]
    loss = (-swe.diff()).clip(lower=0.0)
    t = swe.diff().idxmin()  # the day of the largest SWE decrease (spring melt)
    assert f.loc[t, "swe_melt3"] == pytest.approx(loss.loc[t - pd.Timedelta(days=2) : t].sum())
    assert f.loc[t, "swe_melt3"] > 0 and f.loc[t, "dswe3"] < 0
    assert f.loc[swe.idxmax(), "snow_cover"] == 1.0
    assert ((f["snow_cover"] == 1.0) == (swe > 5.0)).all()  # SWE is complete here
    assert set(f["store_cover"].dropna().unique()) <= {0.0, 1.0}
    no_snow = build_features(df, ctx, snow=False)
    assert not set(SNOW_FEATURES) & set(no_snow.columns)
    assert {"dd7", "dd30", "t0", "psum7"} <= set(no_snow.columns)  # temperature and rain stay
    pd.testing.assert_frame_equal(no_snow, f[no_snow.columns])


def test_melt_potential_by_hand():
    """Melt the store could give over the lead window at climatological temperature plus today's anomaly decaying
    by 0.8 per day, capped by the store."""
    days = pd.date_range("2001-03-20", periods=4)
    ctx = fit_context("X", pd.DataFrame({"discharge_m3s": [5.0, 6.0, 7.0, 8.0]}, index=days))
    ctx.snow = SnowParams(t_snow=0.5, t_melt=0.0, melt_factor=3.0)
    ctx.tclim = [2.0] * 366
    base = pd.DataFrame(
        {"snow_store": [100.0, 5.0, 100.0, 0.0], "tmean3": [2.0, 6.0, np.nan, 9.0]},
        index=days,
    )
    # row 0: 3 * 2 + 3 * 2 = 12; row 1: 3 * (2 + 4 * 0.8) + 3 * (2 + 4 * 0.64) = 29.28, capped at the store (5);
    # row 2: unknown temperature counts as no anomaly (12); row 3: no snow, no melt
    assert melt_potential(base, ctx, 2) == pytest.approx([12.0, 5.0, 12.0, 0.0])
    assert melt_potential(base, ctx, 1)[0] == pytest.approx(6.0)
    cold = SnowParams(t_snow=0.5, t_melt=3.0, melt_factor=3.0)  # climatology below the melt threshold
    ctx.snow = cold
    assert melt_potential(base, ctx, 2)[0] == pytest.approx(0.0)
    ctx.tclim = []  # no temperature record: unknown
    assert np.isnan(melt_potential(base, ctx, 2)).all()


def test_melt_potential_on_the_protva(real_data):
    df = _read(real_data, "PROTVA_SZ", "1980-01-01", "1995-12-31")
    ctx = fit_context("PROTVA_SZ", df, pd.Timestamp("1990-12-31"))
    assert len(ctx.tclim) == 366 and min(ctx.tclim) < -8 and max(ctx.tclim) > 16  # Moscow region climate
    base = build_features(df, ctx)
    m1 = lead_features(base, ctx, 1)["melt_potential"]
    m7 = lead_features(base, ctx, 7)["melt_potential"]
    assert (m7 >= m1 - 1e-9).all() and (m7 <= base["snow_store"] + 1e-9).all()
    assert (m7[m7.index.month == 7] == 0).all()  # no snow in July
    spring = m7[(m7.index.month == 4) & (m7.index.day <= 10)]
    assert spring.groupby(spring.index.year).max().gt(5).mean() > 0.7  # melt ahead in early April most years
    assert "melt_potential" not in lead_features(build_features(df, ctx, snow=False), ctx, 7)


def test_the_single_set_snow_store_is_the_vectorised_recursion(real_data):
    """The forecast's fast path (one parameter set, Python floats) gives the vectorised recursion's values, with
    the Protva's gaps in temperature and precipitation."""
    df = _read(real_data, "PROTVA_SZ", "1985-08-01", "1990-07-31")
    p, t = df["precip_mm"].to_numpy(), df["tmean_c"].to_numpy().copy()
    t[100:110] = np.nan  # a gap in temperature: the store is held
    one = simulate(p, t, np.array([0.5]), np.array([-1.0]), np.array([2.5]))
    two = simulate(p, t, np.array([0.5, 0.5]), np.array([-1.0, -1.0]), np.array([2.5, 2.5]))  # vectorised
    for a, b in zip(one, two, strict=True):
        assert a.shape == (len(p), 1)
        np.testing.assert_array_equal(a[:, 0], b[:, 0])
    assert one[0].max() > 50  # a real winter store


def test_the_rolling_windows_are_pandas_rolling_windows():
    """features._rolling and _ffill (numpy, for speed) give pandas' rolling(window, min_periods) statistics and
    ffill(limit): 200 random series with 0-90% missing days, every window and statistic the features use (within
    1e-9: pandas sums online, adding and removing each value, which drifts by ~1e-12 over long records)."""
    from forecasting.features import _ffill, _rolling

    rng = np.random.default_rng(11)
    for _ in range(200):
        a = rng.gamma(1.5, 4.0, int(rng.integers(1, 120)))
        a[rng.random(len(a)) < rng.random() * 0.9] = np.nan
        s = pd.Series(a)
        for window, minp in ((3, 1), (3, 2), (7, 4), (7, 1), (14, 7), (30, 15)):
            r = s.rolling(window, min_periods=minp)
            for how, want in (
                ("sum", r.sum()),
                ("mean", r.mean()),
                ("std", r.std()),
                ("max", r.max()),
                ("min", r.min()),
            ):
                np.testing.assert_allclose(
                    _rolling(a, window, minp, how),
                    want.to_numpy(),
                    rtol=1e-9,
                    atol=1e-9,
                    equal_nan=True,
                    err_msg=f"{how} {window}/{minp}",
                )
        np.testing.assert_array_equal(_ffill(a, 3), s.ffill(limit=3).to_numpy())


def test_inputs_of_a_record_with_missing_dates_are_daily():
    df = pd.DataFrame(
        {"discharge_m3s": [1.0, 2.0, 4.0], "tmin_c": [-2.0, 0.0, 1.0], "tmax_c": [4.0, 6.0, 9.0]},
        index=pd.DatetimeIndex(["2020-01-01", "2020-01-02", "2020-01-07"]),
    )
    inp = inputs_frame(df)
    assert len(inp) == 7 and inp.index[-1] == pd.Timestamp("2020-01-07")
    assert inp["q"].tolist()[:5] == [1.0, 2.0, 2.0, 2.0, 2.0] and np.isnan(inp["q"].iloc[5])  # carried 3 days
    assert inp["t"].iloc[0] == 1.0 and np.isnan(inp["t"].iloc[3])


def test_inputs_of_any_time_unit_and_order_are_the_daily_record():
    """A daily record indexed in seconds, or given out of order, gives the same inputs as the same record in
    nanoseconds and in order (the fast path for complete records and the reindex agree)."""
    idx = pd.date_range("2020-01-01", periods=7, freq="D")
    q = [1.0, np.nan, 3.0, np.nan, np.nan, np.nan, np.nan]
    df = pd.DataFrame({"discharge_m3s": q, "tmean_c": np.arange(7.0)}, idx)
    want = inputs_frame(df)
    seconds = df.set_axis(idx.as_unit("s"))
    pd.testing.assert_frame_equal(inputs_frame(seconds), want, check_index_type=False)
    shuffled = df.iloc[[3, 0, 5, 1, 6, 4, 2]]
    pd.testing.assert_frame_equal(inputs_frame(shuffled), want, check_freq=False)
    assert want["q"].tolist()[:6] == [1.0, 1.0, 3.0, 3.0, 3.0, 3.0] and np.isnan(want["q"].iloc[6])  # 3 days
