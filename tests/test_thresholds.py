"""Thresholds: official marks from the registry or a file, derived 2/5/20-year floods, versioning."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.thresholds import (
    changed,
    derive_thresholds,
    from_metadata,
    next_version,
    read_thresholds_csv,
    station_thresholds,
    usable_discharge,
)


def make_subset(real_data: Path, dest: Path, ids: list[str], extra: dict[str, dict] | None = None) -> Path:
    """A station-CSV folder with some of the real stations (optionally extra metadata columns)."""
    dest.mkdir(parents=True, exist_ok=True)
    st = pd.read_csv(real_data / "stations.csv", dtype={"station_id": str})
    st = st[st["station_id"].isin(ids)].copy()
    for sid, cols in (extra or {}).items():
        for c, v in cols.items():
            if c not in st:
                st[c] = np.nan
            st.loc[st["station_id"] == sid, c] = v
    st.to_csv(dest / "stations.csv", index=False)
    for sid in ids:
        shutil.copy(real_data / f"{sid}.csv", dest / f"{sid}.csv")
    return dest


@pytest.fixture(scope="module")
def store(real_data: Path, tmp_path_factory: pytest.TempPathFactory):
    from flows.ingest import run_ingest
    from forecasting.home import Home
    from forecasting.storage import open_store

    tmp = tmp_path_factory.mktemp("thr")
    src = make_subset(
        real_data,
        tmp / "src",
        ["CH2232", "UZ16279_chatkal_khudaydod", "PROTVA_SZ"],
        {"PROTVA_SZ": {"level_danger_cm": 650.0, "level_extreme_cm": 770.0}},
    )
    home = Home(tmp / "home").ensure()
    run_ingest(src, "station-csv", home)
    return open_store(home.observations)


def test_derived_thresholds_gumbel_by_hand_on_a_small_sample() -> None:
    """Six complete years with known annual maxima, one incomplete year with a larger maximum left out.

    By hand (REFERENCES.md, Gumbel by L-moments) on the sorted maxima 18, 27, 30, 42, 61, 95 (n = 6):
    b0 = 273/6 = 45.5; b1 = (0*18 + .2*27 + .4*30 + .6*42 + .8*61 + 1*95)/6 = 186.4/6 = 31.0667;
    lambda2 = 2*b1 - b0 = 16.6333; alpha = lambda2/ln 2 = 23.9968; xi = 45.5 - 0.5772*alpha = 31.6490;
    x_2 = xi - alpha ln(-ln 0.5) = 40.4442, x_5 = xi - alpha ln(-ln 0.8) = 67.6428, x_20 = 102.9243 m3/s.
    """
    days = pd.date_range("2001-01-01", "2007-12-31", freq="D")
    q = pd.Series(5.0, index=days)
    peaks = {2001: 42.0, 2002: 18.0, 2003: 95.0, 2004: 500.0, 2005: 30.0, 2006: 61.0, 2007: 27.0}
    for year, peak in peaks.items():
        q.loc[f"{year}-05-15"] = peak
    q.loc["2004-09-01":"2004-10-01"] = np.nan  # 31 missing days: 2004 (and its 500 m3/s) is incomplete
    table = derive_thresholds(q, "X").set_index("kind")
    assert table.loc["warning", "value"] == pytest.approx(40.4442, abs=1e-3)
    assert table.loc["danger", "value"] == pytest.approx(67.6428, abs=1e-3)
    assert table.loc["extreme", "value"] == pytest.approx(102.9243, abs=1e-3)
    assert (table["units"] == "m3/s").all() and (table["station_id"] == "X").all()
    assert table.loc["danger", "source"] == "derived: Gumbel L-moments 5-year flood of annual maxima"
    assert table.loc["warning", "years"] == (
        "2001-2007: 6 complete years (<= 30 missing days); left out: 2004; short record (< 10 years): very uncertain"
    )
    # 30 missing days still make a complete year: 2004 comes back with its 500 m3/s and raises every flood
    q.loc["2004-10-01"] = 5.0
    assert derive_thresholds(q, "X").set_index("kind").loc["warning", "value"] > 60.0
    with pytest.raises(ValueError, match="only 1 complete years"):
        derive_thresholds(q.loc[:"2001-12-31"], "X")


def test_derived_thresholds_of_a_real_station(store) -> None:
    # expected values fitted once from the raw CH2232 file with a few independent lines of numpy (the annual
    # maxima of 1981-2020 through the formula above); the QC-flagged days do not touch any annual maximum
    table = derive_thresholds(usable_discharge(store, "CH2232"), "CH2232").set_index("kind")
    assert table.loc["warning", "value"] == pytest.approx(7.1467, abs=1e-3)
    assert table.loc["danger", "value"] == pytest.approx(9.9471, abs=1e-3)
    assert table.loc["extreme", "value"] == pytest.approx(13.5798, abs=1e-3)
    assert (table["units"] == "m3/s").all()
    assert table.loc["extreme", "source"] == "derived: Gumbel L-moments 20-year flood of annual maxima"
    assert table.loc["warning", "years"] == "1981-2020: 40 complete years (<= 30 missing days)"


def test_station_thresholds_precedence_and_short_record(store, tmp_path: Path) -> None:
    table, notes = station_thresholds(store)
    # Protva has official marks in cm: only those, no derived values mixed in
    prot = table[table["station_id"] == "PROTVA_SZ"].set_index("kind")
    assert sorted(prot.index) == ["danger", "extreme"]
    assert prot.loc["danger", "value"] == 650.0 and prot.loc["danger", "units"] == "cm"
    assert prot.loc["danger", "source"].startswith("official: опасная отметка")
    # Chatkal: 1965-01-01..1967-09-15 has 2 complete years (1967 misses > 30 days): thresholds marked uncertain
    chat = table[table["station_id"] == "UZ16279_chatkal_khudaydod"]
    assert len(chat) == 3 and chat["years"].str.startswith("1965-1966: 2 complete years").all()
    assert chat["years"].str.contains("short record").all()
    # with a higher minimum it gets none, and the reason
    table2, notes2 = station_thresholds(store, min_years=5)
    assert "UZ16279_chatkal_khudaydod" not in set(table2["station_id"])
    assert "only 2 complete years" in notes2["UZ16279_chatkal_khudaydod"]
    assert not notes
    # a thresholds file overrides the registry; bad rows are quarantined with file, line and field
    f = tmp_path / "thr.csv"
    f.write_text(
        "station_id,kind,value,units,source\n"
        "PROTVA_SZ,warning,300,m3/s,official: выход на пойму\n"
        "PROTVA_SZ,опасная отметка,450,m3/s,\n"
        "PROTVA_SZ,danger,abc,m3/s,\n"
        "CH2232,severe,10,m3/s,\n",
        encoding="utf-8",
    )
    t3, notes3 = station_thresholds(store, thresholds_file=f)
    prot3 = t3[t3["station_id"] == "PROTVA_SZ"].set_index("kind")
    assert prot3.loc["warning", "value"] == 300 and prot3.loc["danger", "units"] == "m3/s"
    assert "extreme" not in prot3.index
    msg = notes3[str(f)]
    assert "line 4, field 'value'" in msg and "line 5, field 'kind'" in msg


def test_read_thresholds_csv_missing_column(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("station_id,kind,value\nA,danger,3\n")
    with pytest.raises(ValueError, match=r"t\.csv: missing column\(s\) units"):
        read_thresholds_csv(f)


def test_metadata_prefers_discharge() -> None:
    meta = pd.DataFrame(
        {"q_danger_m3s": [120.0, np.nan], "level_danger_cm": [600.0, 600.0], "level_warning_cm": [np.nan, 550.0]},
        index=pd.Index(["A", "B"], name="station_id"),
    )
    t = from_metadata(meta).set_index(["station_id", "kind"])
    assert t.loc[("A", "danger"), "units"] == "m3/s" and t.loc[("B", "danger"), "units"] == "cm"
    assert t.loc[("B", "warning"), "source"].startswith("official: неблагоприятная отметка")


def test_versioning_bumps_only_on_value_change() -> None:
    a = pd.DataFrame(
        {
            "station_id": ["X", "X"],
            "kind": ["warning", "danger"],
            "value": [10.0, 20.0],
            "units": ["m3/s"] * 2,
            "source": ["s", "s"],
            "years": [None, None],
        }
    )
    assert next_version(a, None, None) == (1, True)
    assert next_version(a.assign(source="other text"), a, 3) == (3, False)
    b = a.copy()
    b.loc[1, "value"] = 21.0
    assert changed(b, a) == [("X", "danger")]
    assert next_version(b, a, 3) == (4, True)
    assert next_version(a.iloc[:1], a, 3) == (4, True)  # a removed threshold is a change
    assert next_version(a.assign(units="cm"), a, 1) == (2, True)
