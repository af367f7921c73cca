"""Thresholds: official marks from the registry or a file, derived 2/5/20-year floods, versioning."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.extremes import annual_maxima, gumbel_lmoments, gumbel_return_level
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


def test_derived_thresholds_match_gumbel_by_hand(store) -> None:
    q = usable_discharge(store, "CH2232")
    table = derive_thresholds(q, "CH2232")
    am = annual_maxima(q, 30)
    xi, alpha = gumbel_lmoments(am.to_numpy())
    assert len(am) >= 30  # 1981-2020 record
    by_kind = table.set_index("kind")
    for kind, T in (("warning", 2), ("danger", 5), ("extreme", 20)):
        assert by_kind.loc[kind, "value"] == pytest.approx(gumbel_return_level(xi, alpha, T))
        assert by_kind.loc[kind, "units"] == "m3/s"
        assert f"{T}-year flood" in by_kind.loc[kind, "source"]
    assert by_kind.loc["warning", "value"] < by_kind.loc["danger", "value"] < by_kind.loc["extreme", "value"]
    assert by_kind.loc["warning", "years"].startswith(f"{am.index[0]}-{am.index[-1]}: {len(am)} complete years")


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
