"""Which of Kazakhstan's 8 water-management basins contains a point (for the map's basin shading).

The basins are read once from the simplified layer that the dashboard ships,
``service/static/layers/wm_basins.geojson`` (built by ``scripts/build_layers.py`` from ../shared/data/kz, MIT; lon/lat
degrees, EPSG:4326); a file is read as data, the service package is not imported. Its borders are simplified by up to
about 0.03 degree (3 km; 0.06 degree on the Caspian shore), so a point outside every basin but within
``tolerance_deg`` of one (a gauge on a border river) is given to the nearest; farther out the answer is None
(outside Kazakhstan).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

DEFAULT_LAYER = Path(__file__).resolve().parents[1] / "service" / "static" / "layers" / "wm_basins.geojson"
DEFAULT_TOLERANCE_DEG = 0.03


class BasinLayerError(ValueError):
    """The basin layer is missing or malformed (the message names the file and the feature)."""


@dataclass(frozen=True)
class WaterManagementBasin:
    """One water-management basin: ``basin_id`` as in the source ("WMB_00005"), ``name`` its English name in the
    source ("Yesil", the key the dashboard uses), ``names`` by language (kk, ru, en)."""

    basin_id: str
    name: str
    names: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class _Layer:
    basins: tuple[WaterManagementBasin, ...]
    geoms: np.ndarray  # shapely geometries, lon/lat degrees, prepared


def _read_layer(path: Path) -> _Layer:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise BasinLayerError(f"{path}: basin layer not found (built by scripts/build_layers.py)") from e
    except json.JSONDecodeError as e:
        raise BasinLayerError(f"{path}: not JSON ({e})") from e
    feats = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(feats, list) or not feats:
        raise BasinLayerError(f"{path}: not a GeoJSON FeatureCollection with features")
    basins, geoms = [], []
    for i, f in enumerate(feats):
        props = f.get("properties") if isinstance(f, dict) else None
        if not isinstance(props, dict) or not props.get("id") or not props.get("name"):
            raise BasinLayerError(f"{path}: feature {i}: properties 'id' and 'name' are required")
        try:
            g = shape(f["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise BasinLayerError(f"{path}: feature {i} ({props['name']}): bad geometry ({e})") from e
        if g.geom_type not in ("Polygon", "MultiPolygon") or g.is_empty:
            raise BasinLayerError(f"{path}: feature {i} ({props['name']}): geometry is {g.geom_type}, not a polygon")
        names = props.get("names") if isinstance(props.get("names"), dict) else {}
        basins.append(WaterManagementBasin(str(props["id"]), str(props["name"]), dict(names)))
        geoms.append(g)
    arr = np.array(geoms, dtype=object)
    shapely.prepare(arr)
    return _Layer(tuple(basins), arr)


@lru_cache(maxsize=4)
def _layer(path: Path) -> _Layer:
    return _read_layer(path)


def water_management_basins(path: Path | None = None) -> tuple[WaterManagementBasin, ...]:
    """The basins of the layer, in file order (read once per path)."""
    return _layer(Path(path or DEFAULT_LAYER)).basins


def basins_at(
    points: Iterable[tuple[float | None, float | None]],
    *,
    path: Path | None = None,
    tolerance_deg: float = DEFAULT_TOLERANCE_DEG,
) -> list[WaterManagementBasin | None]:
    """The water-management basin of each (lon, lat) point in degrees (EPSG:4326), or None outside Kazakhstan or
    where a coordinate is missing (None or NaN). A point on a shared border goes to the first basin in file order;
    a point outside every basin but within ``tolerance_deg`` degrees of one goes to the nearest."""
    layer = _layer(Path(path or DEFAULT_LAYER))
    out: list[WaterManagementBasin | None] = []
    for lon, lat in points:
        if lon is None or lat is None or not (math.isfinite(float(lon)) and math.isfinite(float(lat))):
            out.append(None)
            continue
        lon, lat = float(lon), float(lat)
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            raise ValueError(f"point ({lon}, {lat}): not a longitude/latitude in degrees")
        inside = np.flatnonzero(shapely.intersects_xy(layer.geoms, lon, lat))
        if inside.size:
            out.append(layer.basins[int(inside[0])])
            continue
        d = shapely.distance(layer.geoms, shapely.Point(lon, lat))
        k = int(np.argmin(d))
        out.append(layer.basins[k] if d[k] <= tolerance_deg else None)
    return out


def basin_at(
    lon: float | None,
    lat: float | None,
    *,
    path: Path | None = None,
    tolerance_deg: float = DEFAULT_TOLERANCE_DEG,
) -> WaterManagementBasin | None:
    """The water-management basin containing the point (lon, lat in degrees, EPSG:4326), None outside Kazakhstan or
    for a missing coordinate. See :func:`basins_at`."""
    return basins_at([(lon, lat)], path=path, tolerance_deg=tolerance_deg)[0]
