"""Settings of the service, from arguments or the environment (TASQYN_*)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from forecasting.home import Home
from service.db import database_url


def _env_bool(name: str, default: bool) -> bool:
    v = os.environ.get(name)
    if v is None or v == "":
        return default
    return v.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """What the application needs.

    home: the home directory (store, forecasts, backtest report, SQLite database);
    database_url: SQLAlchemy URL (default `sqlite:///<home>/tasqyn.db`, or $TASQYN_DATABASE_URL);
    anonymous_read: published levels, forecasts and observations readable without a key ($TASQYN_ANONYMOUS_READ);
    secret_key: signs session cookies (default: `<home>/secret_key`, created once; $TASQYN_SECRET_KEY);
    observation_days: recent days of observations in a forecast response;
    cache_revalidate_s: how often (seconds) cached responses check the database for a new publication, review
        action or changed store (0 = on every request). A change made through this application (any POST) empties
        the cache at once; one made by another process (the daily flow) shows after at most this delay;
    basins_path: basin polygons (GeoJSON file or folder) for `basins.geojson` (default `<home>/basins` if present);
    review_deadline_hours: auto-publish unreviewed drafts after this many hours (None: never);
    tile_url, tile_attribution: the dashboard's map tiles ($TASQYN_TILE_URL; none: an offline outline map).
    """

    home: Home
    database_url: str
    anonymous_read: bool = True
    secret_key: str | None = None
    secure_cookies: bool = False
    observation_days: int = 30
    cache_revalidate_s: float = 1.0
    basins_path: Path | None = None
    review_deadline_hours: float | None = None
    tile_url: str | None = None
    tile_attribution: str = ""
    login_max_failures: int = 5
    login_window_s: float = 900.0
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls, home: Home | str | Path | None = None, database_url_: str | None = None, **kw: object
    ) -> Settings:
        h = home if isinstance(home, Home) else Home.from_env(home)
        deadline = os.environ.get("TASQYN_REVIEW_DEADLINE_HOURS")
        basins = os.environ.get("TASQYN_BASINS")
        base = cls(
            home=h,
            database_url=database_url(h, database_url_),
            anonymous_read=_env_bool("TASQYN_ANONYMOUS_READ", True),
            secret_key=os.environ.get("TASQYN_SECRET_KEY") or None,
            secure_cookies=_env_bool("TASQYN_SECURE_COOKIES", False),
            cache_revalidate_s=float(os.environ.get("TASQYN_CACHE_REVALIDATE_S", "1") or 0),
            basins_path=Path(basins) if basins else None,
            review_deadline_hours=float(deadline) if deadline else None,
            tile_url=os.environ.get("TASQYN_TILE_URL") or None,
            tile_attribution=os.environ.get("TASQYN_TILE_ATTRIBUTION", ""),
        )
        return replace(base, **kw)  # type: ignore[arg-type]

    @property
    def basins_dir(self) -> Path | None:
        return self.basin_polygons

    @property
    def basin_polygons(self) -> Path | None:
        if self.basins_path is not None:
            return self.basins_path
        d = self.home.root / "basins"
        return d if d.exists() else None
