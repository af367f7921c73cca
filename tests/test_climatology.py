"""Seasonal context on real records: the Protva's day-of-year band (snowmelt flood in April), the Albula's (melt in
early summer), last year's and the record year's curves, leakage control and short records."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.climatology import (
    climatology_band,
    day_of_year,
    hydrograph_context,
    last_year_curve,
    record_year,
    shifted_year_curve,
)

pytestmark = pytest.mark.realdata


def _q(real_data: Path, sid: str) -> pd.Series:
    df = pd.read_csv(real_data / f"{sid}.csv", parse_dates=["date"], index_col="date")
    return df["discharge_m3s"]


def test_day_of_year_shares_29_february_with_28_february() -> None:
    d = day_of_year(["2003-02-28", "2004-02-28", "2004-02-29", "2004-03-01", "2003-03-01", "2004-12-31", "2001-01-01"])
    assert d.tolist() == [59, 59, 59, 60, 60, 365, 1]


def test_protva_band_is_ordered_with_the_flood_in_april(real_data: Path) -> None:
    q = _q(real_data, "PROTVA_SZ")
    band = climatology_band(q)
    t = band.table
    assert len(t) == 365 and band.window_days == 15 and len(band.years) >= 40
    assert (t["p10"] <= t["p50"]).all() and (t["p50"] <= t["p90"]).all()
    peak = dt.date(2001, 1, 1) + dt.timedelta(days=int(t["p50"].idxmax()) - 1)
    assert peak.month == 4  # the snowmelt flood
    # winter base flow of about 5-10 m3/s (median), a flood median 5-15 times higher, the wet tail above 200 m3/s
    winter = t.loc[day_of_year(pd.date_range("2001-01-10", "2001-02-20")), "p50"]
    assert 5 <= winter.median() <= 12
    assert 5 < t["p50"].max() / winter.median() < 15 and t["p90"].max() > 200
    assert (t["n"] >= 15 * 40).all()


def test_band_value_equals_the_quantile_of_the_calendar_window(real_data: Path) -> None:
    # independent of the implementation: all values from 6 to 20 April of the years with >= 80% of their days
    q = _q(real_data, "PROTVA_SZ").dropna()
    full = [y for y, n in q.groupby(q.index.year).size().items() if n >= 0.8 * (366 if y % 4 == 0 else 365)]
    q = q[q.index.year.isin(full)]
    win = q[(q.index.month == 4) & (q.index.day >= 6) & (q.index.day <= 20)]
    band = climatology_band(q)
    row = band.table.loc[day_of_year(["2001-04-13"])[0]]
    assert row["n"] == len(win)
    for name, p in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9)):
        assert row[name] == pytest.approx(np.quantile(win.to_numpy(), p), rel=1e-12)


def test_window_wraps_around_new_year(real_data: Path) -> None:
    q = _q(real_data, "PROTVA_SZ")
    t = climatology_band(q, window_days=31).table
    # 1 January's window holds 17-31 December: its values are close to 31 December's, not to mid-year's
    assert t.loc[1, "p50"] == pytest.approx(t.loc[365, "p50"], rel=0.1)
    one = climatology_band(q, window_days=1)
    assert one.table["n"].max() == len(one.years)  # one value per year and day (29 February averaged with the 28th)


def test_excluding_the_record_year_lowers_the_flood_tail(real_data: Path) -> None:
    q = _q(real_data, "PROTVA_SZ")
    all_years = climatology_band(q)
    without = climatology_band(q, exclude_years=[1970])
    assert 1970 in all_years.years and 1970 not in without.years
    assert len(without.years) == len(all_years.years) - 1
    april = day_of_year(pd.date_range("2001-04-05", "2001-04-20"))
    assert (without.table.loc[april, "p90"] <= all_years.table.loc[april, "p90"] + 1e-9).all()
    assert without.table.loc[april, "p90"].sum() < all_years.table.loc[april, "p90"].sum()


def test_albula_melt_peak_in_early_summer(real_data: Path) -> None:
    band = climatology_band(_q(real_data, "CH2141"))
    t = band.table
    peak = dt.date(2001, 1, 1) + dt.timedelta(days=int(t["p50"].idxmax()) - 1)
    assert peak.month in (5, 6, 7)
    assert (t["p10"] <= t["p50"]).all() and (t["p50"] <= t["p90"]).all()
    assert band.years[0] == 1981 and band.years[-1] == 2020


def test_last_year_and_shifted_curves_read_the_same_calendar_day(real_data: Path) -> None:
    q = _q(real_data, "PROTVA_SZ")
    dates = pd.date_range("2004-02-27", "2005-03-02")
    ly = last_year_curve(q, dates)
    assert ly.index.equals(dates)
    assert ly["2005-01-15"] == q["2004-01-15"]
    assert ly["2004-02-29"] == q["2003-02-28"]  # no 29 February in 2003
    assert ly["2005-03-01"] == q["2004-03-01"]
    assert shifted_year_curve(q, ["2005-04-13"], 35).iloc[0] == q["1970-04-13"] == 780.0
    # beyond the record: NaN, not an error
    assert np.isnan(last_year_curve(q, ["1956-06-01"]).iloc[0])


def test_record_year_of_the_protva_is_1970(real_data: Path) -> None:
    q = _q(real_data, "PROTVA_SZ")
    dates = pd.date_range("2004-12-01", "2005-05-31")
    r = record_year(q, dates)
    assert (r.year, r.peak, r.peak_date) == (1970, 780.0, dt.date(1970, 4, 13))
    # the window across New Year stays one stretch: December 1969 to May 1970
    assert r.values["2004-12-01"] == q["1969-12-01"] and r.values["2005-04-13"] == 780.0
    second = record_year(q, dates, exclude_years=[1970])
    assert second.year != 1970 and second.peak < 780.0
    assert second.peak == q[q.index.year != 1970].max()


def test_context_excludes_the_shown_years_and_builds_the_chart_members(real_data: Path) -> None:
    q = _q(real_data, "PROTVA_SZ")
    dates = pd.date_range("1970-03-01", "1970-05-31")
    ctx = hydrograph_context(q, dates)
    assert 1970 not in ctx.band_years and ctx.record.year != 1970  # compared with the other years only
    chart = ctx.to_chart()
    clim = chart["clim"]
    assert clim["dates"][0] == "1970-03-01" and len(clim["p10"]) == len(dates) == len(clim["p90"])
    assert all(a <= b <= c for a, b, c in zip(clim["p10"], clim["p50"], clim["p90"], strict=True))
    assert clim["years"] == [1956, 2005] and clim["n_years"] == len(ctx.band_years)
    assert chart["last_year"][0] == ["1970-03-01", q["1969-03-01"]]
    assert chart["record_year"]["values"][0][0] == "1970-03-01"
    # the observed 1970 flood (780) is far above the band's 90% of other years at the same days
    assert q["1970-04-13"] > 2 * ctx.band.loc["1970-04-13", "p90"]


def test_short_record_has_no_band_but_keeps_its_curves(real_data: Path) -> None:
    q = _q(real_data, "UZ16279_chatkal_khudaydod")  # 1965-01-01 to 1967-09-15
    assert climatology_band(q) is None
    assert climatology_band(q, min_years=2) is not None
    ctx = hydrograph_context(q, pd.date_range("1967-06-01", "1967-08-31"))
    chart = ctx.to_chart()
    assert chart["clim"] is None and chart["last_year"][0] == ["1967-06-01", q["1966-06-01"]]
    assert chart["record_year"]["year"] in (1965, 1966)


def test_bad_input_is_named() -> None:
    s = pd.Series([1.0, 2.0], index=pd.to_datetime(["2020-01-01", "2020-01-01"]))
    with pytest.raises(ValueError, match="duplicate date 2020-01-01"):
        climatology_band(s)
    with pytest.raises(ValueError, match="time zone"):
        climatology_band(pd.Series([1.0], index=pd.DatetimeIndex(["2020-01-01"], tz="Asia/Almaty")))
    with pytest.raises(ValueError, match="quantiles"):
        climatology_band(pd.Series([1.0], index=pd.to_datetime(["2020-01-01"])), quantiles=(0.5, 50))
    with pytest.raises(TypeError, match="pandas Series"):
        climatology_band([1.0, 2.0])  # type: ignore[arg-type]
