"""No alert from a typo: suspect newest values are held UNCONFIRMED (masked, listed with a reason) until confirmed;
non-finite numbers are never usable; thresholds are fitted on QC'd values only."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.ingest import run_ingest
from forecasting import flags, qc
from forecasting.confirmations import ConfirmationError, confirm, list_unconfirmed, read_confirmations
from forecasting.home import Home
from forecasting.sources.kazhydromet import parse_numbers
from forecasting.sources.numbers import parse_number
from forecasting.storage import open_store
from forecasting.thresholds import station_thresholds
from forecasting.variables import qc_name

SID = "CH2232"  # Allenbach - Adelboden: 0.09..21.5 m3/s, 1981-2020


def _flag(ds, var: str, day: str, sid: str = SID) -> int:
    return int(ds[qc_name(var)].sel(station=sid, time=day).item())


def _issue_day_file(folder: Path, rows: list[tuple[str, str]], sid: str = SID) -> Path:
    """A station-CSV file of `sid` with (date, discharge text) rows, as a new day's export."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{sid}.csv"
    path.write_text("date,discharge_m3s\n" + "".join(f"{d},{q}\n" for d, q in rows), encoding="utf-8")
    return folder


@pytest.fixture()
def real_home(real_data: Path, tmp_path: Path) -> Home:
    """A home with the Allenbach's real record (and a second station) ingested."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("stations.csv", f"{SID}.csv", "CH2426.csv"):
        shutil.copy(real_data / name, src / name)
    home = Home(tmp_path / "home").ensure()
    assert run_ingest(src, "station-csv", home).ok
    return home


def test_typo_99999_on_the_issue_day_is_held_masked_listed_and_leaves_thresholds_alone(
    real_home: Home, tmp_path: Path
) -> None:
    before = open_store(real_home.observations)
    th_before, _ = station_thresholds(qc.usable(before))
    report = run_ingest(_issue_day_file(tmp_path / "day1", [("2021-01-01", "99999")]), "station-csv", real_home)
    assert report.unconfirmed == 1 and "held unconfirmed" in report.summary()
    assert any("held as unconfirmed" in m and "2021-01-01" in m for m in report.messages)
    ds = open_store(real_home.observations)
    assert float(ds["discharge_m3s"].sel(station=SID, time="2021-01-01")) == 99999.0  # kept, never deleted
    assert _flag(ds, "discharge_m3s", "2021-01-01") & flags.UNCONFIRMED
    assert "unconfirmed" in flags.describe(_flag(ds, "discharge_m3s", "2021-01-01"))
    use = qc.usable(ds)
    assert np.isnan(float(use["discharge_m3s"].sel(station=SID, time="2021-01-01")))
    assert float(use["discharge_m3s"].sel(station=SID, time="2020-12-31")) == pytest.approx(0.465)
    th_after, _ = station_thresholds(use)
    pd.testing.assert_frame_equal(th_before.reset_index(drop=True), th_after.reset_index(drop=True))
    held = list_unconfirmed(real_home)
    assert len(held) == 1
    row = held.iloc[0]
    assert (row.station_id, row.variable, str(row.date.date()), row.value) == (
        SID,
        "discharge_m3s",
        "2021-01-01",
        99999.0,
    )
    assert row.reason.startswith("99999 m3/s is 4654.6 x the station's largest accepted value before it (21.484")


def test_overflowing_and_huge_numbers_are_never_usable(real_home: Home, tmp_path: Path) -> None:
    report = run_ingest(
        _issue_day_file(tmp_path / "day", [("2021-01-01", "1e400"), ("2021-01-02", "1e308"), ("2021-01-03", "inf")]),
        "station-csv",
        real_home,
    )
    reasons = {q.line: q.reason for q in report.quarantine}
    assert "not a number: '1e400'" in reasons[2] and "not a number: 'inf'" in reasons[4]
    ds = open_store(real_home.observations)
    assert float(ds["discharge_m3s"].sel(station=SID, time="2021-01-02")) == 1e308
    assert _flag(ds, "discharge_m3s", "2021-01-02") & flags.IMPOSSIBLE
    assert np.isfinite(ds["discharge_m3s"].values[~np.isnan(ds["discharge_m3s"].values)]).all()
    assert np.isnan(float(qc.usable(ds)["discharge_m3s"].sel(station=SID, time="2021-01-02")))


def test_kazhydromet_numbers_overflowing_to_inf_are_bad_cells() -> None:
    assert parse_number("1e400").kind == "bad"
    assert parse_number("-1e400").kind == "bad"
    assert parse_number(float("inf")).kind == "bad"
    assert parse_number("1,5e3").value == 1500.0
    values, kinds = parse_numbers(np.array(["12,5", "1e400", "inf", "-", "нб"], dtype=object))
    assert list(kinds) == [0, 3, 3, 1, 2]
    assert np.isnan(values[1]) and values[0] == 12.5


def test_store_never_keeps_a_non_finite_value_from_any_adapter() -> None:
    from forecasting.canonical import AdapterResult
    from forecasting.store import build_dataset

    obs = pd.DataFrame(
        {
            "station_id": ["A", "A", "A"],
            "date": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"]),
            "variable": ["discharge_m3s"] * 3,
            "value": [1.0, np.inf, np.nan],
            "source_file": ["grid.nc"] * 3,
            "source_row": [1, 2, 3],
        }
    )
    ds, quarantine = build_dataset(AdapterResult(observations=obs))
    assert [q.line for q in quarantine] == [2, 3]
    assert "not a finite number" in quarantine[0].message() and "grid.nc, line 2" in quarantine[0].message()
    assert int(ds["discharge_m3s"].notnull().sum()) == 1


def test_tenfold_typo_on_the_newest_day_is_held_then_the_spike_test_takes_over(real_home: Home, tmp_path: Path) -> None:
    """A lost or added digit within the record's range: held while it is the newest day; when the next day comes
    back to the river's level, SPIKE flags the typo and the new day is usable."""
    run_ingest(_issue_day_file(tmp_path / "d1", [("2021-01-01", "4.8")]), "station-csv", real_home)  # 0.465 -> 4.8
    ds = open_store(real_home.observations)
    assert _flag(ds, "discharge_m3s", "2021-01-01") & flags.UNCONFIRMED
    reason = list_unconfirmed(real_home).iloc[0].reason
    assert "x the value 1 day(s) before (0.465 m3/s" in reason and "no later day confirms it yet" in reason
    run_ingest(_issue_day_file(tmp_path / "d2", [("2021-01-02", "0.47")]), "station-csv", real_home)
    ds = open_store(real_home.observations)
    assert not _flag(ds, "discharge_m3s", "2021-01-01") & flags.UNCONFIRMED
    assert _flag(ds, "discharge_m3s", "2021-01-01") & flags.SPIKE
    assert _flag(ds, "discharge_m3s", "2021-01-02") == 0
    assert list_unconfirmed(real_home).empty


