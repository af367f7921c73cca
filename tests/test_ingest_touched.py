"""An ingest merges and QCs only the stations it touches (forecasting.store.touched_part/splice): the store it
writes is the one a merge and QC of everything gives, array for array, on real stations: values revised, days
added after and before the store's period, a new station, a new source file, a flagged typo."""

from __future__ import annotations

import pandas as pd
import pytest
import xarray as xr

from forecasting import qc
from forecasting.ingest import ingest
from forecasting.sources import get_adapter
from forecasting.store import build_dataset, merge

pytestmark = [pytest.mark.realdata, pytest.mark.excerpt]


def _write(folder, real_data, stations: dict[str, slice], edit=None) -> None:
    folder.mkdir()
    registry = pd.read_csv(real_data / "stations.csv", dtype=str)
    registry[registry["station_id"].isin(list(stations))].to_csv(folder / "stations.csv", index=False)
    for sid, rows in stations.items():
        df = pd.read_csv(real_data / f"{sid}.csv", dtype=str).iloc[rows]
        if edit is not None:
            df = edit(sid, df)
        df.to_csv(folder / f"{sid}.csv", index=False)


def test_touched_stations_only_give_the_whole_merge(real_data, tmp_path):
    registry = pd.read_csv(real_data / "stations.csv", dtype=str)
    ids = list(registry["station_id"])
    a, b = ids[0], ids[1]
    others = ids[2:4] if len(ids) >= 4 else []
    adapter = get_adapter("station-csv")
    first = {a: slice(400, 3000), b: slice(400, 2000), **{s: slice(400, 1500) for s in others}}
    _write(tmp_path / "first", real_data, first)
    store, _, rep = ingest(adapter.read(tmp_path / "first"), None, "first", "station-csv")
    assert rep.ok

    def edit(sid: str, df: pd.DataFrame) -> pd.DataFrame:
        if sid == a and "discharge_m3s" in df:
            q = pd.to_numeric(df["discharge_m3s"], errors="coerce")
            df["discharge_m3s"] = (q * 1.1).round(3).astype(str)  # every overlapping value revised
            df.loc[df.index[-1], "discharge_m3s"] = "99999"  # a typo on the newest day: held UNCONFIRMED
        return df

    # The second source: station a from before the store's first day to after its last (revised in between), b's
    # later years; the other stations are not touched.
    second = {a: slice(0, 3200), b: slice(1900, 2600)}
    _write(tmp_path / "second", real_data, second, edit)
    result = adapter.read(tmp_path / "second")
    new, _ = build_dataset(result)
    reference, ref_revisions = merge(store, new)
    reference = qc.run_qc(reference)
    spliced, revisions, report = ingest(result, store, "second", "station-csv")

    xr.testing.assert_identical(spliced, reference)
    pd.testing.assert_frame_equal(revisions.reset_index(drop=True), ref_revisions.reset_index(drop=True))
    assert report.revised == len(revisions) > 0
    assert report.unconfirmed >= 1 and any("held as unconfirmed" in m for m in report.messages)
    assert spliced.sizes["station"] == store.sizes["station"]
    assert pd.Timestamp(spliced["time"].values[0]) < pd.Timestamp(store["time"].values[0])

    # A third source with a station the store does not have: added, the others untouched.
    if len(ids) >= 5:
        _write(tmp_path / "third", real_data, {ids[4]: slice(0, 800)})
        result = adapter.read(tmp_path / "third")
        new, _ = build_dataset(result)
        reference = qc.run_qc(merge(spliced, new)[0])
        added, _, _ = ingest(result, spliced, "third", "station-csv")
        xr.testing.assert_identical(added, reference)
        assert added.sizes["station"] == spliced.sizes["station"] + 1


def test_store_built_in_blocks_equals_built_at_once(real_data, monkeypatch):
    """build_dataset handles a large table in blocks of whole stations: the dataset and the quarantine are those of
    the table handled at once (conflicting repeats from another file quarantined and flagged DUPLICATE)."""
    from forecasting import flags, store

    result = get_adapter("station-csv").read(real_data)
    obs = result.observations
    first = obs["station_id"].iloc[0]
    repeat = obs[obs["station_id"] == first].head(10)
    conflict = repeat.assign(value=repeat["value"] + 1.0, source_file="other.csv")
    monkeypatch.setattr(store, "BUILD_BLOCK_ROWS", 20_000)
    result.observations = pd.concat([obs, conflict], ignore_index=True)
    assert store._station_blocks(result.observations) == [(0, len(result.observations))]  # station split: one block
    result.observations = result.observations.sort_values("station_id", kind="stable")
    blocks = store._station_blocks(result.observations)
    assert len(blocks) > 5 and blocks[0][0] == 0 and blocks[-1][1] == len(result.observations)
    monkeypatch.setattr(store, "BUILD_BLOCK_ROWS", 10**9)
    once, q1 = build_dataset(result)
    monkeypatch.setattr(store, "BUILD_BLOCK_ROWS", 20_000)
    in_blocks, q2 = build_dataset(result)
    xr.testing.assert_identical(in_blocks, once)
    assert [q.message() for q in q2] == [q.message() for q in q1]
    assert sum("conflicting value" in q.reason for q in q1) == 10
    dup = sum(int(((once[f"{v}_qc"].values & flags.DUPLICATE) != 0).sum()) for v in store.data_variables(once))
    assert dup == 10
