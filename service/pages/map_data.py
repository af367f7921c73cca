"""The data of the interactive map (`<script type="application/json" id="map-data">`, read by static/map_app.js; the
contract is in static/vendor/README.md): the stations with their level, state and reason in the reader's language,
their water-management basin (forecasting.kz_basins), the highest current level of each water-management basin,
the station names in three languages where known, and every label the script shows."""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from markupsafe import Markup

from forecasting.kz_basins import basins_at
from records.published import StationInfo, StationLevelView
from service import i18n
from service.pages.texts import row_reason

log = logging.getLogger("tasqyn.service")
NAMES_FILE = Path(__file__).resolve().parents[1] / "locale" / "station_names.csv"
LAYERS_BASE = "/static/layers/"
LAYERS = ("world_110m", "kz_outline", "wm_basins", "subbasins", "rivers", "lakes", "oblast_lines")
_names_cache: dict[str, tuple[int, dict[str, dict[str, str]]]] = {}
_basin_cache: dict[tuple[float, float], str | None] = {}


def _read_names(path: Path) -> dict[str, dict[str, str]]:
    """{station_id: {lang: name}} of a names file (station_id,kk,ru,en); re-read when the file changes."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return {}
    hit = _names_cache.get(str(path))
    if hit and hit[0] == mtime:
        return hit[1]
    out: dict[str, dict[str, str]] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            for row in csv.DictReader(f):
                sid = (row.get("station_id") or "").strip()
                names = {lang: (row.get(lang) or "").strip() for lang in i18n.LANGS}
                if sid:
                    out[sid] = {k: v for k, v in names.items() if v}
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        log.warning("station names %s not read: %s", path, exc)
        out = {}
    _names_cache[str(path)] = (mtime, out)
    return out


def station_names(home_root: Path | None = None) -> dict[str, dict[str, str]]:
    """The station names by language: the shipped list of Kazhydromet posts (service/locale/station_names.csv),
    corrected and extended by `<home>/station_names.csv` where present."""
    names = {k: dict(v) for k, v in _read_names(NAMES_FILE).items()}
    if home_root is not None:
        for sid, by_lang in _read_names(home_root / "station_names.csv").items():
            names.setdefault(sid, {}).update(by_lang)
    return names


def wm_basins(points: Iterable[tuple[float | None, float | None]]) -> list[str | None]:
    """The water-management basin name (wm_basins.geojson `name`) of each (lon, lat), None outside Kazakhstan."""
    pts = list(points)
    todo = [p for p in dict.fromkeys(pts) if p not in _basin_cache]
    if todo:
        for p, b in zip(todo, basins_at(todo), strict=True):
            _basin_cache[p] = b.name if b is not None else None  # type: ignore[index]
    return [_basin_cache[p] for p in pts]  # type: ignore[index]


def labels(lang: str) -> dict[str, Any]:
    """Every text map_app.js shows, in `lang`."""

    def tr(key: str) -> str:
        return i18n.t(key, lang)

    return {
        "search": tr("mapjs.search"),
        "search_hint": tr("mapjs.search_hint"),
        "no_results": tr("mapjs.no_results"),
        "levels": {str(k): i18n.level_name(k, lang) for k in range(4)},
        "no_level": tr("state.no_data"),
        "states": {
            s: i18n.state_name(s, lang)
            for s in ("stale", "climatology", "fallback", "no_thresholds", "failed", "no_forecast")
        },  # fmt: skip
        "trends": {k: tr(f"trend.{k}") for k in ("rising", "steady", "falling")},
        "risk": tr("col.level"),
        "river": tr("col.river"),
        "basin": tr("mapjs.wm_basin"),
        "post_code": tr("mapjs.post_code"),
        "open": tr("mapjs.open"),
        "overridden": tr("mapjs.overridden"),
        "kinds": {
            "station": tr("mapjs.kind_station"),
            "river": tr("mapjs.kind_river"),
            "basin": tr("mapjs.kind_basin"),
            "subbasin": tr("mapjs.kind_subbasin"),
        },
        "layers": {
            "wm_basins": tr("mapjs.layer_wm_basins"),
            "subbasins": tr("mapjs.layer_subbasins"),
            "rivers": tr("mapjs.layer_rivers"),
            "lakes": tr("mapjs.layer_lakes"),
            "oblasts": tr("mapjs.layer_oblasts"),
            "stations": tr("mapjs.layer_stations"),
        },
        "n_stations": tr("mapjs.n_stations"),
        "zoom_in": tr("mapjs.zoom_in"),
        "zoom_out": tr("mapjs.zoom_out"),
        "reset": tr("mapjs.reset"),
        "no_coords": tr("mapjs.no_coords"),
        "attribution": tr("mapjs.attribution"),
    }


def map_payload(
    rows: list[StationLevelView],
    infos: Mapping[str, StationInfo],
    lang: str,
    issue_date: dt.date | None,
    tile_url: str | None = None,
    tile_attribution: str = "",
    home_root: Path | None = None,
) -> dict[str, Any]:
    """The #map-data object for the station rows a reader sees (records.published.station_levels)."""
    names = station_names(home_root)
    basins = wm_basins((r.lon, r.lat) for r in rows)
    stations = []
    levels: dict[str, int | None] = {}
    for r, wm in zip(rows, basins, strict=True):
        by_lang = names.get(r.station_id, {})
        name = by_lang.get(lang) or r.name
        # a level is shown only when the read model gives one (a current forecast, or a hydrologist's override)
        state = "ok" if r.level is not None else r.state
        stations.append(
            {
                "id": r.station_id,
                "name": name,
                "names": {k: by_lang.get(k) or r.name for k in i18n.LANGS} if by_lang else None,
                "river": r.river,
                "basin_id": r.basin_id,
                "wm_basin": wm,
                "lat": r.lat,
                "lon": r.lon,
                "level": r.level,
                "state": state,
                "reason": row_reason(r, issue_date, lang) or None if r.level is None else None,
                "overridden": r.overridden,
                "trend": r.trend if r.level is not None else None,
                "url": f"/stations/{r.station_id}",
            }
        )
        if wm is not None:
            cur = levels.get(wm)
            levels[wm] = r.level if cur is None else (max(cur, r.level) if r.level is not None else cur)
    return {
        "lang": lang,
        "labels": labels(lang),
        "tile_url": tile_url or None,
        "tile_attribution": tile_attribution or "",
        "layers_base": LAYERS_BASE,
        "stations": stations,
        "wm_basin_levels": levels,
    }


def script_json(obj: Any) -> Markup:
    """JSON for a `<script type="application/json">` element: every `<` written as \\u003c (only strings hold one),
    so no `</script>` or `<!--` can end or confuse the element."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return Markup(text.replace("<", "\\u003c"))