def test_a_real_rise_and_a_rainy_flash_flood_are_not_held(real_home: Home, tmp_path: Path) -> None:
    # a threefold rise (snowmelt), then a 15-fold rise on a day with 35 mm of rain, to 2.8 x the record (21.5)
    folder = tmp_path / "rise"
    folder.mkdir()
    (folder / f"{SID}.csv").write_text(
        "date,discharge_m3s,precip_mm\n2021-01-01,1.4,2\n2021-01-02,3.9,4\n2021-01-03,60,35\n", encoding="utf-8"
    )
    run_ingest(folder, "station-csv", real_home)
    ds = open_store(real_home.observations)
    for day in ("2021-01-01", "2021-01-02", "2021-01-03"):
        assert _flag(ds, "discharge_m3s", day) == 0, day
    # the accepted 60 m3/s is part of the record now; 250 m3/s (4.2 x it) the next day is held, rain or not
    run_ingest(_issue_day_file(tmp_path / "d4", [("2021-01-04", "250")]), "station-csv", real_home)
    ds = open_store(real_home.observations)
    assert _flag(ds, "discharge_m3s", "2021-01-04") & flags.UNCONFIRMED


def test_confirmation_makes_the_value_usable_and_survives_later_ingests(real_home: Home, tmp_path: Path) -> None:
    run_ingest(_issue_day_file(tmp_path / "d1", [("2021-01-01", "80")]), "station-csv", real_home)
    assert len(list_unconfirmed(real_home)) == 1
    with pytest.raises(ConfirmationError, match="is 80 m3/s in the store, not 8;"):
        confirm(real_home, SID, "discharge_m3s", "2021-01-01", 8.0, "a.hydrologist")
    with pytest.raises(ConfirmationError, match="needs the name"):
        confirm(real_home, SID, "discharge_m3s", "2021-01-01", 80.0, "  ")
    with pytest.raises(ConfirmationError, match="not held"):
        confirm(real_home, SID, "discharge_m3s", "2020-12-31", 0.465, "a.hydrologist")
    with pytest.raises(ConfirmationError, match="not in the store"):
        confirm(real_home, "../etc", "discharge_m3s", "2021-01-01", 80.0, "a.hydrologist")
    rec = confirm(real_home, SID, "discharge_m3s", "2021-01-01", 80.0, "a.hydrologist", note="checked by phone")
    assert rec.confirmed_by == "a.hydrologist" and rec.value == 80.0
    ds = open_store(real_home.observations)
    assert _flag(ds, "discharge_m3s", "2021-01-01") == 0
    assert float(qc.usable(ds)["discharge_m3s"].sel(station=SID, time="2021-01-01")) == 80.0
    assert list_unconfirmed(real_home).empty
    log = read_confirmations(real_home)
    assert list(log[["station_id", "confirmed_by", "note"]].iloc[0]) == [SID, "a.hydrologist", "checked by phone"]
    # the next ingest keeps it confirmed, and the confirmed flood is part of the record now: 85 is not held
    run_ingest(_issue_day_file(tmp_path / "d2", [("2021-01-02", "85")]), "station-csv", real_home)
    ds = open_store(real_home.observations)
    assert _flag(ds, "discharge_m3s", "2021-01-01") == 0 and _flag(ds, "discharge_m3s", "2021-01-02") == 0
    # a revised value is checked afresh: the confirmation was for 80, not for 800
    run_ingest(_issue_day_file(tmp_path / "d3", [("2021-01-01", "800")]), "station-csv", real_home)
    ds = open_store(real_home.observations)
    assert _flag(ds, "discharge_m3s", "2021-01-01") & flags.UNCONFIRMED


def test_level_typo_beyond_the_recorded_range_is_held_but_a_datum_shift_is_not() -> None:
    rng = np.random.default_rng(3)
    level = 49300 + 80 * np.sin(np.arange(800) / 58.0) + rng.normal(0, 2, 800)  # an elevation, cm
    values = np.concatenate([level, [49100.0, 94300.0]])  # a 2 m datum shift, then a swapped digit
    held, reasons = qc.unconfirmed_check(values[None, :], "water_level_cm", qc.QCConfig(), explain=True)
    assert held[0].tolist()[-2:] == [False, True] and held.sum() == 1
    assert "outside the station's recorded range" in reasons[(0, 801)]


def test_no_false_holds_on_the_real_record(real_data: Path) -> None:
    from forecasting.sources import get_adapter
    from forecasting.store import build_dataset

    ds, _ = build_dataset(get_adapter("station-csv").read(real_data))
    checked = qc.run_qc(ds)
    for var in ("discharge_m3s", "water_level_cm"):
        assert not ((checked[qc_name(var)].values & flags.UNCONFIRMED) != 0).any(), var
    assert qc.unconfirmed_values(checked).empty
