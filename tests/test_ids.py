"""Ids from data files never reach outside the home: one id rule checked where ids enter, one safe path builder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.ingest import run_ingest
from forecasting.home import Home
from forecasting.ids import InvalidId, UnsafePath, check_id, is_valid_id, safe_filename, safe_join
from forecasting.sources import get_adapter
from forecasting.storage import open_store, write_quarantine

HOSTILE = [
    "../../../../somewhere",
    "..",
    ".hidden",
    "/etc/cron.d/x",
    "C:\\Windows\\x",
    "a\x00b",
    "line\nbreak",
    "tab\there",
    "-rf",
    "=HYPERLINK(1)",
    "+1",
    "@SUM",
    "x" * 65,
    "€" * 5000,
    "a..b",
    " lead",
    "",
]
GOOD = ["CH2232", "11432", "Есіл", "Қаратал", "Өскемен_2", "с. Балкашино", "Улькен Нарын, маршрут 1", "_global", "A(1)"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_ids_are_rejected_with_the_rule(value: str) -> None:
    assert not is_valid_id(value)
    with pytest.raises(InvalidId, match="not a valid id .*letters .any script., digits"):
        check_id(value, "basin")


@pytest.mark.parametrize("value", GOOD)
def test_real_ids_in_any_script_pass(value: str) -> None:
    assert check_id(value) == value


def test_decomposed_cyrillic_is_normalised() -> None:
    nfd = "Жаи\u0306ық"  # й as и + combining breve, as macOS file names give it
    assert check_id(nfd) == "Жайық"


@pytest.mark.parametrize(
    "parts", [("..",), ("../x",), ("/etc",), ("a\x00",), ("x" * 300,), ("", "a"), (".",), ("a", "..", "..")]
)
def test_safe_join_refuses_every_way_out(tmp_path: Path, parts: tuple[str, ...]) -> None:
    with pytest.raises(UnsafePath):
        safe_join(tmp_path, *parts)


def test_safe_join_refuses_a_symlink_out_and_home_child(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    base = tmp_path / "home"
    base.mkdir()
    os.symlink(outside, base / "link")
    with pytest.raises(UnsafePath, match="leaves"):
        safe_join(base, "link", "model.json")
    home = Home(base)
    assert home.child("models", "Есіл") == base.resolve() / "models" / "Есіл"
    with pytest.raises(UnsafePath):
        home.child("models", "../../../../somewhere")


def test_quarantine_file_name_from_a_hostile_source_stays_in_the_folder(tmp_path: Path) -> None:
    from forecasting.canonical import QuarantinedRow

    q = tmp_path / "quarantine"
    for source in ("../../../../evil", "/abs/path/..", "name\nwith\x00nul", "é" * 400, "-", ".."):
        path = write_quarantine(q, source, [QuarantinedRow("f", 1, None, "why")])
        assert path.parent == q.resolve() and path.exists(), source
        assert len(path.name.encode()) <= 255
    assert ".." not in safe_filename("../../x") and "/" not in safe_filename("../../x")


def _station_folder(folder: Path, stations: list[dict], files: dict[str, int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(stations).to_csv(folder / "stations.csv", index=False)
    dates = pd.date_range("2019-01-01", periods=800, freq="D")
    q = 10 + 5 * np.sin(np.arange(800) / 58.0)
    for name, n in files.items():
        (folder / f"{name}.csv").write_text(
            "date,discharge_m3s\n" + "".join(f"{d:%Y-%m-%d},{v:.2f}\n" for d, v in zip(dates[:n], q[:n], strict=True)),
            encoding="utf-8",
        )
    return folder


def test_stations_csv_hostile_ids_are_quarantined_and_never_reach_the_model_folder(tmp_path: Path) -> None:
    long_id = "Q" * 10_000
    folder = _station_folder(
        tmp_path / "src",
        [
            {"station_id": "GOOD1", "name": "ok", "basin": "../../../../somewhere"},
            {"station_id": "GOOD2", "name": "ok", "basin": "/tmp/abs"},
            {"station_id": "GOOD3", "name": "ok", "basin": "Есіл"},
            {"station_id": "../../x", "name": "evil", "basin": "B"},
            {"station_id": long_id, "name": "long", "basin": "B"},
        ],
        {"GOOD1": 800, "GOOD2": 800, "GOOD3": 800, ".hidden": 10, "=cmd()": 10},
    )
    home = Home(tmp_path / "home").ensure()
    report = run_ingest(folder, "station-csv", home)
    msgs = [q.message() for q in report.quarantine]
    assert any("line 2, field 'basin'" in m and "'../../../../somewhere' is not a valid id" in m for m in msgs)
    assert any("line 3, field 'basin'" in m and "'/tmp/abs'" in m for m in msgs)
    assert any("line 5, field 'station_id'" in m and "'../../x'" in m for m in msgs)
    assert any("line 6, field 'station_id'" in m and "10000 characters" in m for m in msgs)
    assert any(".hidden.csv" in m and "starts with '.'" in m for m in msgs)
    assert any("=cmd().csv" in m and "not allowed" in m for m in msgs)
    ds = open_store(home.observations)
    from forecasting.store import station_table

    basins = station_table(ds)["basin"].to_dict()
    assert basins == {"GOOD1": "GOOD1", "GOOD2": "GOOD2", "GOOD3": "Есіл"}
    assert not (tmp_path / "somewhere").exists()


def test_model_registry_refuses_a_basin_outside_the_models_folder(tmp_path: Path) -> None:
    from forecasting.model_registry import current_version, list_versions, load_model, save_model, set_current_version
    from forecasting.models.baselines import Climatology, Persistence

    models = tmp_path / "home" / "models"
    models.mkdir(parents=True)
    for bad in ("../../../../somewhere", "/abs", "a\x00b", "x" * 70):
        from forecasting.model_registry import BasinModel

        bm = BasinModel(bad, "v1", ["S"], None, Climatology([1]), Persistence([1]))
        with pytest.raises(InvalidId):
            save_model(models, bm)
        with pytest.raises(InvalidId):
            set_current_version(models, bad, "v1")
        for fn in (current_version, list_versions, load_model):
            with pytest.raises(InvalidId):
                fn(models, bad)
    with pytest.raises(InvalidId):
        load_model(models, "B", "../../../etc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
    assert list(models.iterdir()) == []


def test_train_reports_a_store_basin_that_is_not_an_id_and_writes_nothing(tmp_path: Path) -> None:
    """A store written before ids were checked (or by hand) with a hostile basin: train names it as failed."""
    from flows.train import train_flow
    from forecasting.storage import write_netcdf_atomic
    from forecasting.store import set_station_metadata

    folder = _station_folder(tmp_path / "src", [{"station_id": "S1", "name": "s"}], {"S1": 800})
    home = Home(tmp_path / "home").ensure()
    run_ingest(folder, "station-csv", home)
    ds = open_store(home.observations)
    ds = set_station_metadata(ds, pd.DataFrame({"basin": ["../../../../somewhere"]}, index=pd.Index(["S1"])))
    write_netcdf_atomic(ds, home.observations)
    out = train_flow(home=home.root)
    assert out["trained"] == {}
    assert "not a valid id" in out["failed"]["../../../../somewhere"]
    assert list(home.models_dir.iterdir()) == []
    assert not (tmp_path / "somewhere").exists()


def test_snow_survey_point_and_basin_ids_are_checked(tmp_path: Path) -> None:
    (tmp_path / "map.csv").write_text(
        "survey_station;basin_id\nPoint A;../../../../somewhere\nPoint B;Ertis\n", encoding="utf-8"
    )
    (tmp_path / "s.csv").write_text(
        "Дата;Пункт;Высота снега, см;Плотность, г/см3;Запас воды, мм\n"
        "15.02.2024;Point A;40;0,25;100\n15.02.2024;Point B;50;0,2;100\n15.02.2024;../../evil;30;0,2;60\n"
        "15.02.2024;a\x01b;30;0,2;60\n",
        encoding="utf-8",
    )
    r = get_adapter("snow-survey").read(tmp_path)
    msgs = [q.message() for q in r.quarantine]
    assert any("map.csv, line 2, field 'basin_id'" in m and "not a valid id" in m for m in msgs)
    assert any("s.csv, line 4, field 'Пункт'" in m and "'../../evil'" in m for m in msgs)
    assert any("s.csv, line 5" in m and "U+0001" in m for m in msgs)
    assert set(r.observations["station_id"]) == {"Point A", "Ertis"}  # A is unmapped now: its own series


def test_geojson_basin_ids_are_checked_before_they_become_stations(tmp_path: Path) -> None:
    import xarray as xr

    from forecasting.sources.gridded import basin_means

    feats = [
        {
            "type": "Feature",
            "properties": {"basin_id": bid},
            "geometry": {"type": "Polygon", "coordinates": [[[70, 50], [71, 50], [71, 51], [70, 51], [70, 50]]]},
        }
        for bid in ("../../../../somewhere", "Nura")
    ]
    (tmp_path / "b.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    lat, lon = np.arange(49.25, 52, 0.5), np.arange(69.25, 72, 0.5)
    ds = xr.Dataset(
        {"t2m": (("time", "lat", "lon"), np.full((2, len(lat), len(lon)), 270.0), {"units": "K"})},
        coords={"time": pd.date_range("2024-01-01", periods=2), "lat": lat, "lon": lon},
    )
    ds.to_netcdf(tmp_path / "g.nc")
    r = basin_means(tmp_path / "g.nc", tmp_path / "b.geojson")
    assert set(r.observations["station_id"]) == {"Nura"}
    assert any("basin id '../../../../somewhere' is not a valid id" in q.message() for q in r.quarantine)


def test_kazhydromet_post_codes_and_basins_and_yearbook_titles(tmp_path: Path) -> None:
    k = tmp_path / "kz"
    k.mkdir()
    (k / "posts.csv").write_text(
        "Бассейн;Водный объект;Код объекта;Пост;Код поста\n"
        "../../../../somewhere;р. Есиль;01;с. Тест;11432\nЕсіл;р. Нура;02;с. Киевка;13148\n",
        encoding="utf-8",
    )
    (k / "q.csv").write_text(
        "Код поста;Дата;Расход воды, м3/с\n11432;01.04.2024;12,5\n13148;01.04.2024;7,5\n"
        + "1" * 70
        + ";01.04.2024;3\n١٢٣٤٥;01.04.2024;3\n",
        encoding="utf-8",
    )
    r = get_adapter("kazhydromet").read(k)
    msgs = [q.message() for q in r.quarantine]
    assert any("posts.csv, line 2, field 'basin'" in m for m in msgs)
    assert any("q.csv, line 4, field 'post_code'" in m for m in msgs)
    assert any("q.csv, line 5, field 'post_code'" in m for m in msgs)
    assert r.stations.loc["11432", "basin"] != "../../../../somewhere"
    assert set(r.observations["station_id"]) == {"11432", "13148"}
    y = tmp_path / "yb.csv"
    header = "День;I;II;III;IV;V;VI;VII;VIII;IX;X;XI;XII"
    y.write_text(
        "\n".join(["р. Тихая – г. Рид/../../дер, 1999 г.", header, "1;" + ";".join(["2"] * 12)]) + "\n",
        encoding="utf-8",
    )
    r = get_adapter("kazhydromet-yearbook").read(y)
    assert r.observations.empty
    assert any("not a valid id" in q.reason and "'/'" in q.reason for q in r.quarantine)
