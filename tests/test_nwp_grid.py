"""nwp-grid: real GRIB2 files written with ecCodes from numpy fields of known values, de-accumulated into local
days (Asia/Almaty, UTC+5) and averaged over basins; bad input quarantined with file and field."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

eccodes = pytest.importorskip("eccodes")

from forecasting.basins import read_basins  # noqa: E402
from forecasting.sources.nwp_grid import read_nwp_grid  # noqa: E402

LAT0, LAT1, LON0, LON1, D = 52.0, 48.0, 70.0, 74.0, 0.25  # north to south, as ECMWF writes it
NJ, NI = 17, 17
RUN = pd.Timestamp("2024-04-01 00:00")  # 00 UTC = 05:00 in Almaty
STEPS = [*range(0, 73, 3), *range(78, 121, 6)]  # 3-hourly to 72 h, then 6-hourly (ECMWF open data)


def write_grib(path, fields, typ=1):
    """fields: (shortName, step h, 2-D array north->south x west->east) -> GRIB2 messages of one 00 UTC run."""
    with open(path, "wb") as fh:
        for short, step, vals in fields:
            gid = eccodes.codes_grib_new_from_samples("regular_ll_sfc_grib2")
            for k, v in (("centre", "ecmf"), ("dataDate", 20240401), ("dataTime", 0), ("typeOfProcessedData", typ)):
                eccodes.codes_set(gid, k, v)
            for k, v in (("Ni", NI), ("Nj", NJ), ("jScansPositively", 0)):
                eccodes.codes_set(gid, k, v)
            for k, v in (
                ("latitudeOfFirstGridPointInDegrees", LAT0),
                ("latitudeOfLastGridPointInDegrees", LAT1),
                ("longitudeOfFirstGridPointInDegrees", LON0),
                ("longitudeOfLastGridPointInDegrees", LON1),
                ("iDirectionIncrementInDegrees", D),
                ("jDirectionIncrementInDegrees", D),
            ):
                eccodes.codes_set(gid, k, v)
            if short == "tp":
                eccodes.codes_set(gid, "paramId", 228)
                eccodes.codes_set(gid, "stepType", "accum")
                eccodes.codes_set(gid, "startStep", 0)
                eccodes.codes_set(gid, "endStep", int(step))
            else:
                eccodes.codes_set(gid, "paramId", 167)
                eccodes.codes_set(gid, "step", int(step))
            eccodes.codes_set(gid, "bitsPerValue", 24)
            eccodes.codes_set_values(gid, np.asarray(vals, dtype=float).ravel())
            eccodes.codes_write(gid, fh)
            eccodes.codes_release(gid)


def lons():
    return LON0 + D * np.arange(NI)


def rate(h: int) -> float:
    """Precipitation rate (mm/h) over the step interval containing hour h of the run (constant within it)."""
    s = max(s for s in STEPS if s <= h) if h < STEPS[-1] else STEPS[-2]
    return 0.1 * ((s // 3) % 5)


def accumulated(step: int, factor: np.ndarray) -> np.ndarray:
    """tp (m) accumulated from step 0: the integral of rate x factor (a field of per-column factors)."""
    return np.full((NJ, NI), sum(rate(h) for h in range(step)) / 1000.0) * factor


def expected_daily(factor: float = 1.0, last_step: int = STEPS[-1]) -> dict[pd.Timestamp, float]:
    """Local-day sums by direct hour-by-hour integration (local = UTC + 5); only fully covered days."""
    out: dict[pd.Timestamp, float] = {}
    hours: dict[pd.Timestamp, int] = {}
    for h in range(last_step):
        day = (RUN + pd.Timedelta(hours=h + 5)).normalize()
        out[day] = out.get(day, 0.0) + rate(h) * factor
        hours[day] = hours.get(day, 0) + 1
    return {d: v for d, v in out.items() if hours[d] == 24}


@pytest.fixture()
def basins(tmp_path):
    feats = [
        # two whole cells of equal area (centres 71.0 and 71.25 E, one row at 49.25 N)
        ("TWO_CELLS", [[70.875, 49.125], [71.375, 49.125], [71.375, 49.375], [70.875, 49.375], [70.875, 49.125]]),
        ("OUTSIDE", [[71.0, 60.0], [72.0, 60.0], [72.0, 61.0], [71.0, 61.0], [71.0, 60.0]]),
    ]
    gj = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"basin_id": b}, "geometry": {"type": "Polygon", "coordinates": [c]}}
            for b, c in feats
        ],
    }
    (tmp_path / "basins").mkdir()
    (tmp_path / "basins" / "b.geojson").write_text(json.dumps(gj))
    return read_basins(tmp_path / "basins")


def per_column(a: float, b: float) -> np.ndarray:
    """A factor field: `a` on the column of 71.0 E, `b` on 71.25 E, 1 elsewhere."""
    f = np.ones((NJ, NI))
    f[:, np.isclose(lons(), 71.0)] = a
    f[:, np.isclose(lons(), 71.25)] = b
    return f


def daily(result, sid="TWO_CELLS", var="precip_mm"):
    r = result.runs[(result.runs["station_id"] == sid) & (result.runs["variable"] == var)]
    day0 = pd.Timestamp("2024-04-01")
    return {day0 + pd.Timedelta(days=int(k)): v for k, v in zip(r["lead"], r["value"], strict=True)}


def test_daily_sums_per_local_day_and_exact_basin_means(tmp_path, basins):
    f = per_column(1.0, 3.0)  # the basin mean of the two equal cells is 2x the rate
    write_grib(tmp_path / "ecmwf-ifs_run.grib2", [("tp", s, accumulated(s, f)) for s in STEPS])
    res = read_nwp_grid(tmp_path / "ecmwf-ifs_run.grib2", basins)
    got = daily(res)
    want = expected_daily(2.0)
    assert sorted(got) == sorted(want)  # 2024-04-02 .. 2024-04-05; the partial first and last local days are left out
    assert pd.Timestamp("2024-04-01") not in got and pd.Timestamp("2024-04-06") not in got
    for d, v in want.items():
        assert got[d] == pytest.approx(v, abs=1e-3)
    assert set(res.runs["source"]) == {"ecmwf-ifs"}
    assert (res.runs["forecast_reference_time"] == RUN).all()
    assert any("partly covered" in m for m in res.messages)
    # the basin outside the grid: a quarantined entry naming it, and no value invented
    out = [q for q in res.quarantine if q.field == "OUTSIDE"]
    assert out and "outside the grid" in out[0].reason
    assert "OUTSIDE" not in set(res.runs["station_id"])


def test_missing_step_keeps_the_daily_totals(tmp_path, basins):
    f = per_column(1.0, 1.0)
    full = [("tp", s, accumulated(s, f)) for s in STEPS]
    # without step 30 the interval 27-33 h (08:00-14:00 local on 04-02, rates 0.4 then 0 mm/h) is one interval:
    # the accumulation keeps the total, and the interval lies inside one local day
    assert rate(27) != rate(30)
    gap = [x for x in full if x[1] != 30]
    write_grib(tmp_path / "full.grib2", full)
    write_grib(tmp_path / "gap.grib2", gap)
    a = daily(read_nwp_grid(tmp_path / "full.grib2", basins))
    b = daily(read_nwp_grid(tmp_path / "gap.grib2", basins))
    assert sorted(a) == sorted(b)
    for d in a:  # 27..33 h lies inside local day 2024-04-02 (08:00..14:00): its total is unchanged
        assert b[d] == pytest.approx(a[d], abs=1e-3)


def test_negative_accumulation_difference_is_clipped_and_reported(tmp_path, basins):
    f = per_column(1.0, 1.0)
    fields = [("tp", s, accumulated(s, f)) for s in STEPS]
    k = STEPS.index(24)
    fields[k] = ("tp", 24, fields[k - 1][2] - 0.0002)  # 0.2 mm below the previous step: packing noise
    write_grib(tmp_path / "neg.grib2", fields)
    res = read_nwp_grid(tmp_path / "neg.grib2", basins)
    assert any("negative accumulation" in m and "set to 0" in m for m in res.messages)
    assert (res.runs["value"] >= 0).all()


def test_run_covering_part_of_the_lead_days(tmp_path, basins):
    f = per_column(1.0, 1.0)
    write_grib(tmp_path / "short.grib2", [("tp", s, accumulated(s, f)) for s in STEPS if s <= 48])
    got = daily(read_nwp_grid(tmp_path / "short.grib2", basins))
    want = expected_daily(1.0, last_step=48)
    assert sorted(got) == sorted(want) == [pd.Timestamp("2024-04-02")]  # 48 h ends at 05:00 on 04-03
    assert got[pd.Timestamp("2024-04-02")] == pytest.approx(want[pd.Timestamp("2024-04-02")], abs=1e-3)


def test_temperature_daily_min_max_mean_in_degc(tmp_path, basins):
    def temp(h):  # degC at hour h of the run: a daily cycle and a trend
        return 5.0 + 0.1 * h + 6.0 * np.sin(2 * np.pi * (h + 5 - 9) / 24)

    write_grib(tmp_path / "t.grib2", [("2t", s, np.full((NJ, NI), 273.15 + temp(s))) for s in STEPS])
    res = read_nwp_grid(tmp_path / "t.grib2", basins)
    day = pd.Timestamp("2024-04-02")  # local 00..24 = run hours 19..43: steps 21..42 (8 instants)
    inst = [temp(s) for s in STEPS if 19 <= s < 43]
    assert daily(res, var="tmin_c")[day] == pytest.approx(min(inst), abs=1e-3)
    assert daily(res, var="tmax_c")[day] == pytest.approx(max(inst), abs=1e-3)
    assert daily(res, var="tmean_c")[day] == pytest.approx(np.mean(inst), abs=1e-3)


def test_bad_grib_input_is_quarantined_naming_file_and_field(tmp_path, basins):
    f = per_column(1.0, 1.0)
    write_grib(tmp_path / "analysis.grib2", [("2t", 0, np.full((NJ, NI), 280.0))], typ=0)
    res = read_nwp_grid(tmp_path / "analysis.grib2", basins)
    assert res.runs.empty and any("not a forecast" in q.reason for q in res.quarantine)
    assert all(q.file.endswith("analysis.grib2") for q in res.quarantine)
    # a broken step axis: step 12 twice with different fields; the temperature of the same file is kept
    fields = [("tp", s, accumulated(s, f)) for s in STEPS] + [("tp", 12, accumulated(12, f) + 0.01)]
    fields += [("2t", s, np.full((NJ, NI), 280.0)) for s in STEPS]
    write_grib(tmp_path / "broken.grib2", fields)
    res = read_nwp_grid(tmp_path / "broken.grib2", basins)
    q = [x for x in res.quarantine if "broken step axis" in x.reason]
    assert q and q[0].field == "tp" and "12 h" in q[0].reason
    assert set(res.runs["variable"]) == {"tmin_c", "tmax_c", "tmean_c"}


def test_netcdf_forecast_same_as_grib_and_bad_netcdf(tmp_path, basins):
    import xarray as xr

    f = per_column(1.0, 3.0)
    lat = LAT0 - D * np.arange(NJ)
    da = np.stack([accumulated(s, f) for s in STEPS])
    ds = xr.Dataset(
        {"tp": (("step", "latitude", "longitude"), da, {"units": "m"}), "msl": (("latitude", "longitude"), f)},
        coords={
            "forecast_reference_time": RUN,
            "step": pd.to_timedelta(STEPS, unit="h"),
            "latitude": lat,
            "longitude": lons(),
        },
    )
    ds.to_netcdf(tmp_path / "ecmwf-ifs_run.nc")
    res = read_nwp_grid(tmp_path / "ecmwf-ifs_run.nc", basins)
    got = daily(res)
    for d, v in expected_daily(2.0).items():
        assert got[d] == pytest.approx(v, abs=1e-3)
    assert any("msl" in m and "not understood" in m for m in res.messages)
    bad = ds.copy()
    bad["tp"].attrs["units"] = "furlongs"
    bad.to_netcdf(tmp_path / "units.nc")
    res = read_nwp_grid(tmp_path / "units.nc", basins)
    assert res.runs.empty and any(q.field == "tp" and "unknown units 'furlongs'" in q.reason for q in res.quarantine)
    ds.drop_vars("forecast_reference_time").to_netcdf(tmp_path / "noref.nc")
    res = read_nwp_grid(tmp_path / "noref.nc", basins)
    assert res.runs.empty and any("not a forecast" in q.reason for q in res.quarantine)


def test_station_without_polygon_takes_the_nearest_cell(tmp_path, basins):
    f = per_column(1.0, 3.0)
    write_grib(tmp_path / "run.grib2", [("tp", s, accumulated(s, f)) for s in STEPS])
    points = {"POST_71_3": (49.3, 71.3), "FAR_AWAY": (43.0, 20.0)}  # nearest cell: 49.25 N, 71.25 E (factor 3)
    res = read_nwp_grid(tmp_path / "run.grib2", basins, points)
    got = daily(res, sid="POST_71_3")
    for d, v in expected_daily(3.0).items():
        assert got[d] == pytest.approx(v, abs=1e-3)
    assert "FAR_AWAY" not in set(res.runs["station_id"])  # outside the grid: nothing invented
