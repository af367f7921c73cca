"""Quality control: one test per rule on small series with known defects, then the real Protva and Swiss records.

Every check must flag exactly the defective days and keep every value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecasting import flags, qc
from forecasting.canonical import AdapterResult
from forecasting.store import build_dataset, data_variables, merge

START = pd.Timestamp("2001-01-01")


def make_ds(series: dict[str, np.ndarray], station: str = "KZ1", start: pd.Timestamp = START) -> xr.Dataset:
    """A canonical dataset of one station built the way an adapter's output is (NaN = not observed)."""
    frames = []
    for var, values in series.items():
        values = np.asarray(values, dtype="float64")
        ok = ~np.isnan(values)
        frames.append(
            pd.DataFrame(
                {
                    "station_id": station,
                    "date": pd.date_range(start, periods=len(values), freq="D")[ok],
                    "variable": var,
                    "value": values[ok],
                    "source_file": "synthetic.csv",
                    "source_row": np.arange(2, len(values) + 2)[ok],
                }
            )
        )
    ds, _ = build_dataset(AdapterResult(observations=pd.concat(frames, ignore_index=True)))
    return ds


def flagged_days(ds: xr.Dataset, var: str, bit: int, station: str = "KZ1") -> list[int]:
    """Day numbers (0 = START) of `station` whose `var` carries `bit`."""
    q = ds[f"{var}_qc"].sel(station=station).values
    return [int(i) for i in np.flatnonzero((q & bit) != 0)]


