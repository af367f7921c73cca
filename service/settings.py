"""Settings of the service (pydantic-settings): one name per setting, from arguments or `TASQYN_<NAME>`.

| setting | environment | meaning |
|---|---|---|
| home | TASQYN_HOME | the home directory (store, forecasts, backtest reports, SQLite database); default ./var |
| database_url | TASQYN_DATABASE_URL | SQLAlchemy URL; default `sqlite:///<home>/tasqyn.db` |
| db_timeout_s | TASQYN_DB_TIMEOUT_S | longest wait (s) for one database round trip before 503 (records.db_timeouts) |
| anonymous_read | TASQYN_ANONYMOUS_READ | published levels, forecasts and observations readable without a key |
| secret_key | TASQYN_SECRET_KEY | signs session cookies; default `<home>/secret_key`, created once |
| secure_cookies | TASQYN_SECURE_COOKIES | cookies only over HTTPS (behind a TLS proxy) |
| observation_days | TASQYN_OBSERVATION_DAYS | recent days of observations in a forecast response |
| cache_revalidate_s | TASQYN_CACHE_REVALIDATE_S | how often (s) cached answers look for a new publication |
| cache_max_mb | TASQYN_CACHE_MAX_MB | memory the response cache may hold (MB of answers, least recently used dropped) |
| basins_path | TASQYN_BASINS_PATH, TASQYN_BASINS | basin polygons (GeoJSON file or folder); <home>/basins |
| review_deadline_hours | TASQYN_REVIEW_DEADLINE_HOURS | publish drafts unreviewed after this many hours |
| tile_url, tile_attribution | TASQYN_TILE_URL, TASQYN_TILE_ATTRIBUTION | map tiles (unset: offline layers only) |
| login_max_failures | TASQYN_LOGIN_MAX_FAILURES | failed logins allowed per (user name, address) per window |
| login_max_failures_per_address | TASQYN_LOGIN_MAX_FAILURES_PER_ADDRESS | failed logins per address per window |
| login_window_s | TASQYN_LOGIN_WINDOW_S | that window, seconds |
| login_max_failures_global | TASQYN_LOGIN_MAX_FAILURES_GLOBAL | failed logins from all addresses per global window |
| login_global_window_s | TASQYN_LOGIN_GLOBAL_WINDOW_S | that window, seconds |
| login_concurrency | TASQYN_LOGIN_CONCURRENCY | password checks (argon2id, 64 MiB each) run at once per process |
| login_wait_s | TASQYN_LOGIN_WAIT_S | how long a login waits for a free check before 503 |

A change made through this application (any POST) empties the response cache at once; one made by another process
(the daily flow) shows after at most `cache_revalidate_s`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from forecasting.home import Home
from records.db import database_url as default_database_url


class Settings(BaseSettings):
    """What the application needs (see the module docstring for each setting)."""

    model_config = SettingsConfigDict(
        env_prefix="TASQYN_", extra="ignore", frozen=True, validate_default=True, arbitrary_types_allowed=True
    )

    home: Annotated[Home, NoDecode] = Field(default_factory=Home.from_env)
    database_url: str = ""
    db_timeout_s: float = Field(5.0, gt=0, le=300)
    anonymous_read: bool = True
    secret_key: str | None = None
    secure_cookies: bool = False
    observation_days: int = Field(30, ge=1, le=3660)
    cache_revalidate_s: float = Field(1.0, ge=0)
    cache_max_mb: float = Field(64.0, gt=0)
    basins_path: Path | None = Field(
        None, validation_alias=AliasChoices("basins_path", "TASQYN_BASINS_PATH", "TASQYN_BASINS")
    )
    review_deadline_hours: float | None = None
    tile_url: str | None = None
    tile_attribution: str = ""
    login_max_failures: int = Field(5, ge=1)
    login_window_s: float = Field(900.0, gt=0)
    login_max_failures_per_address: int = Field(20, ge=1)
    login_max_failures_global: int = Field(100, ge=1)
    login_global_window_s: float = Field(60.0, gt=0)
    login_concurrency: int = Field(2, ge=1, le=64)
    login_wait_s: float = Field(2.0, ge=0)

    @field_validator("home", mode="before")
    @classmethod
    def _home(cls, v: Any) -> Home:
        if isinstance(v, dict) and "root" in v:
            v = v["root"]
        return v if isinstance(v, Home) else Home.from_env(v)

    @field_validator("secret_key", "tile_url", "review_deadline_hours", "basins_path", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @model_validator(mode="after")
    def _database(self) -> Settings:
        if not self.database_url:
            object.__setattr__(self, "database_url", default_database_url(self.home))  # frozen model
        return self

    @classmethod
    def from_env(cls, home: Home | str | Path | None = None, database_url: str | None = None, **kw: Any) -> Settings:
        """Settings from the environment, with the home, database URL and any other setting given explicitly."""
        given: dict[str, Any] = {k: v for k, v in kw.items()}
        if home is not None:
            given["home"] = home
        if database_url:
            given["database_url"] = database_url
        return cls(**given)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (validated)."""
        return type(self)(**{**dict(self), **changes})

    @property
    def basin_polygons(self) -> Path | None:
        """The basin polygons: the setting, else `<home>/basins` if it exists."""
        if self.basins_path is not None:
            return self.basins_path
        d = self.home.root / "basins"
        return d if d.exists() else None
