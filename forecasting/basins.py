"""Basin polygons from GeoJSON (EPSG:4326 lon/lat) and their geodesic areas.

A basin file is a GeoJSON FeatureCollection (or a single Feature / geometry). The basin id of a feature is its
`basin_id` property, else `id`/`station_id` property, else the feature `id`, else the file stem (one feature) or
`<stem>_<k>` (several). Areas are geodesic on the WGS84 ellipsoid (pyproj.Geod), in km2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import shapely
from pyproj import Geod
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

_GEOD = Geod(ellps="WGS84")
ID_PROPERTIES: tuple[str, ...] = ("basin_id", "id", "station_id", "basin")


class BasinFileError(ValueError):
    """A basin file that cannot be read (not JSON, not GeoJSON, no polygon)."""


@dataclass
class Basin:
    """One basin polygon: id, geometry (lon/lat degrees, EPSG:4326), properties from the file."""

    basin_id: str
    geometry: BaseGeometry
    properties: dict[str, object] = field(default_factory=dict)
    source: str = ""

    @property
    def area_km2(self) -> float:
        """Geodesic area of the polygon on the WGS84 ellipsoid, km2."""
        return geodesic_area_km2(self.geometry)

    @property
    def name(self) -> str:
        return str(self.properties.get("name") or self.basin_id)


def geodesic_area_km2(geom: BaseGeometry) -> float:
    """Geodesic area of a lon/lat (degrees) polygon or multipolygon on the WGS84 ellipsoid, km2."""
    area, _ = _GEOD.geometry_area_perimeter(shapely.orient_polygons(geom, exterior_cw=False))
    return abs(float(area)) / 1e6


def read_basins(path: Path, errors: list[str] | None = None) -> dict[str, Basin]:
    """Basins of a GeoJSON file, or of every `*.geojson` file in a folder, by basin id.

    Raises BasinFileError naming the file (and feature) when a file is not GeoJSON or has no polygon; with an
    `errors` list, such a file is left out instead, its message appended, and the other files are read.
    Invalid polygons (self-intersections) are repaired with shapely.make_valid.
    """
    path = Path(path)
    files = sorted(path.glob("*.geojson")) if path.is_dir() else [path]
    out: dict[str, Basin] = {}
    for f in files:
        try:
            out.update(_read_file(f))
        except BasinFileError as exc:
            if errors is None:
                raise
            errors.append(str(exc))
    return out


def _read_file(path: Path) -> dict[str, Basin]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BasinFileError(f"{path}: not a readable GeoJSON file ({exc})") from exc
    if not isinstance(doc, dict) or "type" not in doc:
        raise BasinFileError(f"{path}: not GeoJSON (no 'type')")
    if doc["type"] == "FeatureCollection":
        features = doc.get("features") or []
    elif doc["type"] == "Feature":
        features = [doc]
    else:
        features = [{"type": "Feature", "properties": {}, "geometry": doc}]
    out: dict[str, Basin] = {}
    for k, feat in enumerate(features):
        if not isinstance(feat, dict):
            raise BasinFileError(f"{path}: feature {k + 1} is not a GeoJSON object")
        props = dict(feat.get("properties") or {})
        bid = next((str(props[p]) for p in ID_PROPERTIES if props.get(p) not in (None, "")), None)
        if bid is None and feat.get("id") not in (None, ""):
            bid = str(feat["id"])
        if bid is None:
            bid = Path(path).stem if len(features) == 1 else f"{Path(path).stem}_{k + 1}"
        try:
            geom = shape(feat["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BasinFileError(f"{path}: feature {k + 1} ('{bid}'): bad geometry ({exc})") from exc
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise BasinFileError(f"{path}: feature {k + 1} ('{bid}'): {geom.geom_type} is not a polygon")
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        out[bid] = Basin(bid, geom, props, str(path))
    if not out:
        raise BasinFileError(f"{path}: no features")
    return out
