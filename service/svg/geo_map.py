"""The server-drawn map (SVG, Web Mercator): country outline, basin polygons coloured by level, station points
coloured by level (grey without a current level), names beside them. It stays for print and for browsers without
JavaScript; the interactive map (static/map_app.js) draws over it where scripts run."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape
from shapely.geometry import shape

from records.published import BasinView, StationLevelView
from service import i18n

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
DEFAULT_BBOX = (46.5, 40.5, 87.5, 55.5)  # Kazakhstan (lon0, lat0, lon1, lat1)
Rings = list[list[list[tuple[float, float]]]]


def rings(geom: Any) -> Rings:
    """The polygons of a shapely geometry as [polygon: [ring: [(lon, lat)]]] (exterior first)."""
    if geom.geom_type == "Polygon":
        return [[[(float(x), float(y)) for x, y, *_ in ring.coords] for ring in (geom.exterior, *geom.interiors)]]
    if geom.geom_type in ("MultiPolygon", "GeometryCollection"):
        return [poly for part in geom.geoms for poly in rings(part)]
    return []


def merc(lon: float, lat: float) -> tuple[float, float]:
    """Web Mercator in world units (0..1 across the world, y down)."""
    lat = max(-85.0, min(85.0, lat))
    x = (lon + 180.0) / 360.0
    y = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0
    return x, y


SCALE = 100_000.0  # SVG user units per world unit


@lru_cache(maxsize=1)
def _outline() -> list[tuple[tuple[float, float, float, float], list[list[tuple[float, float]]]]]:
    """Country rings of the vendored outline with their lon/lat bounding boxes."""
    data = json.loads((STATIC_DIR / "outline.geojson").read_text(encoding="utf-8"))
    out = []
    for feat in data["features"]:
        for poly in rings(shape(feat["geometry"])):
            ring = poly[0]
            xs = [p[0] for p in ring]
            ys = [p[1] for p in ring]
            out.append(((min(xs), min(ys), max(xs), max(ys)), [ring]))
    return out


def _ring_path(ring: list[tuple[float, float]]) -> str:
    pts = []
    for lon, lat in ring:
        x, y = merc(lon, lat)
        pts.append(f"{x * SCALE:.0f},{y * SCALE:.0f}")
    return "M" + "L".join(pts) + "Z"


@lru_cache(maxsize=32)
def outline_paths(bbox: tuple[float, float, float, float]) -> str:
    """One SVG path `d` of the country outlines that touch `bbox` (lon0, lat0, lon1, lat1)."""
    x0, y0, x1, y1 = bbox
    parts = [_ring_path(rings[0]) for (a, b, c, d), rings in _outline() if not (c < x0 or a > x1 or d < y0 or b > y1)]
    return "".join(parts)


def _widen(bbox: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The box grown by half its size on every side: the outline also covers a wide screen and some zooming out."""
    w, h = (bbox[2] - bbox[0]) / 2, (bbox[3] - bbox[1]) / 2
    return (bbox[0] - w, max(-85.0, bbox[1] - h), bbox[2] + w, min(85.0, bbox[3] + h))


