"""Water-management basin of a point, from the shipped simplified layer: Kazhydromet posts (coordinates of the
KazFlow85 list in ../shared/data/README.md) land in their basins, agree with the full-resolution source layer, and
points outside Kazakhstan (the development stations) get None."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import shape

from forecasting.kz_basins import (
    DEFAULT_LAYER,
    BasinLayerError,
    basin_at,
    basins_at,
    water_management_basins,
)

KZ_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "kz" / "water_management_basins.geojson"

# post code, name, lat N, lon E (../shared/data/README.md, KazFlow85 list)
POSTS = [
    ("11001", "Boran", 48.0045, 85.2222), ("11094", "Dzhumba", 49.0098, 82.7882),
    ("11124", "Berel", 49.3658, 86.4484), ("11163", "Ridder", 50.2767, 83.3778),
    ("11207", "Shemonaikha", 50.6127, 81.8768), ("11242", "Novomarkovka", 51.7369, 72.3050),
    ("11275", "Izobilnoe", 52.4944, 73.2850), ("11291", "Pavlovka", 53.0994, 69.0122),
    ("11395", "Priishimskoe", 50.6200, 73.0267), ("11433", "Atbasar", 51.7978, 68.3689),
    ("11461", "Sokolovka", 53.6514, 67.4131), ("13061", "Besoba", 49.3500, 74.4661),
    ("13128", "Atasu", 48.6681, 71.6394), ("13148", "Kievka", 50.2547, 71.5667),
    ("13198", "Barshino", 49.6686, 69.5503),
]  # fmt: skip


def test_named_posts_are_in_their_basins() -> None:
    assert basin_at(68.3689, 51.7978).name == "Yesil"  # 11433 Atbasar on the Yesil
    assert basin_at(71.5667, 50.2547).name == "Nura-Sarysu"  # 13148 Kievka on the Nura
    boran = basin_at(85.2222, 48.0045)  # 11001 Boran on the Ertis
    assert boran.name == "Ertis" and boran.basin_id == "WMB_00006"
    assert boran.names == {"kk": "Ертіс", "ru": "Ертисский", "en": "Ertis"}


def test_post_codes_follow_the_basins() -> None:
    # 11xxx posts are on the Ertis (east of 80 E) and the Yesil (west of it); 13xxx on the Nura-Sarysu
    got = basins_at([(lon, lat) for _, _, lat, lon in POSTS])
    for (code, name, _lat, lon), b in zip(POSTS, got, strict=True):
        expected = "Nura-Sarysu" if code.startswith("13") else ("Ertis" if lon > 80 else "Yesil")
        assert b is not None and b.name == expected, (code, name, b)


@pytest.mark.skipif(not KZ_SOURCE.exists(), reason=f"{KZ_SOURCE} not found")
def test_simplified_layer_agrees_with_the_source_away_from_borders() -> None:
    src = json.loads(KZ_SOURCE.read_text(encoding="utf-8"))["features"]
    geoms = [shapely.make_valid(shape(f["geometry"])) for f in src]
    names = [f["properties"]["BASIN_NAME"] for f in src]
    borders = shapely.union_all([g.boundary for g in geoms])
    rng = np.random.default_rng(7)
    pts = np.column_stack([rng.uniform(46.0, 88.0, 3000), rng.uniform(40.0, 56.0, 3000)])
    got = basins_at([(x, y) for x, y in pts])
    checked = inside = 0
    for (x, y), b in zip(pts, got, strict=True):
        if shapely.distance(borders, shapely.Point(x, y)) < 0.08:  # the simplification moves borders by < 0.06 deg
            continue
        truth = [n for n, g in zip(names, geoms, strict=True) if g.contains(shapely.Point(x, y))]
        assert (b.name if b else None) == (truth[0] if truth else None), (x, y, b, truth)
        checked += 1
        inside += bool(truth)
    assert checked > 2000 and inside > 1000  # enough points on both sides were compared
    # every post agrees with the full-resolution source too
    for _code, _name, lat, lon in POSTS:
        truth = [n for n, g in zip(names, geoms, strict=True) if g.contains(shapely.Point(lon, lat))]
        assert [basin_at(lon, lat).name] == truth


def test_outside_kazakhstan_and_missing_coordinates_give_none(real_data: Path) -> None:
    st = pd.read_csv(real_data / "stations.csv")
    got = basins_at(zip(st["lon"], st["lat"], strict=True))
    assert got == [None] * len(st)  # Swiss and Uzbek gauges, and the Protva without coordinates (NaN)
    assert st["lat"].isna().any()  # the Protva's missing coordinates were among them
    assert basin_at(None, 50.0) is None and basin_at(math.nan, math.nan) is None
    with pytest.raises(ValueError, match="longitude/latitude"):
        basin_at(250.0, 50.0)


def test_points_just_outside_a_simplified_border_go_to_the_nearest_basin() -> None:
    # the northernmost vertex of the Yesil basin is on the state border with Russia
    layer = json.loads(DEFAULT_LAYER.read_text(encoding="utf-8"))
    yesil = shape(next(f for f in layer["features"] if f["properties"]["name"] == "Yesil")["geometry"])
    coords = shapely.get_coordinates(yesil)
    lon, lat = coords[np.argmax(coords[:, 1])]
    assert basin_at(lon, lat + 0.01).name == "Yesil"  # within the 0.03 degree tolerance
    assert basin_at(lon, lat + 0.01, tolerance_deg=0.0) is None
    assert basin_at(lon, lat + 0.3) is None  # well into Russia


def test_all_eight_basins_with_three_languages() -> None:
    bs = water_management_basins()
    assert len(bs) == 8 and len({b.basin_id for b in bs}) == 8
    assert {b.name for b in bs} == {"Tobyl-Torgai", "Aral-Syr Darya", "Shu-Talas", "Nura-Sarysu", "Yesil", "Ertis",
                                   "Balkhash-Alakol", "Zhaiyk-Caspian"}  # fmt: skip
    assert all(set(b.names) == {"kk", "ru", "en"} and all(b.names.values()) for b in bs)


def test_bad_layer_names_file_and_feature(tmp_path: Path) -> None:
    good = {"type": "Feature", "properties": {"id": "A", "name": "A"},
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}  # fmt: skip
    line = {"type": "Feature", "properties": {"id": "B", "name": "Bad"},
            "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}  # fmt: skip
    p = tmp_path / "layer.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": [good, line]}), encoding="utf-8")
    with pytest.raises(BasinLayerError, match=r"layer\.geojson: feature 1 \(Bad\): geometry is LineString"):
        basin_at(0.5, 0.2, path=p)
    with pytest.raises(BasinLayerError, match="not found"):
        basin_at(0.5, 0.2, path=tmp_path / "missing.geojson")
    p2 = tmp_path / "ok.geojson"
    p2.write_text(json.dumps({"type": "FeatureCollection", "features": [good]}), encoding="utf-8")
    assert basin_at(0.7, 0.2, path=p2).name == "A" and basin_at(0.2, 0.7, path=p2, tolerance_deg=0) is None
