"""The web dashboard under `/`: map, basin, station and runs pages, login and logout, review forms.

Server-rendered Jinja2 templates (service/templates), one small stylesheet and one small script (service/static),
nothing loaded from the internet. The map is an SVG drawn here: country outlines (Natural Earth, public domain,
vendored as service/static/outline.geojson), basin polygons where GeoJSON exists (`<home>/basins/*.geojson`),
station points coloured by level in Web Mercator; map tiles only when the `tile_url` setting is set. The station
hydrograph and forecast fan are SVG drawn here too.

Who sees what: reviewers (hydrologist, admin) see the newest run, draft or not; everybody else sees the newest
published run, restricted to the basins of their account; anonymous visitors only if `anonymous_read` is on.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import numpy as np
import xarray as xr
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from shapely.geometry import shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from forecasting.explain import DRIVERS, as_percent, main_drivers
from forecasting.flags import BAD
from forecasting.home import Home
from forecasting.outlook import _round as outlook_round
from service import i18n
from service.api import (
    ServiceState,
    ServiceUnavailable,
    _forecast_ds,
    _store,
    backtest_skill,
    basin_geometries,
    observation_store,
    station_records,
)
from service.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Principal,
    auth_config,
    authenticate_user,
    check_csrf,
    client_ip,
    csrf_token,
    make_session_cookie,
    new_csrf_seed,
    resolve_principal,
)
from service.db import BasinLevel, ForecastRun, StationLevel, latest_published_run
from service.review import Actor, ReviewError, apply_review, audit_trail, auto_publish_due
from service.routers.outlook import latest_outlook, outlook_files

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
TEMPLATES.env.trim_blocks = True
TEMPLATES.env.lstrip_blocks = True
TEMPLATES.env.filters["ucfirst"] = lambda text: text[:1].upper() + text[1:] if text else text
STATIC_DIR = HERE / "static"
LOCAL_TZ = ZoneInfo("Asia/Almaty")
THRESHOLDS = ("warning", "danger", "extreme")
HISTORY_DAYS = 60  # observed days shown before the issue date on the hydrograph
DEFAULT_BBOX = (46.5, 40.5, 87.5, 55.5)  # Kazakhstan (lon0, lat0, lon1, lat1)

router = APIRouter(include_in_schema=False)


# --- configuration --------------------------------------------------------------------------------------------


@dataclass
class DashboardConfig:
    home: Home
    tile_url: str | None = None
    tile_attribution: str = ""
    review_deadline_hours: float | None = None
    basins_dir: Path | None = None
    _last_auto: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)


def _config(request: Request) -> DashboardConfig:
    return request.app.state.dashboard


def _home_of(settings: Any) -> Home:
    home = getattr(settings, "home", None)
    if isinstance(home, Home):
        return home
    return Home.from_env(home)


def setup_dashboard(app: Any, settings: Any = None) -> DashboardConfig:
    """Store the dashboard configuration on `app.state.dashboard` from settings: `home`, `tile_url`,
    `tile_attribution`, `review_deadline_hours` (None: drafts wait for a reviewer), `basins_dir`."""
    home = _home_of(settings)
    deadline = getattr(settings, "review_deadline_hours", None)
    basins_dir = getattr(settings, "basins_dir", None)
    cfg = DashboardConfig(
        home=home,
        tile_url=getattr(settings, "tile_url", None) or None,
        tile_attribution=getattr(settings, "tile_attribution", "") or "",
        review_deadline_hours=float(deadline) if deadline is not None else None,
        basins_dir=Path(basins_dir) if basins_dir else home.root / "basins",
    )
    app.state.dashboard = cfg
    return cfg


def _db(request: Request) -> Session:
    state = getattr(request.app.state, "tasqyn", None)
    if state is not None:
        state.ensure_db()  # migrates once the database is reachable; 503 while it is down
    return auth_config(request).session_factory()


def _maybe_auto_publish(request: Request, session: Session) -> None:
    """Publish overdue drafts (at most once a minute per process)."""
    _auto_publish(_config(request), session)


def _auto_publish(cfg: DashboardConfig, session: Session) -> list[str]:
    if cfg.review_deadline_hours is None:
        return []
    now = time.monotonic()
    with cfg._lock:
        if now - cfg._last_auto < 60:
            return []
        cfg._last_auto = now
    done = auto_publish_due(session, cfg.review_deadline_hours)
    if done:
        session.commit()
    return done


class ReviewDeadline:
    """Checks, at most once a minute and before any request (API or dashboard), whether a draft passed the review
    deadline; if so it is published marked `unreviewed` (service.review.auto_publish_due)."""

    def __init__(self, app: Any, service_app: Any) -> None:
        self.asgi = app  # the wrapped ASGI application
        self.app = service_app  # the FastAPI application (its state)

    def _check(self) -> None:
        cfg: DashboardConfig = self.app.state.dashboard
        try:
            with self.app.state.session_factory() as session:
                if _auto_publish(cfg, session):
                    cache = getattr(self.app.state, "response_cache", None)
                    if cache is not None and hasattr(cache, "invalidate"):
                        cache.invalidate()
        except Exception:  # noqa: BLE001 (a database that is down is reported by the request itself)
            cfg._last_auto = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        cfg = getattr(self.app.state, "dashboard", None)
        due = cfg is not None and cfg.review_deadline_hours is not None and time.monotonic() - cfg._last_auto >= 60
        if scope["type"] == "http" and due:
            from anyio import to_thread

            await to_thread.run_sync(self._check)
        await self.asgi(scope, receive, send)


# --- station metadata, observations, forecasts (cached by file modification time) ------------------------------


@dataclass(frozen=True)
class StationMeta:
    station_id: str
    name: str
    river: str
    basin: str
    lat: float | None
    lon: float | None
    area_km2: float | None = None
    region: str = ""

    @property
    def has_coords(self) -> bool:
        return self.lat is not None and self.lon is not None


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def station_metadata(store: xr.Dataset | None) -> dict[str, StationMeta]:
    """Station metadata for the pages, from the observation store's records (service.api.station_records, the
    name defaulting to the station id); {} if nothing was ingested. Made once per loaded store."""
    if store is None:
        return {}
    meta = store.attrs.get("_tasqyn_station_meta")
    if not isinstance(meta, dict):
        meta = {
            sid: StationMeta(
                sid,
                r.get("name") or sid,
                r.get("river", ""),
                r["basin"],
                r.get("lat"),
                r.get("lon"),
                r.get("area_km2"),
                r.get("region", ""),
            )
            for sid, r in station_records(store).items()
        }
        store.attrs["_tasqyn_station_meta"] = meta
    return meta


def basin_regions(state: ServiceState) -> Any:
    """A function basin id -> the regions of its stations (from the store's `region` metadata)."""

    memo: dict[str, Any] = {"meta": None, "map": {}}

    def regions_of(basin_id: str) -> frozenset[str]:
        meta = station_metadata(_store(state))
        if memo["meta"] is not meta:  # rebuilt when the store changes
            mapping: dict[str, set[str]] = {}
            for m in meta.values():
                if m.region:
                    mapping.setdefault(m.basin, set()).add(m.region)
            memo["meta"], memo["map"] = meta, {b: frozenset(r) for b, r in mapping.items()}
        return memo["map"].get(basin_id, frozenset())

    return regions_of


def observations(
    store: xr.Dataset | None, station_id: str, start: dt.date, end: dt.date, var: str = "discharge_m3s"
) -> list[tuple[dt.date, float]]:
    """Observed daily values of `var` (discharge m3/s by default, or water level cm) of a station between two
    local days, BAD-flagged values left out.

    `store`: the application's cached observation store (service.api.observation_store)."""
    if store is None or var not in store or station_id not in set(map(str, store["station"].values)):
        return []
    one = store.sel(station=station_id, time=slice(np.datetime64(start), np.datetime64(end)))
    q = one[var].values.astype(float)
    qc = one[f"{var}_qc"].values if f"{var}_qc" in one else np.zeros(len(q), dtype=int)
    times = one["time"].values
    out = []
    for tval, v, f in zip(times, q, qc, strict=True):
        if np.isnan(v) or int(f) & BAD:
            continue
        out.append((dt.date.fromisoformat(str(tval)[:10]), float(v)))
    return out


def forecast_dataset(request: Request, run: ForecastRun | None) -> xr.Dataset | None:
    """The run's forecast dataset from the API's dataset cache (one copy per file for API and pages), or None if
    the run has none or its file is missing."""
    if run is None:
        return None
    try:
        return _forecast_ds(request.app.state.tasqyn, run)
    except ServiceUnavailable:
        return None


def _rings(geom: Any) -> list[list[list[tuple[float, float]]]]:
    """The polygons of a shapely geometry as [polygon: [ring: [(lon, lat)]]] (exterior first)."""
    if geom.geom_type == "Polygon":
        return [[[(float(x), float(y)) for x, y, *_ in ring.coords] for ring in (geom.exterior, *geom.interiors)]]
    if geom.geom_type in ("MultiPolygon", "GeometryCollection"):
        return [poly for part in geom.geoms for poly in _rings(part)]
    return []


def basin_polygons(cfg: DashboardConfig) -> dict[str, list[list[list[tuple[float, float]]]]]:
    """Basin polygons ({basin_id: [polygon: [ring: [(lon, lat)]]]}) of the basins file or folder (read as the API
    reads them: service.api.basin_geometries)."""
    return {bid: rings for bid, rings in basin_geometries(cfg.basins_dir, _rings).items() if rings}


# --- the run a principal sees, and the rows of its levels --------------------------------------------------------


def visible_run(session: Session, principal: Principal, issue_date: dt.date | None = None) -> ForecastRun | None:
    """Reviewers: the newest successful run (draft or published) of `issue_date` or overall; others: the newest
    published one."""
    stmt = select(ForecastRun).where(ForecastRun.status == "success")
    if issue_date is not None:
        stmt = stmt.where(ForecastRun.issue_date == issue_date)
    if not principal.sees_drafts:
        if issue_date is None:
            return latest_published_run(session)
        stmt = stmt.where(ForecastRun.published_at.is_not(None))
        return session.scalars(stmt.order_by(ForecastRun.published_at.desc(), ForecastRun.id.desc()).limit(1)).first()
    return session.scalars(stmt.order_by(ForecastRun.issue_date.desc(), ForecastRun.id.desc()).limit(1)).first()


@dataclass
class StationRow:
    station_id: str
    name: str
    river: str
    basin_id: str
    lat: float | None
    lon: float | None
    level: int | None  # effective
    model_level: int | None = None
    override_reason: str | None = None
    first_date: dt.date | None = None
    probability: float | None = None
    trend: str | None = None
    status: str | None = None
    message: str | None = None

    @property
    def overridden(self) -> bool:
        return self.override_reason is not None


def station_rows(
    session: Session, run: ForecastRun | None, meta: dict[str, StationMeta], principal: Principal
) -> list[StationRow]:
    """Every station the principal may read: with its level in `run`, or without (no forecast) if not in it."""
    rows: list[StationRow] = []
    seen: set[str] = set()
    if run is not None:
        for sl in session.scalars(select(StationLevel).where(StationLevel.run_id == run.id)):
            if not principal.can_read_basin(sl.basin_id):
                continue
            m = meta.get(sl.station_id)
            rows.append(
                StationRow(
                    sl.station_id,
                    m.name if m else sl.station_id,
                    m.river if m else "",
                    sl.basin_id,
                    m.lat if m else None,
                    m.lon if m else None,
                    sl.effective_level,
                    sl.level,
                    sl.override_reason if sl.override_level is not None else None,
                    sl.first_date,
                    sl.probability,
                    sl.trend,
                    sl.status,
                    sl.message,
                )
            )
            seen.add(sl.station_id)
    for sid, m in meta.items():
        if sid not in seen and principal.can_read_basin(m.basin):
            rows.append(StationRow(sid, m.name, m.river, m.basin, m.lat, m.lon, None))
    rows.sort(key=lambda r: (-(r.level if r.level is not None else -1), r.name.lower()))
    return rows


def basin_rows(session: Session, run: ForecastRun | None, principal: Principal) -> list[BasinLevel]:
    if run is None:
        return []
    rows = [
        b
        for b in session.scalars(select(BasinLevel).where(BasinLevel.run_id == run.id))
        if principal.can_read_basin(b.basin_id)
    ]
    rows.sort(key=lambda b: (-b.effective_level, (b.name or b.basin_id).lower()))
    return rows


def basin_namer(meta: dict[str, StationMeta]) -> Any:
    """A function giving a basin's display name: its published name, else (a basin named after its only station)
    the station's name, else its id."""

    def name(b: BasinLevel | None, basin_id: str = "") -> str:
        bid = b.basin_id if b is not None else basin_id
        if b is not None and b.name and b.name != bid:
            return b.name
        m = meta.get(bid)
        return m.name if m is not None else bid

    return name


def today_local() -> dt.date:
    return dt.datetime.now(LOCAL_TZ).date()


def data_age_days(run: ForecastRun | None) -> int | None:
    """Days between the newest observation the run used and its issue date (as the API reports it)."""
    if run is None or run.data_cutoff is None:
        return None
    return max(0, (run.issue_date - run.data_cutoff).days)


# --- SVG: map ------------------------------------------------------------------------------------------------


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
        for poly in _rings(shape(feat["geometry"])):
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


def _labels(located: list[StationRow], r: float, fs: float, right_edge: float, max_labels: int = 120) -> str:
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


def _tiles(cfg: DashboardConfig, x0: float, y0: float, x1: float, y1: float) -> str:
    if not cfg.tile_url:
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
            href = cfg.tile_url.replace("{z}", str(z)).replace("{x}", str(tx % n)).replace("{y}", str(ty))
            out.append(
                f'<image href="{escape(href)}" x="{tx * size:.0f}" y="{ty * size:.0f}" '
                f'width="{size:.1f}" height="{size:.1f}"/>'
            )
    return "".join(out)


def map_svg(
    cfg: DashboardConfig, stations: list[StationRow], basins: list[BasinLevel], lang: str, bname: Any = None
) -> Markup:
    """The map: outline, basin polygons coloured by level, station points coloured by level (highest on top)."""
    bname = bname or (lambda b: b.name or b.basin_id)
    polygons = basin_polygons(cfg)
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
    located = [s for s in stations if s.lon is not None and s.lat is not None]
    r = vw * (0.011 if len(located) <= 50 else 0.0075)
    fs = vw * 0.016  # label font size (user units)
    q = lambda s: escape(s)  # noqa: E731
    parts = [
        f'<svg id="map" class="map" viewBox="{vx:.0f} {vy:.0f} {vw:.0f} {vh:.0f}" data-r="{r:.0f}" data-fs="{fs:.0f}" '
        f'role="img" aria-label="{q(i18n.t("map.title", lang))}" xmlns="http://www.w3.org/2000/svg">',
        f'<rect x="{vx:.0f}" y="{vy:.0f}" width="{vw:.0f}" height="{vh:.0f}" class="sea"/>',
        _tiles(cfg, x0, y0w, x1, y1w),
        f'<path class="land{" over-tiles" if cfg.tile_url else ""}" d="{outline_paths(_widen(bbox))}"/>',
        '<g class="basins">',
    ]
    for bid, polys in visible_polys.items():
        b = basin_by_id[bid]
        colour = i18n.level_colour(b.effective_level)
        d = "".join(_ring_path(ring) for poly in polys for ring in poly)
        label = f"{bname(b)}: {i18n.level_name(b.effective_level, lang)}"
        parts.append(
            f'<a href="/basins/{quote(bid)}"><path class="basin lvl{b.effective_level}" d="{d}" fill="{colour}" '
            f'stroke="{colour}" data-basin="{q(bid)}"><title>{q(label)}</title></path></a>'
        )
    parts.append('</g><g class="stations">')
    for s in sorted(stations, key=lambda s: s.level if s.level is not None else -1):
        if s.lon is None or s.lat is None:
            continue
        x, y = merc(s.lon, s.lat)
        lvl = "none" if s.level is None else str(s.level)
        label = f"{s.name}: {i18n.level_name(s.level, lang)}"
        parts.append(
            f'<a href="/stations/{quote(s.station_id)}"><circle class="st lvl{lvl}" cx="{x * SCALE:.0f}" '
            f'cy="{y * SCALE:.0f}" r="{r:.0f}" fill="{i18n.level_colour(s.level)}" data-station="{q(s.station_id)}" '
            f'data-level="{lvl}"><title>{q(label)}</title></circle></a>'
        )
    parts.append("</g>")
    parts.append(_labels(located, r, fs, vx + vw))
    parts.append("</svg>")
    return Markup("".join(parts))


# --- SVG: hydrograph with the forecast fan -------------------------------------------------------------------


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    return [start + k * step for k in range(int((hi - start) / step) + 2) if start + k * step <= hi + 1e-9]


@dataclass
class TimeChart:
    """A daily time-series chart in SVG user units (shared by the hydrograph and the SWE chart): a plot area of
    `w` x `h` with margins, days `d0`..`d1` across, values 0..`hi` up (the axis is rounded up to nice ticks)."""

    d0: dt.date
    d1: dt.date
    values: list[float]
    w: int = 900
    h: int = 340
    ml: int = 64
    mr: int = 16
    mt: int = 16
    mb: int = 40

    def __post_init__(self) -> None:
        self.pw, self.ph = self.w - self.ml - self.mr, self.h - self.mt - self.mb
        self.span = max(1, (self.d1 - self.d0).days)
        self.lo = 0.0
        hi = max(self.values) * 1.08 if self.values else 1.0
        self.ticks = _nice_ticks(self.lo, hi)
        self.hi = max(hi, self.ticks[-1])
        tstep = self.ticks[1] - self.ticks[0] if len(self.ticks) > 1 else 1.0
        self.tdig = max(0, -math.floor(math.log10(tstep))) if tstep < 1 else 0

    def X(self, d: dt.date) -> float:  # noqa: N802
        return self.ml + self.pw * (d - self.d0).days / self.span

    def Y(self, v: float) -> float:  # noqa: N802
        return self.mt + self.ph * (1 - (v - self.lo) / (self.hi - self.lo))

    def start(self, cls: str, label: str) -> str:
        """The opening <svg> tag."""
        return (
            f'<svg class="{cls}" viewBox="0 0 {self.w} {self.h}" xmlns="http://www.w3.org/2000/svg" role="img" '
            f'aria-label="{escape(label)}">'
        )

    def axes(self, lang: str, ylabel: str, months: bool = False) -> list[str]:
        """Horizontal grid with value ticks, vertical grid with date ticks (weekly, fortnightly or every 30 days by
        the span; on the first of each month if `months`) and the rotated value-axis label."""
        ml, mt, pw, ph = self.ml, self.mt, self.pw, self.ph
        out = []
        for tv in self.ticks:
            y = self.Y(tv)
            out.append(
                f'<line class="grid" x1="{ml}" x2="{ml + pw}" y1="{y:.1f}" y2="{y:.1f}"/>'
                f'<text class="tick" x="{ml - 6}" y="{y + 4:.1f}" text-anchor="end">'
                f"{escape(i18n.format_number(tv, lang, self.tdig))}</text>"
            )
        step = 7 if self.span <= 90 else 14 if self.span <= 180 else 30
        d = self.d0
        while d <= self.d1:
            x = self.X(d)
            label = i18n.MONTHS_SHORT[i18n.norm_lang(lang)][d.month - 1] if months else i18n.format_short_date(d, lang)
            out.append(
                f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{mt}" y2="{mt + ph}"/>'
                f'<text class="tick" x="{x:.1f}" y="{mt + ph + 16}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
            if months:
                d = (d.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
            else:
                d += dt.timedelta(days=step)
        out.append(
            f'<text class="axis" transform="translate(14,{mt + ph / 2:.0f}) rotate(-90)" text-anchor="middle">'
            f"{escape(ylabel)}</text>"
        )
        return out

    def band(self, top: list[tuple[dt.date, float]], bottom: list[tuple[dt.date, float]], cls: str) -> str:
        """A filled band between two lines (points in date order), "" if it has fewer than three corners."""
        pts = top + list(reversed(bottom))
        if len(pts) < 3:
            return ""
        return f'<polygon class="{cls}" points="{" ".join(f"{self.X(a):.1f},{self.Y(b):.1f}" for a, b in pts)}"/>'

    def line(self, pts: list[tuple[dt.date, float]], cls: str) -> str:
        """One polyline through the points."""
        return f'<polyline class="{cls}" points="{" ".join(f"{self.X(a):.1f},{self.Y(b):.1f}" for a, b in pts)}"/>'

    def lines(self, pts: list[tuple[dt.date, float]], cls: str) -> list[str]:
        """Polylines through daily points, broken where days are missing."""
        segs: list[list[str]] = []
        cur: list[str] = []
        prev = None
        for day, v in pts:
            if prev is not None and (day - prev).days > 1 and cur:
                segs.append(cur)
                cur = []
            cur.append(f"{self.X(day):.1f},{self.Y(v):.1f}")
            prev = day
        segs.append(cur)
        return [f'<polyline class="{cls}" points="{" ".join(seg)}"/>' for seg in segs if seg]

    def issue_line(self, day: dt.date, label: str) -> str:
        """The dashed vertical line of the issue date with its label (left of the line unless near the left edge)."""
        xi, mt, ph, ml = self.X(day), self.mt, self.ph, self.ml
        return (
            f'<line class="issue" x1="{xi:.1f}" x2="{xi:.1f}" y1="{mt}" y2="{mt + ph}"/>'
            f'<text class="tick halo" x="{xi - 4 if xi > ml + 130 else xi + 4:.1f}" y="{mt + 12}" '
            f'text-anchor="{"end" if xi > ml + 130 else "start"}">{escape(label)}</text>'
        )

    def end(self) -> str:
        return f'<rect class="frame" x="{self.ml}" y="{self.mt}" width="{self.pw}" height="{self.ph}"/></svg>'


def hydrograph_svg(
    obs: list[tuple[dt.date, float]],
    fan: list[dict[str, Any]],
    thresholds: dict[str, float],
    issue_date: dt.date,
    lang: str,
    units_key: str = "station.units_q",
) -> Markup:
    """Observed discharge before the issue date, the forecast median with its 50% and 90% bands after it, and the
    warning/danger/extreme lines (m3/s). `fan`: [{"date", "q05", "q25", "q50", "q75", "q95"}] per lead. The same
    chart draws water levels (cm) with `units_key="station.units_h"` and the fan's values under the same keys."""
    # at least two weeks before the issue date, so a station without recent data shows that gap
    days = [d for d, _ in obs] + [f["date"] for f in fan] + [issue_date, issue_date - dt.timedelta(days=14)]
    values = [v for _, v in obs] + [f[k] for f in fan for k in ("q05", "q95") if f.get(k) is not None]
    data_hi = max(values) if values else 0.0
    # thresholds far above the data would squash the hydrograph: those are named above the plot instead
    shown = {k: v for k, v in thresholds.items() if v is not None and (data_hi <= 0 or v <= 2.5 * data_hi)}
    above = [(k, v) for k, v in thresholds.items() if v is not None and k not in shown]
    values += list(shown.values())
    c = TimeChart(min(days), max(days), values)
    q = lambda s: escape(s)  # noqa: E731
    out = [c.start("hydrograph", i18n.t("station.hydrograph", lang))]
    out += c.axes(lang, i18n.t(units_key, lang))
    if fan:
        anchor = [(issue_date, obs[-1][1])] if obs and obs[-1][0] == issue_date else []

        def band(lo_k: str, hi_k: str, cls: str) -> str:
            top = [(f["date"], f[hi_k]) for f in fan if f.get(hi_k) is not None]
            bot = [(f["date"], f[lo_k]) for f in fan if f.get(lo_k) is not None]
            return c.band(anchor + top, anchor + bot, cls)

        out.append(band("q05", "q95", "band90"))
        out.append(band("q25", "q75", "band50"))
        out.append(c.line(anchor + [(f["date"], f["q50"]) for f in fan if f.get("q50") is not None], "median"))
    if obs:
        out += c.lines(obs, "observed")
    out.append(c.issue_line(issue_date, i18n.t("station.issue_line", lang)))
    if above:
        names = ", ".join(f"{i18n.t('level.' + k, lang)} {i18n.format_number(v, lang)}" for k, v in above)
        out.append(
            f'<text class="tick halo" x="{c.ml + c.pw - 6}" y="{c.mt + 28}" text-anchor="end">'
            f"{q(i18n.t('station.above_chart', lang, names=names))}</text>"
        )
    for k, kind in enumerate(THRESHOLDS):
        v = shown.get(kind)
        if v is None or v > c.hi:
            continue
        y = c.Y(v)
        colour = i18n.level_colour(k + 1)
        out.append(
            f'<line class="thr thr-{kind}" x1="{c.ml}" x2="{c.ml + c.pw}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{colour}"/><text class="thrlabel" x="{c.ml + 6}" y="{y - 5:.1f}" fill="{colour}">'
            f"{q(i18n.t('level.' + kind, lang))} {q(i18n.format_number(v, lang))}</text>"
        )
    out.append(c.end())
    return Markup("".join(out))


# --- spring flood outlook on the basin page ---------------------------------------------------------------------


def _day(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _flow_text(x: float, lang: str) -> str:
    """A discharge rounded as the outlook's own text rounds it (forecasting.outlook), decimal comma in ru/kk."""
    s = outlook_round(x)
    return s.replace(".", ",") if lang in ("ru", "kk") else s


def outlook_sentence(out: dict[str, Any], lang: str) -> str:
    """The outlook in one sentence in `lang`, e.g. "Spring flood volume expected at 127% of normal (80% range
    110–147%), peak 50–85 m³/s" (the API's `text`, translated; volume as % of the norm, peak in m3/s)."""
    parts = []
    vol, peak = out.get("volume") or {}, out.get("peak") or {}
    if vol.get("pct_of_norm") is not None:
        parts.append(
            i18n.t(
                "outlook.volume_text",
                lang,
                pct=f"{vol['pct_of_norm']:.0f}",
                low=f"{vol['pct_low']:.0f}",
                high=f"{vol['pct_high']:.0f}",
            )
        )
    if peak.get("low") is not None and peak.get("high") is not None:
        parts.append(
            i18n.t("outlook.peak_text", lang, low=_flow_text(peak["low"], lang), high=_flow_text(peak["high"], lang))
        )
    text = ", ".join(parts)
    return text[:1].upper() + text[1:]


def swe_chart_svg(clim: dict[str, Any], issue_date: dt.date, lang: str) -> Markup | None:
    """Basin SWE (mm) of this snow season (dark line, up to the day before the issue date) against the median and
    10-90% band of the same day of year in earlier seasons (blue), from the outlook's `swe_climatology`; drawn with
    the hydrograph's TimeChart. None when there is nothing to draw."""
    rows = [(d, r) for r in clim.get("days") or [] if (d := _day(r.get("date"))) is not None]
    if not rows:
        return None

    def series(key: str) -> list[tuple[dt.date, float]]:
        return [(d, float(r[key])) for d, r in rows if r.get(key) is not None]

    median, p10, p90, current = series("median"), series("p10"), series("p90"), series("current")
    values = [v for _, v in p90 + current + median]
    if not values:
        return None
    c = TimeChart(rows[0][0], rows[-1][0], values, h=280)
    out = [c.start("hydrograph swe-chart", i18n.t("outlook.swe_title", lang))]
    out += c.axes(lang, i18n.t("outlook.swe_units", lang), months=True)
    both = {d for d, _ in p10} & {d for d, _ in p90}
    out.append(c.band([p for p in p90 if p[0] in both], [p for p in p10 if p[0] in both], "band90 climband"))
    out += c.lines(median, "median climmedian")
    out += c.lines(current, "observed swe-current")
    if rows[0][0] <= issue_date <= rows[-1][0]:
        out.append(c.issue_line(issue_date, i18n.t("outlook.issue_line", lang)))
    out.append(c.end())
    return Markup("".join(out))


@lru_cache(maxsize=256)
def _outlook_of(root: str, basin_id: str, on: dt.date, _files: tuple[tuple[str, int], ...]) -> dict[str, Any] | None:
    return latest_outlook(Path(root), basin_id, on)


def current_outlook(home: Home, basin_id: str, on: dt.date) -> dict[str, Any] | None:
    """service.routers.outlook.latest_outlook (the API's reader), remembered until an outlook file changes."""
    try:
        files = tuple((p.name, p.stat().st_mtime_ns) for p in outlook_files(home.root))
    except OSError:  # a file replaced while listing: read afresh
        return latest_outlook(home.root, basin_id, on)
    return _outlook_of(str(home.root), basin_id, on, files) if files else None


def outlook_view(home: Home, basin_id: str, on: dt.date, lang: str) -> dict[str, Any] | None:
    """What the basin page shows of the newest spring flood outlook issued on or before `on` (read by the API's
    reader, see current_outlook): None if there is none; {"note"} (one line) if the outlook has no result for the
    basin or its flood season ended before `on`; else the sentence, issue date, season, the volume and peak rows
    (value, 80% range, norm, % of norm), the cross-validated skill and the SWE chart."""
    out = current_outlook(home, basin_id, on)
    if out is None:
        return None
    issue = _day(out.get("issue_date"))
    season = out.get("season") or {}
    start, end = _day(season.get("start")), _day(season.get("end"))
    fdate = lambda d: i18n.format_date(d, lang)  # noqa: E731
    if out.get("status") != "ok":
        return {"note": i18n.t("outlook.unavailable", lang, date=fdate(issue), message=out.get("message") or "")}
    if end is not None and on > end:
        return {"note": i18n.t("outlook.expired", lang, date=fdate(issue), end=fdate(end))}
    rows = []
    vol, peak = out.get("volume") or {}, out.get("peak") or {}
    if vol.get("value") is not None:
        rows.append(("outlook.volume", vol.get("value"), vol.get("low"), vol.get("high"), vol.get("norm")))
        if vol.get("value_mm") is not None:
            mm = [vol.get(k) for k in ("value_mm", "low_mm", "high_mm", "norm_mm")]
            rows.append(("outlook.volume_mm", *mm))
    if peak.get("value") is not None:
        rows.append(("outlook.peak", peak.get("value"), peak.get("low"), peak.get("high"), peak.get("norm")))
    table = [
        {
            "label": i18n.t(key, lang),
            "value": value,
            "low": low,
            "high": high,
            "norm": norm,
            "pct": None if not norm or value is None else 100.0 * value / norm,
        }
        for key, value, low, high, norm in rows
    ]
    skill_text = None
    sv = (out.get("skill") or {}).get("volume") or {}
    years = out.get("training_years") or []
    if sv.get("accuracy_p") is not None and len(years) == 3:
        skill_text = i18n.t(
            "outlook.skill",
            lang,
            first=years[0],
            last=years[1],
            n=sv.get("n", years[2]),
            acc=i18n.format_pct(sv.get("accuracy_p")),
            acc_norm=i18n.format_pct(sv.get("accuracy_p_norm")),
            skill=i18n.format_number(sv.get("skill_vs_norm"), lang, 2),
        )
    clim = out.get("swe_climatology") or {}
    chart = swe_chart_svg(clim, issue, lang) if issue is not None else None
    source_key = {"measured": "outlook.swe_measured", "degree-day": "outlook.swe_degree_day"}.get(clim.get("source"))
    return {
        "sentence": outlook_sentence(out, lang),
        "issued": i18n.t("outlook.issued", lang, date=fdate(issue), start=fdate(start), end=fdate(end)),
        "issue_date": issue,
        "rows": table,
        "skill": skill_text,
        "swe_svg": chart,
        "swe_source": i18n.t(source_key, lang) if source_key else "",
    }


# --- forecast details for the station page -------------------------------------------------------------------


def _str(v: Any) -> str:
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v)


# the quantiles of the forecast fan: key suffix (q05 in m3/s, h05 in cm, ...) and level
FAN_LEVELS: tuple[tuple[str, float], ...] = (("05", 0.05), ("25", 0.25), ("50", 0.5), ("75", 0.75), ("95", 0.95))


def station_forecast(ds: xr.Dataset | None, station_id: str) -> dict[str, Any] | None:
    """Per-lead quantiles, exceedance probabilities, levels and driver contributions (`drivers`, log units:
    forecasting.explain), and the thresholds with units and source."""
    if ds is None or "station" not in ds.dims or station_id not in set(map(str, ds["station"].values)):
        return None
    one = ds.sel(station=station_id)
    qs = [float(x) for x in ds["quantile"].values]

    def qcol(level: float, var: str = "discharge_m3s") -> np.ndarray | None:
        if not qs or var not in one:
            return None
        k = int(np.argmin([abs(x - level) for x in qs]))
        return one[var].isel(quantile=k).values if abs(qs[k] - level) < 1e-6 else None

    cols = {f"q{name}": qcol(level) for name, level in FAN_LEVELS}
    cols |= {f"h{name}": qcol(level, "water_level_cm") for name, level in FAN_LEVELS}  # cm, where forecast
    leads = [int(x) for x in ds["lead"].values]
    vdates = [dt.date.fromisoformat(str(v)[:10]) for v in ds["valid_date"].values] if "valid_date" in ds else []
    issue = dt.date.fromisoformat(str(ds.attrs.get("issue_date"))[:10]) if ds.attrs.get("issue_date") else None
    if not vdates and issue:
        vdates = [issue + dt.timedelta(days=k) for k in leads]
    kinds = [str(x) for x in ds["threshold"].values] if "threshold" in ds.coords else []
    value_var = "threshold_value" if "threshold_value" in one else "threshold" if "threshold" in one.data_vars else None
    thresholds = []
    for kind in kinds:
        value = _num(one[value_var].sel(threshold=kind).values) if value_var else None
        if value is None:
            continue

        def text(var: str, kind: str = kind) -> str:
            return _str(one[var].sel(threshold=kind).values) if var in one else ""

        years = text("threshold_years")
        source = text("threshold_source")
        thresholds.append(
            {
                "kind": kind,
                "value": value,
                "units": text("threshold_units") or "m3/s",
                "source": f"{source} ({years})" if years and years not in source else source,
            }
        )
    rows = []
    for i, lead in enumerate(leads):
        row: dict[str, Any] = {"lead": lead, "date": vdates[i] if i < len(vdates) else None}
        for name, col in cols.items():
            row[name] = _num(col[i]) if col is not None else None
        row["p"] = {}
        if "p_exceed" in one and kinds:
            for kind in kinds:
                row["p"][kind] = _num(one["p_exceed"].sel(threshold=kind).values[i])
        row["level"] = int(one["level"].values[i]) if "level" in one else None
        row["drivers"] = {}
        if "driver_contribution" in one:
            vals = one["driver_contribution"].values[i]
            if np.isfinite(vals).any():
                names = [str(d) for d in ds["driver"].values]
                row["drivers"] = {n: float(v) for n, v in zip(names, vals, strict=True) if np.isfinite(v)}  # log
        rows.append(row)
    return {
        "quantiles": qs,
        "leads": rows,
        "thresholds": thresholds,
        "model_name": _str(one["model_name"].values) if "model_name" in one else "",
        "model_version": _str(one["model_version"].values) if "model_version" in one else "",
        "status": _str(one["status"].values) if "status" in one else "",
        "message": _str(one["message"].values) if "message" in one else "",
        "rating_note": _str(one["rating_note"].values) if "rating_note" in one else "",
        "last_obs_date": (
            dt.date.fromisoformat(str(one["last_obs_date"].values)[:10])
            if "last_obs_date" in one and not np.isnat(one["last_obs_date"].values)
            else None
        ),
        "last_obs_m3s": _num(one["last_obs_m3s"].values) if "last_obs_m3s" in one else None,
    }


# --- rendering ----------------------------------------------------------------------------------------------


def request_lang(request: Request) -> str:
    """?lang= first, then the cookie, then Russian."""
    return i18n.norm_lang(request.query_params.get("lang") or request.cookies.get(i18n.LANG_COOKIE))


def _lang_url(request: Request, lang: str) -> str:
    params = dict(request.query_params)
    params["lang"] = lang
    params.pop("msg", None)
    return f"{request.url.path}?{urlencode(params)}"


def render(request: Request, template: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """Render a page with the common context (language, principal, CSRF token, run banner) and set the language and
    CSRF cookies."""
    lang = request_lang(request)
    cfg = auth_config(request)
    principal = resolve_principal(request)
    seed = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf_seed", None) or new_csrf_seed()
    run: ForecastRun | None = ctx.get("run")

    def tr(key: str, **fields: Any) -> str:
        return i18n.t(key, lang, **fields)

    context = {
        "request": request,
        "lang": lang,
        "langs": [(code, i18n.LANG_NAMES[code], _lang_url(request, code)) for code in i18n.LANGS],
        "tr": tr,
        "i18n": i18n,
        "fdate": lambda d, year=True: i18n.format_date(d, lang, year),
        "fdatetime": lambda m: i18n.format_datetime(m, lang),
        "fnum": lambda x, digits=None: i18n.format_number(x, lang, digits),
        "fpct": i18n.format_pct,
        "fchange": i18n.format_change,
        "phrase": lambda level, p, d: i18n.level_phrase(level, p, d, lang),
        "level_name": lambda level: i18n.level_name(level, lang),
        "level_colour": i18n.level_colour,
        "principal": principal,
        "csrf": csrf_token(cfg.secret, seed),
        "path": request.url.path,
        "msg": request.query_params.get("msg"),
        "data_age": data_age_days(run),
        "fage": lambda n: i18n.format_age(n, lang),
        **ctx,
    }
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    if request.query_params.get("lang") or not request.cookies.get(i18n.LANG_COOKIE):
        response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    if not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(CSRF_COOKIE, seed, httponly=True, samesite="lax", secure=cfg.secure_cookies)
    return response


def _error(request: Request, status: int, key: str, **fields: Any) -> HTMLResponse:
    lang = request_lang(request)
    return render(request, "error.html", status_code=status, message=i18n.t(key, lang, **fields), run=None)


def _reader(request: Request) -> Principal | RedirectResponse:
    """The principal if it may read the dashboard, else a redirect to the login page."""
    principal = resolve_principal(request)
    if not principal.authenticated and not auth_config(request).anonymous_read:
        nxt = quote(str(request.url.path))
        return RedirectResponse(f"/login?next={nxt}", status_code=303)
    return principal


def _parse_date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"malformed issue_date {value!r}: use YYYY-MM-DD") from None


# --- pages ----------------------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def map_page(request: Request, issue_date: str | None = None) -> Response:
    principal = _reader(request)
    if isinstance(principal, RedirectResponse):
        return principal
    cfg = _config(request)
    meta = station_metadata(observation_store(request))
    with _db(request) as session:
        _maybe_auto_publish(request, session)
        run = visible_run(session, principal, _parse_date(issue_date))
        stations = station_rows(session, run, meta, principal)
        basins = basin_rows(session, run, principal)
    lang = request_lang(request)
    counts = [sum(1 for s in stations if s.level == k) for k in range(4)]
    station_ids = {s.station_id for s in stations}
    # list basins apart only where they are more than their one station (the real data: one basin per station)
    show_basins = any(b.n_stations > 1 or b.basin_id not in station_ids for b in basins)
    return render(
        request,
        "map.html",
        run=run,
        stations=stations,
        basins=basins,
        counts=counts,
        no_coords=[s for s in stations if s.lat is None or s.lon is None],
        map_svg=map_svg(cfg, stations, basins, lang, basin_namer(meta)),
        bname=basin_namer(meta),
        show_basins=show_basins,
        tile_attribution=cfg.tile_attribution,
    )


@router.get("/basins/{basin_id}", response_class=HTMLResponse)
def basin_page(request: Request, basin_id: str, issue_date: str | None = None) -> Response:
    principal = _reader(request)
    if isinstance(principal, RedirectResponse):
        return principal
    if not principal.can_read_basin(basin_id):
        return _error(request, 403, "error.forbidden")
    cfg = _config(request)
    meta = station_metadata(observation_store(request))
    with _db(request) as session:
        run = visible_run(session, principal, _parse_date(issue_date))
        stations = [s for s in station_rows(session, run, meta, principal) if s.basin_id == basin_id]
        basin = next((b for b in basin_rows(session, run, principal) if b.basin_id == basin_id), None)
    if basin is None and not stations:
        return _error(request, 404, "basin.unknown", id=basin_id)
    lang = request_lang(request)
    small_map = map_svg(cfg, stations, [basin] if basin else [], lang, basin_namer(meta))
    ds = forecast_dataset(request, run)
    explained = ds is not None and "driver_contribution" in ds  # else every station's column would be empty
    why = {s.station_id: why_short(station_forecast(ds, s.station_id), lang) for s in stations} if explained else {}
    # the spring flood outlook current on the page's date: the run's issue date, else the asked date, else today
    on = run.issue_date if run is not None else _parse_date(issue_date) or today_local()
    return render(
        request,
        "basin.html",
        run=run,
        basin=basin,
        basin_id=basin_id,
        stations=stations,
        basin_name=basin_namer(meta)(basin, basin_id),
        small_map=small_map,
        outlook=outlook_view(cfg.home, basin_id, on, lang),
        why=why,
    )


def _visible_station(
    session: Any, principal: Any, meta: dict[str, StationMeta], station_id: str, issue_date: str | None
) -> tuple[ForecastRun | None, Any]:
    """The run this reader sees (of `issue_date` or the latest) and the station's row in it (None if not visible)."""
    run = visible_run(session, principal, _parse_date(issue_date))
    row = next((s for s in station_rows(session, run, meta, principal) if s.station_id == station_id), None)
    return run, row


def _driver_items(lead_row: dict[str, Any], lang: str) -> str:
    """The main drivers of one lead in words, e.g. "snowpack and snowmelt (+61%), air temperature (+20%)"."""
    top = main_drivers(lead_row["drivers"])
    return ", ".join(f"{i18n.t('driver.' + d, lang)} ({i18n.format_change(v)})" for d, v in top)


def _focus(fc: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[int, float], dict[str, Any] | None]:
    """The leads with drivers, the median's total change per lead (percent of the sum of the drivers' log
    contributions) and the lead where it changes most (None when no lead has drivers)."""
    leads = [r for r in (fc or {}).get("leads", []) if r.get("drivers")]
    total = {r["lead"]: float(as_percent(sum(r["drivers"].values()))) for r in leads}
    focus = max(leads, key=lambda r: abs(total[r["lead"]])) if leads else None
    return leads, total, focus


def why_short(fc: dict[str, Any] | None, lang: str) -> str:
    """For a list of stations: the main drivers of the lead where the median changes most ("" if none)."""
    _leads, _total, focus = _focus(fc)
    return _driver_items(focus, lang) if focus is not None else ""


def why_view(fc: dict[str, Any] | None, lang: str) -> dict[str, Any] | None:
    """The "why the forecast changes" block: drivers (rows) x leads in percent, and a sentence for the lead with
    the largest change of the median (its main drivers named). None when no lead has driver contributions."""
    leads, total, focus = _focus(fc)
    if focus is None:
        return None
    items = _driver_items(focus, lang)
    drivers_text = i18n.t("station.why_mainly", lang, items=items) if items else i18n.t("station.why_nothing", lang)
    sentence = i18n.t(
        "station.why_sentence",
        lang,
        date=i18n.format_date(focus["date"], lang, False) if focus.get("date") else str(focus["lead"]),
        change=i18n.format_change(total[focus["lead"]]),
        drivers=drivers_text,
    )
    pct = [{d: float(as_percent(v)) for d, v in r["drivers"].items()} for r in leads]
    shown = [d for d in DRIVERS if any(abs(p.get(d, 0.0)) >= 0.5 for p in pct)]
    return {
        "sentence": sentence,
        "leads": [r["lead"] for r in leads],
        "rows": [{"driver": d, "label": i18n.t("driver." + d, lang), "values": [p.get(d) for p in pct]} for d in shown],
        "total": [total[r["lead"]] for r in leads],
    }


@router.get("/stations/{station_id}", response_class=HTMLResponse)
def station_page(request: Request, station_id: str, issue_date: str | None = None) -> Response:
    principal = _reader(request)
    if isinstance(principal, RedirectResponse):
        return principal
    store = observation_store(request)
    meta = station_metadata(store)
    with _db(request) as session:
        run, row = _visible_station(session, principal, meta, station_id, issue_date)
        if row is None:
            m = meta.get(station_id)
            sl = None
            if run is not None and m is None:
                sl = session.scalars(
                    select(StationLevel).where(StationLevel.run_id == run.id, StationLevel.station_id == station_id)
                ).first()
            if m is not None or sl is not None:
                return _error(request, 403, "error.forbidden")
            return _error(request, 404, "station.unknown", id=station_id)
    lang = request_lang(request)
    ds = forecast_dataset(request, run)
    fc = station_forecast(ds, station_id)
    issue = run.issue_date if run is not None else today_local()
    since = issue - dt.timedelta(days=HISTORY_DAYS)
    obs = observations(store, station_id, since, issue)
    thr_m3s = {t["kind"]: t["value"] for t in (fc or {}).get("thresholds", []) if t["units"] in ("m3/s", "m3 s-1")}
    fan = [f for f in (fc or {}).get("leads", []) if f.get("date") is not None]
    svg = hydrograph_svg(obs, fan, thr_m3s, issue, lang) if (obs or fan) else None
    level_svg = None  # marks in cm: the water-level forecast (discharge through the rating curve) against them
    thr_cm = {t["kind"]: t["value"] for t in (fc or {}).get("thresholds", []) if t["units"] == "cm"}
    level_fan = [
        {"date": f["date"], **{f"q{n}": f.get(f"h{n}") for n, _level in FAN_LEVELS}}
        for f in fan
        if f.get("h50") is not None
    ]
    if thr_cm and level_fan:
        obs_h = observations(store, station_id, since, issue, "water_level_cm")
        level_svg = hydrograph_svg(obs_h, level_fan, thr_cm, issue, lang, "station.units_h")
    skill = backtest_skill(request.app.state.tasqyn, station_id)
    if skill is not None:  # the page names the report file
        skill = {**skill, "report": Path(skill["report"]).name}
    return render(
        request,
        "station.html",
        run=run,
        station=row,
        fc=fc,
        svg=svg,
        level_svg=level_svg,
        rating_note=(fc or {}).get("rating_note", ""),
        skill=skill,
        why=why_view(fc, lang),
        meta=meta.get(station_id),
        basin_name=basin_namer(meta)(None, row.basin_id),
        has_recent_obs=bool(obs),
        history_days=HISTORY_DAYS,
    )


@router.get("/stations/{station_id}/forecast.csv")
def station_csv(request: Request, station_id: str, issue_date: str | None = None) -> Response:
    principal = _reader(request)
    if isinstance(principal, RedirectResponse):
        return principal
    meta = station_metadata(observation_store(request))
    with _db(request) as session:
        run, row = _visible_station(session, principal, meta, station_id, issue_date)
    if row is None or run is None:
        raise HTTPException(404, f"no forecast for station {station_id!r}")
    ds = forecast_dataset(request, run)
    fc = station_forecast(ds, station_id)
    if fc is None:
        raise HTTPException(404, f"no forecast for station {station_id!r} on {run.issue_date.isoformat()}")
    buf = io.StringIO()
    w = csv.writer(buf)
    kinds = [t["kind"] for t in fc["thresholds"]]
    w.writerow(
        [
            "station_id",
            "issue_date",
            "review_status",
            "lead",
            "valid_date",
            *[f"q{q:g}_m3s" for q in fc["quantiles"]],
            *[f"p_exceed_{k}" for k in kinds],
            "level",
        ]
    )
    one = ds.sel(station=station_id) if ds is not None else None
    for i, lead in enumerate(fc["leads"]):
        quants = [f"{float(v):.4g}" for v in one["discharge_m3s"].values[i]] if one is not None else []
        w.writerow(
            [
                station_id,
                run.issue_date.isoformat(),
                run.review_status,
                lead["lead"],
                lead["date"].isoformat() if lead["date"] else "",
                *quants,
                *[("" if lead["p"].get(k) is None else f"{lead['p'][k]:.3f}") for k in kinds],
                "" if lead["level"] is None else lead["level"],
            ]
        )
    name = f"forecast-{station_id}-{run.issue_date.isoformat()}.csv"
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request) -> Response:
    principal = _reader(request)
    if isinstance(principal, RedirectResponse):
        return principal
    with _db(request) as session:
        _maybe_auto_publish(request, session)
        stmt = select(ForecastRun)
        if not principal.sees_drafts:
            stmt = stmt.where(ForecastRun.published_at.is_not(None))
        runs = list(session.scalars(stmt.order_by(ForecastRun.issue_date.desc(), ForecastRun.id.desc()).limit(60)))
        trail = audit_trail(session, limit=200) if principal.authenticated else None
        current = visible_run(session, principal)
    if trail is not None and principal.basins is not None:  # a basin-limited reader sees the actions on its basins
        meta = station_metadata(observation_store(request))

        def readable(a: Any) -> bool:
            if a.target_type == "basin":
                return principal.can_read_basin(a.target_id)
            if a.target_type == "station":
                m = meta.get(a.target_id or "")
                return principal.can_read_basin(m.basin if m else a.target_id)
            return True

        trail = [a for a in trail if readable(a)]
    return render(request, "runs.html", run=current, runs=runs, trail=trail)


# --- review forms ---------------------------------------------------------------------------------------------


@router.post("/forecasts/{issue_date}/review")
def review_form(
    request: Request,
    issue_date: str,
    action: str = Form(...),
    csrf_token: str = Form(""),
    station_id: str = Form(""),
    basin_id: str = Form(""),
    level: str = Form(""),
    reason: str = Form(""),
    back: str = Form(""),
) -> Response:
    cfg = auth_config(request)
    if not check_csrf(cfg.secret, request.cookies.get(CSRF_COOKIE), csrf_token):
        return _error(request, 403, "error.csrf")
    principal = resolve_principal(request)
    if not principal.authenticated:
        return RedirectResponse(f"/login?next={quote(back or '/')}", status_code=303)
    if not principal.can_review:
        return _error(request, 403, "error.forbidden")
    lang = request_lang(request)
    day = _parse_date(issue_date)
    assert day is not None
    target = back if back.startswith("/") and not back.startswith("//") else "/"
    try:
        with _db(request) as session:
            _, entry = apply_review(
                session,
                day,
                Actor(principal.name, principal.role),
                action,
                station_id or None,
                basin_id or None,
                int(level) if level.strip() not in ("", "clear") else None,
                reason,
            )
            session.commit()
    except ReviewError as exc:
        key = "review.reason_required" if "reason" in str(exc) and "required" in str(exc) else None
        message = i18n.t(key, lang) if key else str(exc)
        return RedirectResponse(f"{target}?{urlencode({'msg': message, 'error': '1'})}", status_code=303)
    except ValueError:
        return RedirectResponse(f"{target}?{urlencode({'msg': 'level must be 0-3', 'error': '1'})}", status_code=303)
    _invalidate_api_cache(request)
    if action == "approve":
        message = i18n.t("review.done_approve", lang, date=i18n.format_date(day, lang))
    else:
        message = i18n.t(
            "review.done_override", lang, target=station_id or basin_id, level=i18n.level_name(entry.new_level, lang)
        )
    return RedirectResponse(f"{target}?{urlencode({'msg': message})}", status_code=303)


def _invalidate_api_cache(request: Request) -> None:
    """Make the API's cached responses reflect a review at once (in this process)."""
    cache = getattr(request.app.state, "response_cache", None)
    if cache is not None and hasattr(cache, "invalidate"):
        cache.invalidate()


# --- login / logout -------------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:  # noqa: A002
    return render(request, "login.html", run=None, next=next, error=None)


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form("/"),  # noqa: A002
) -> Response:
    cfg = auth_config(request)
    lang = request_lang(request)
    if not check_csrf(cfg.secret, request.cookies.get(CSRF_COOKIE), csrf_token):
        return render(request, "login.html", status_code=403, run=None, next=next, error=i18n.t("error.csrf", lang))
    ip = client_ip(request)
    wait = cfg.limiter.retry_after(username, ip)
    if wait > 0:
        resp = render(
            request,
            "login.html",
            status_code=429,
            run=None,
            next=next,
            error=i18n.t("login.rate_limited", lang, n=max(1, math.ceil(wait / 60))),
        )
        resp.headers["Retry-After"] = str(int(math.ceil(wait)))
        return resp
    with _db(request) as session:
        user = authenticate_user(session, username, password)
        cookie = make_session_cookie(cfg.secret, user) if user is not None else None
        session.commit()
    if cookie is None:
        cfg.limiter.failed(username, ip)
        return render(request, "login.html", status_code=401, run=None, next=next, error=i18n.t("login.failed", lang))
    cfg.limiter.succeeded(username, ip)
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="lax", secure=cfg.secure_cookies, max_age=12 * 3600)
    return resp


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form("")) -> Response:
    cfg = auth_config(request)
    if not check_csrf(cfg.secret, request.cookies.get(CSRF_COOKIE), csrf_token):
        return _error(request, 403, "error.csrf")
    resp = RedirectResponse("/", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


# --- installation -------------------------------------------------------------------------------------------


class DashboardGZip:
    """gzip for the dashboard's pages and static files (clients that accept it); the JSON API under /api/ is passed
    through untouched (it has its own fast path)."""

    def __init__(self, app: Any) -> None:
        from starlette.middleware.gzip import GZipMiddleware

        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=1024)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope.get("path", "").startswith("/api/"):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def setup(app: Any) -> None:
    """Mount the dashboard on `app` (called by service.app.create_app): access configuration (if not done yet),
    the dashboard configuration, static files at /static, the review API router and the pages. Uses
    `app.state.settings` and `app.state.session_factory`."""
    from fastapi.staticfiles import StaticFiles

    from service.auth import setup_auth
    from service.routers.review import router as review_router

    settings = getattr(app.state, "settings", None)
    setup_auth(app, app.state.session_factory, settings).region_lookup = basin_regions(app.state.tasqyn)
    setup_dashboard(app, settings)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.add_middleware(DashboardGZip)
    if app.state.dashboard.review_deadline_hours is not None:
        app.add_middleware(ReviewDeadline, service_app=app)
    app.include_router(review_router)
    app.include_router(router)