def base_flow(n: int, level: float = 6.0, seed: int = 1) -> np.ndarray:
    """A realistic, never-constant low flow around `level` m3/s, rounded to 3 significant digits."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0, 0.01, n))
    return np.round(level * np.exp(walk - walk.mean()) + rng.normal(0, 0.02 * level, n), 2)


def assert_values_kept(before: xr.Dataset, after: xr.Dataset) -> None:
    for var in data_variables(before):
        np.testing.assert_array_equal(before[var].values, after[var].values)


# --------------------------------------------------------------------------------------------- IMPOSSIBLE


def test_impossible_values_are_flagged_and_kept():
    n = 10
    q = base_flow(n)
    q[3] = -1.0
    t = np.linspace(-5, 5, n)
    tmin, tmax = t - 3, t + 3
    tmax[4] = 55.0  # above +50 degC
    tmin[6] = tmax[6] + 1  # minimum above the maximum
    p = np.zeros(n)
    p[2], p[5] = -0.1, 612.0
    swe = np.full(n, 40.0)
    swe[7] = -3.0
    ds = make_ds({"discharge_m3s": q, "tmin_c": tmin, "tmax_c": tmax, "precip_mm": p, "swe_mm": swe})
    out = qc.run_qc(ds)
    assert flagged_days(out, "discharge_m3s", flags.IMPOSSIBLE) == [3]
    assert flagged_days(out, "tmax_c", flags.IMPOSSIBLE) == [4, 6]
    assert flagged_days(out, "tmin_c", flags.IMPOSSIBLE) == [6]
    assert flagged_days(out, "precip_mm", flags.IMPOSSIBLE) == [2, 5]
    assert flagged_days(out, "swe_mm", flags.IMPOSSIBLE) == [7]
    assert_values_kept(ds, out)
    assert float(out["discharge_m3s"].sel(station="KZ1").values[3]) == -1.0


# --------------------------------------------------------------------------------------------------- RATE


def test_level_jump_beyond_rate_flags_the_jump_only():
    n = 40
    level = 150.0 + np.round(np.sin(np.arange(n) / 5) * 20)  # stage above gauge zero, cm
    level[10] += 400  # one wrong reading: up 400 cm and back
    level[25:] += 500  # a datum shift: every value after it is offset
    level[31:35] = np.nan  # a gap of 4 days, then a change allowed over 5 days (5 x 300 cm)
    level[35] = level[30] + 1200
    level[36:] += 1200
    ds = make_ds({"water_level_cm": level})
    out = qc.run_qc(ds)
    assert flagged_days(out, "water_level_cm", flags.RATE) == [10, 25]
    strict = qc.run_qc(ds, qc.QCConfig(level_max_rate_cm_per_day=200.0))
    assert flagged_days(strict, "water_level_cm", flags.RATE) == [10, 25, 35]
    assert_values_kept(ds, out)


def test_level_as_elevation_above_sea_level_uses_differences_only():
    # CAMELS-CH levels are elevations in cm (about 80,000): only day-to-day differences may matter.
    level = 83697.0 + np.round(np.cumsum(np.sin(np.arange(60) / 3) * 8), 1)
    out = qc.run_qc(make_ds({"water_level_cm": level}))
    assert int(out["water_level_cm_qc"].values.sum()) == 0


def test_optional_relative_rate_for_discharge():
    q = base_flow(30)
    q[12:] *= 4  # the flow quadruples from one day to the next and stays there
    ds = make_ds({"discharge_m3s": q})
    assert flagged_days(qc.run_qc(ds), "discharge_m3s", flags.RATE) == []  # off by default
    out = qc.run_qc(ds, qc.QCConfig(discharge_max_rate_ratio=3.0))
    assert flagged_days(out, "discharge_m3s", flags.RATE) == [12]


# ----------------------------------------------------------------------------------------------- FLATLINE


def test_flatline_flags_a_stuck_sensor_not_rounding_or_zero_flow():
    n = 160
    q = base_flow(n)
    q[10:13] = 6.26  # a value repeated 3 days: normal rounding
    q[40:65] = 7.31  # stuck for 25 days
    q[100:130] = 0.0  # 30 days of zero flow (a dry or frozen river): natural
    q[140:159] = 5.35  # 19 days: below the default of 20
    ds = make_ds({"discharge_m3s": q})
    out = qc.run_qc(ds)
    assert flagged_days(out, "discharge_m3s", flags.FLATLINE) == list(range(41, 65))  # first day was a reading
    stricter = qc.run_qc(ds, qc.QCConfig(flatline_days={"discharge_m3s": 10}))
    assert flagged_days(stricter, "discharge_m3s", flags.FLATLINE) == list(range(41, 65)) + list(range(141, 159))
    assert_values_kept(ds, out)


def test_flatline_temperature_and_snow():
    n = 60
    t = np.round(np.sin(np.arange(n) / 4) * 6, 1)
    t[20:28] = -3.4  # a stuck thermometer, 8 days
    swe = np.full(n, 120.0)  # SWE holds for weeks in a cold spell: not a defect
    out = qc.run_qc(make_ds({"tmean_c": t, "swe_mm": swe}))
    assert flagged_days(out, "tmean_c", flags.FLATLINE) == list(range(21, 28))
    assert flagged_days(out, "swe_mm", flags.FLATLINE) == []


def test_flatline_exempts_days_with_an_ice_symbol():
    lv = 200.0 + np.round(np.sin(np.arange(200) / 7) * 30)
    lv[50:150] = 180.0  # 100 days unchanged under ice
    ds = make_ds({"water_level_cm": lv})
    assert flagged_days(qc.run_qc(ds), "water_level_cm", flags.FLATLINE) == list(range(51, 150))
    sym = np.full(ds["water_level_cm"].shape, "", dtype=object)
    sym[0, 50:150] = "ледостав"
    ds["water_level_cm_symbol"] = (("station", "time"), sym)
    assert flagged_days(qc.run_qc(ds), "water_level_cm", flags.FLATLINE) == []


# -------------------------------------------------------------------------------------------------- SPIKE


def test_spike_on_log_discharge_at_any_scale():
    n = 120
    q = base_flow(n)
    q[30] = 60.2  # about 6 is plausible (the Protva's November 1965)
    q[60] = 0.01  # a lost digit (the Protva's 1956-11-13)
    q[90:97] = [9.0, 18.0, 40.0, 55.0, 35.0, 20.0, 12.0]  # a real flood wave: not isolated
    big = base_flow(n, level=600.0, seed=2)
    big[45] = 6000.0  # the same defect on a large river
    ds = xr.concat([make_ds({"discharge_m3s": q}), make_ds({"discharge_m3s": big}, station="KZ2")], "station")
    out = qc.run_qc(ds)
    assert flagged_days(out, "discharge_m3s", flags.SPIKE) == [30, 60]
    assert flagged_days(out, "discharge_m3s", flags.SPIKE, station="KZ2") == [45]
    assert float(out["discharge_m3s"].sel(station="KZ1").values[30]) == 60.2


def test_upward_spike_with_heavy_rain_is_a_flash_flood():
    n = 40
    q = base_flow(n)
    q[20] = 35.0
    p = np.zeros(n)
    p[19] = 48.0  # heavy rain the day before the peak
    assert flagged_days(qc.run_qc(make_ds({"discharge_m3s": q, "precip_mm": p})), "discharge_m3s", flags.SPIKE) == []
    # Without rain data the same day is an isolated spike.
    assert flagged_days(qc.run_qc(make_ds({"discharge_m3s": q})), "discharge_m3s", flags.SPIKE) == [20]


def test_temperature_spike():
    t = np.round(np.sin(np.arange(30) / 4) * 3, 1)
    t[12] = t[11] + 25.0  # a typing error (e.g. 2.1 -> 27.1)
    out = qc.run_qc(make_ds({"tmax_c": t}))
    assert flagged_days(out, "tmax_c", flags.SPIKE) == [12]


# ----------------------------------------------------------------------------------------------- REPEATED


def test_repeated_year_and_month_flag_the_later_copy():
    n = 3 * 365
    q = base_flow(n, seed=5)
    q[365:730] = q[0:365]  # the second year copied from the first, day for day
    q[900:912] = q[870:882]  # 12 days copied from the month before
    ds = make_ds({"discharge_m3s": q})
    out = qc.run_qc(ds)
    assert flagged_days(out, "discharge_m3s", flags.REPEATED) == list(range(365, 730)) + list(range(900, 912))
    assert_values_kept(ds, out)
    assert qc.repeated_blocks(q, 7, 6) == [(365, 730, 365), (900, 912, 30)]


def test_repeated_ignores_chance_matches_of_coarse_slow_series():
    # Winter base flow rounded to 0.2 m3/s, SWE melting 1-2 mm a day: short stretches recur by chance.
    rng = np.random.default_rng(3)
    walk = np.cumsum(rng.choice([0, 0, 0, -1, 1], size=2000))
    q = np.round(10 + 0.2 * np.abs((walk + 10) % 40 - 20), 1)  # a random walk in 0.2 steps, kept in 10..14
    swe = np.maximum(0.0, 300 - np.cumsum(rng.choice([1.0, 2.0], size=2000)) % 300)
    assert len(qc.repeated_blocks(q, 7, 1)) > 0  # the matches exist ...
    out = qc.run_qc(make_ds({"discharge_m3s": q, "swe_mm": swe}))
    assert flagged_days(out, "discharge_m3s", flags.REPEATED) == []  # ... but carry too little information
    assert flagged_days(out, "swe_mm", flags.REPEATED) == []


def test_repeated_block_with_constant_stretch_is_flagged_whole():
    q = base_flow(800, seed=7)
    q[100:130] = 5.0  # a constant stretch (ice) inside the original year
    q[465:565] = q[100:200]  # 100 days copied, lag 365
    out = qc.run_qc(make_ds({"discharge_m3s": q}))
    assert flagged_days(out, "discharge_m3s", flags.REPEATED) == list(range(465, 565))


# ------------------------------------------------------------------------------------ DUPLICATE and REVISED


def test_duplicate_and_revised_bits_survive_qc():
    obs = pd.DataFrame(
        {
            "station_id": "KZ1",
            "date": pd.to_datetime(["2001-01-01", "2001-01-02", "2001-01-02", "2001-01-03"]),
            "variable": "discharge_m3s",
            "value": [5.0, 5.2, 7.9, 5.1],
            "source_file": "a.csv",
            "source_row": [2, 3, 4, 5],
        }
    )
    ds, quarantined = build_dataset(AdapterResult(observations=obs))
    assert [(r.line, r.field) for r in quarantined] == [(4, "discharge_m3s")]
    newer = make_ds({"discharge_m3s": np.array([5.3])}, start=pd.Timestamp("2001-01-03"))  # a corrected value
    merged, revisions = merge(ds, newer)
    out = qc.run_qc(merged)
    assert flagged_days(out, "discharge_m3s", flags.DUPLICATE) == [1]
    assert flagged_days(out, "discharge_m3s", flags.REVISED) == [2]
    assert len(revisions) == 1
    assert out["discharge_m3s"].sel(station="KZ1").values.tolist() == [5.0, 5.2, 5.3]


# ------------------------------------------------------------------------------------------------- usable


def test_usable_masks_bad_values_and_fills_only_short_gaps():
    q = np.array([5.0, 6.0, np.nan, 8.0, 9.0, np.nan, np.nan, 12.0, 13.0, np.nan, np.nan, np.nan, 17.0, -4.0, 19.0])
    p = np.array([1.0, 2.0, np.nan, 0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    ds = qc.run_qc(make_ds({"discharge_m3s": q, "precip_mm": p}))
    before = ds.copy(deep=True)
    u = qc.usable(ds)
    got = u["discharge_m3s"].sel(station="KZ1").values
    # Day 2 (1-day gap) and days 5-6 (2-day gap) filled linearly; days 9-11 (3 days) never; day 13 was negative
    # (IMPOSSIBLE): masked, then filled as a 1-day gap.
    np.testing.assert_allclose(got[:9], [5, 6, 7, 8, 9, 10, 11, 12, 13])
    assert np.isnan(got[9:12]).all()
    assert got[13] == pytest.approx(18.0)
    assert flagged_days(u, "discharge_m3s", flags.FILLED) == [2, 5, 6, 13]
    assert np.isnan(u["precip_mm"].sel(station="KZ1").values[2])  # precipitation is not interpolated
    assert before.identical(ds)  # pure: the input is unchanged
    assert int(qc.usable(ds, qc.QCConfig(max_gap_fill_days=0))["discharge_m3s"].isnull().sum()) == 7


def test_qc_summary_counts_per_station_variable_and_flag():
    q = base_flow(50)
    q[10] = 60.0
    q[20:23] = -1.0  # negative for three days (impossible, but not an isolated spike)
    ds = qc.run_qc(make_ds({"discharge_m3s": q, "tmean_c": np.linspace(-3, 3, 50)}))
    s = qc.qc_summary(ds).set_index(["station_id", "variable"])
    row = s.loc[("KZ1", "discharge_m3s")]
    assert (row["n_values"], row["bad"], row["spike"], row["impossible"]) == (50, 4, 1, 3)
    assert s.loc[("KZ1", "tmean_c"), "bad"] == 0


# ---------------------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real_store(real_data, tmp_path_factory):
    from flows.ingest import run_ingest
    from forecasting.home import Home
    from forecasting.storage import open_store

    home = Home(tmp_path_factory.mktemp("qc") / "home")
    run_ingest(real_data, "station-csv", home)
    return open_store(home.observations)


def test_real_protva_copied_years_and_isolated_values(real_store):
    p = real_store.sel(station="PROTVA_SZ")
    q = p["discharge_m3s_qc"].to_series()
    rep = (q & flags.REPEATED) != 0
    assert rep.loc["1967"].all()  # 1967 repeats 1966 day for day
    assert not rep.loc["1966"].any()  # the original is kept as it is
    assert rep.loc["1960"].sum() >= 360 and not rep.loc["1959"].any()  # 1960 is essentially 1959
    for year in ("1965", "1971", "1977", "1979", "1982"):  # the shorter copied blocks
        assert rep.loc[year].sum() >= 7, year
    spikes = q.index[(q & flags.SPIKE) != 0]
    for day in ("1956-11-13", "1965-11-14", "1965-11-23"):
        assert pd.Timestamp(day) in spikes
    values = p["discharge_m3s"].to_series()
    assert values.loc["1965-11-14"] == 60.2 and values.loc["1956-11-13"] == 0.01  # kept in the store
    # Little else: the copies, the isolated values (a few more lost digits such as 1.36 among 13.6) and nothing
    # from the normal 2-3 day repeats of the record.
    other = (q & flags.BAD & ~flags.REPEATED) != 0
    assert other.sum() <= 10
    assert ((q & flags.FLATLINE) != 0).sum() == 0


def test_real_records_are_mostly_clean(real_store):
    s = qc.qc_summary(real_store).set_index(["station_id", "variable"])
    swiss = [sid for sid in real_store["station"].values if str(sid).startswith("CH")]
    for sid in swiss:
        row = s.loc[(sid, "discharge_m3s")]
        assert row["bad"] / row["n_values"] < 0.005, sid
        for var in ("precip_mm", "tmin_c", "tmax_c", "swe_mm"):
            assert s.loc[(sid, var), "bad"] == 0, (sid, var)
    assert s.loc[("UZ16279_chatkal_khudaydod", "discharge_m3s"), "bad"] == 0
    assert s.loc[("PROTVA_SZ", "tmean_c"), "bad"] == 0


def test_usable_on_real_store(real_store):
    u = qc.usable(real_store)
    q = u["discharge_m3s"].sel(station="PROTVA_SZ").to_series()
    assert q.loc["1967"].isna().all()  # a copied year is left out, never filled
    # The isolated spike is replaced by an interpolation between its neighbours (6.38 and 5.81).
    assert q.loc["1965-11-14"] == pytest.approx((6.38 + 5.81) / 2)
    assert (u["discharge_m3s_qc"].sel(station="PROTVA_SZ", time="1965-11-14") & flags.FILLED) != 0


def _fill_by_hand(row: np.ndarray, max_days: int) -> tuple[np.ndarray, np.ndarray]:
    """The rule of qc.fill_short_gaps written out day by day (the reference for the vectorised version)."""
    out, filled = row.copy(), np.zeros(len(row), dtype=bool)
    known = [i for i in range(len(row)) if not np.isnan(row[i])]
    for a, b in zip(known, known[1:], strict=False):
        if 1 < b - a <= max_days + 1:
            for i in range(a + 1, b):
                out[i] = row[a] + (row[b] - row[a]) * (i - a) / (b - a)
                filled[i] = True
    return out, filled


def test_short_gaps_are_filled_as_the_rule_says_on_random_records():
    """Interior gaps of at most max_days are interpolated, gaps at the ends and longer ones stay: 300 random
    records of 1-80 days with 0-100% missing, checked against the rule written out day by day."""
    rng = np.random.default_rng(5)
    for _ in range(300):
        v = rng.gamma(2.0, 10.0, size=(int(rng.integers(1, 4)), int(rng.integers(1, 80))))
        v[rng.random(v.shape) < rng.random()] = np.nan
        max_days = int(rng.integers(0, 8))
        got, mask = qc.fill_short_gaps(v, max_days)
        for r in range(v.shape[0]):
            want, want_mask = _fill_by_hand(v[r], max_days) if v.shape[1] >= 3 else (v[r], np.zeros(v.shape[1], bool))
            np.testing.assert_allclose(got[r], want, rtol=1e-12, equal_nan=True)
            np.testing.assert_array_equal(mask[r], want_mask)
    one, mask = qc.fill_short_gaps(np.array([1.0, np.nan, np.nan, 4.0, np.nan]), 2)  # a 1-d record
    np.testing.assert_allclose(one, [1.0, 2.0, 3.0, 4.0, np.nan])
    assert mask.tolist() == [False, True, True, False, False]