def map_bbox(points: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    """A padded lon/lat box around `points` (at least 10 x 6 degrees; Kazakhstan when there are none)."""
    if not points:
        return DEFAULT_BBOX
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    lon0, lon1, lat0, lat1 = min(lons), max(lons), min(lats), max(lats)
    w, h = max(lon1 - lon0, 10.0), max(lat1 - lat0, 6.0)
    cx, cy = (lon0 + lon1) / 2, (lat0 + lat1) / 2
    w, h = w * 1.15, h * 1.2
    return (round(cx - w / 2, 1), round(max(-80, cy - h / 2), 1), round(cx + w / 2, 1), round(min(80, cy + h / 2), 1))


def _labels(located: Sequence[StationLevelView], r: float, fs: float, right_edge: float, max_labels: int = 120) -> str:
    """Names beside the points, highest level first; a label that would overlap one already placed is hidden
    (map.js shows it again when zooming in makes room); a label that would leave the map on the right goes to the
    left of its point."""
    placed: list[tuple[float, float, float]] = []
    out = ['<g class="labels">']
    ranked = sorted(located, key=lambda s: -(s.level if s.level is not None else -1))
    for s in ranked[:max_labels]:
        cx, cy = merc(s.lon, s.lat)  # type: ignore[arg-type]
        cx, y = cx * SCALE, cy * SCALE + fs * 0.35
        name = s.name if len(s.name) <= 30 else s.name[:28].rstrip() + "…"
        width = 0.58 * fs * len(name)
        side = 1 if cx + r * 1.4 + width < right_edge else -1
        x = cx + side * r * 1.4
        left = x if side == 1 else x - width
        hidden = any(abs(y - py) < fs * 1.1 and left < px + pw and px < left + width for px, py, pw in placed)
        if not hidden:
            placed.append((left, y, width))
        attrs = ("" if side == 1 else ' text-anchor="end" data-s="-1"') + (' visibility="hidden"' if hidden else "")
        out.append(f'<text class="stlabel" x="{x:.0f}" y="{y:.0f}" font-size="{fs:.0f}"{attrs}>{escape(name)}</text>')
    out.append("</g>")
    return "".join(out)


def _tiles(tile_url: str | None, x0: float, y0: float, x1: float, y1: float) -> str:
    if not tile_url:
        return ""
    z = max(0, min(14, int(math.floor(math.log2(4.0 / max(x1 - x0, 1e-9))))))
    n = 2**z
    tx0, tx1 = int(x0 * n), int(x1 * n)
    ty0, ty1 = int(y0 * n), int(y1 * n)
    if (tx1 - tx0 + 1) * (ty1 - ty0 + 1) > 64:
        return ""
    size = SCALE / n
    out = []
    for tx in range(tx0, tx1 + 1):
        for ty in range(max(0, ty0), min(n - 1, ty1) + 1):
            href = tile_url.replace("{z}", str(z)).replace("{x}", str(tx % n)).replace("{y}", str(ty))
            out.append(
                f'<image href="{escape(href)}" x="{tx * size:.0f}" y="{ty * size:.0f}" '
                f'width="{size:.1f}" height="{size:.1f}"/>'
            )
    return "".join(out)


@lru_cache(maxsize=1)
def _wm_basins() -> list[tuple[str, dict[str, str], Rings]]:
    """Kazakhstan's water-management basins (the map's layer, simplified again for print): name, names, rings."""
    data = json.loads((STATIC_DIR / "layers" / "wm_basins.geojson").read_text(encoding="utf-8"))
    out = []
    for feat in data["features"]:
        p = feat["properties"]
        out.append((str(p["name"]), dict(p.get("names") or {}), rings(shape(feat["geometry"]).simplify(0.04))))
    return out


def map_svg(
    polygons: dict[str, Rings],
    stations: Sequence[StationLevelView],
    basins: Sequence[BasinView],
    lang: str,
    tile_url: str | None = None,
    reasons: Mapping[str, str] | None = None,
    wm_levels: Mapping[str, int | None] | None = None,
    names: Mapping[str, str] | None = None,
) -> Markup:
    """The map: outline, Kazakhstan's water-management basins shaded by the highest current level of their stations
    (`wm_levels`, by basin name; omitted: not drawn), forecasting basin polygons coloured by level, station points
    coloured by level (highest on top; grey with the state and `reasons[station_id]` in the reader's language), named
    by `names[station_id]` (the reader's language) where given.
    `polygons`: basin id -> rings (`rings` of the basin geometries)."""
    basin_by_id = {b.basin_id: b for b in basins}
    visible_polys = {bid: p for bid, p in polygons.items() if bid in basin_by_id}
    pts = [(s.lon, s.lat) for s in stations if s.lon is not None and s.lat is not None]
    for polys in visible_polys.values():
        for poly in polys:
            xs = [p[0] for p in poly[0]]
            ys = [p[1] for p in poly[0]]
            pts += [(min(xs), min(ys)), (max(xs), max(ys))]
    bbox = map_bbox(pts)
    (x0, y1w), (x1, y0w) = merc(bbox[0], bbox[1]), merc(bbox[2], bbox[3])
    if (y1w - y0w) < 0.6 * (x1 - x0):  # wide extent: add sea and land above and below (a taller, legible map)
        extra = (0.6 * (x1 - x0) - (y1w - y0w)) / 2
        y0w, y1w = y0w - extra, y1w + extra
        lat_top = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y0w))))
        lat_bot = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y1w))))
        bbox = (bbox[0], lat_bot, bbox[2], lat_top)
    vx, vy, vw, vh = x0 * SCALE, y0w * SCALE, (x1 - x0) * SCALE, (y1w - y0w) * SCALE
    if names:
        stations = [s.model_copy(update={"name": names.get(s.station_id) or s.name}) for s in stations]
    located = [s for s in stations if s.lon is not None and s.lat is not None]
    r = vw * (0.011 if len(located) <= 50 else 0.0075)
    fs = vw * 0.016  # label font size (user units)
    q = lambda s: escape(s)  # noqa: E731
    parts = [
        f'<svg id="map" class="map" viewBox="{vx:.0f} {vy:.0f} {vw:.0f} {vh:.0f}" data-r="{r:.0f}" data-fs="{fs:.0f}" '
        f'role="img" aria-label="{q(i18n.t("map.title", lang))}" xmlns="http://www.w3.org/2000/svg">',
        f'<rect x="{vx:.0f}" y="{vy:.0f}" width="{vw:.0f}" height="{vh:.0f}" class="sea"/>',
        _tiles(tile_url, x0, y0w, x1, y1w),
        f'<path class="land{" over-tiles" if tile_url else ""}" d="{outline_paths(_widen(bbox))}"/>',
    ]
    if wm_levels is not None:
        parts.append('<g class="wm-basins">')
        for name, names, polys in _wm_basins():
            level = wm_levels.get(name)
            d = "".join(_ring_path(ring) for poly in polys for ring in poly)
            lvl = "none" if level is None else str(level)
            title = f"{names.get(lang) or name}: " + (
                i18n.level_name(level, lang) if level is not None else i18n.t("state.no_data", lang)
            )
            parts.append(
                f'<path class="wm lvl{lvl}" d="{d}" fill="{i18n.level_colour(level)}" data-wm-basin="{q(name)}">'
                f"<title>{q(title)}</title></path>"
            )
        parts.append("</g>")
    parts.append('<g class="basins">')
    for bid, polys in visible_polys.items():
        b = basin_by_id[bid]
        colour = i18n.level_colour(b.level)
        d = "".join(_ring_path(ring) for poly in polys for ring in poly)
        state = i18n.level_name(b.level, lang) if b.level is not None else i18n.t("state.no_data", lang)
        label = f"{b.name}: {state}"
        lvl = "none" if b.level is None else str(b.level)
        parts.append(
            f'<a href="/basins/{quote(bid)}"><path class="basin lvl{lvl}" d="{d}" fill="{colour}" '
            f'stroke="{colour}" data-basin="{q(bid)}"><title>{q(label)}</title></path></a>'
        )
    parts.append('</g><g class="stations">')
    for s in sorted(stations, key=lambda s: s.level if s.level is not None else -1):
        if s.lon is None or s.lat is None:
            continue
        x, y = merc(s.lon, s.lat)
        lvl = "none" if s.level is None else str(s.level)
        if s.level is not None:
            label = f"{s.name}: {i18n.level_name(s.level, lang)}"
        else:
            why = (reasons or {}).get(s.station_id)
            label = f"{s.name}: {i18n.state_name(s.state, lang)}" + (f" ({why})" if why else "")
        parts.append(
            f'<a href="/stations/{quote(s.station_id)}"><circle class="st lvl{lvl}" cx="{x * SCALE:.0f}" '
            f'cy="{y * SCALE:.0f}" r="{r:.0f}" fill="{i18n.level_colour(s.level)}" data-station="{q(s.station_id)}" '
            f'data-level="{lvl}"><title>{q(label)}</title></circle></a>'
        )
    parts.append("</g>")
    parts.append(_labels(located, r, fs, vx + vw))
    parts.append("</svg>")
    return Markup("".join(parts))
