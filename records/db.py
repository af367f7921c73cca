"""The database (SQLAlchemy 2 tables): forecast runs, published levels, thresholds, review trail, users, API keys.

SQLite file `<home>/tasqyn.db` by default; PostgreSQL (or any SQLAlchemy URL) through `TASQYN_DATABASE_URL`.
The schema is created and upgraded by the Alembic migrations in `records/migrations` (`init_db`).

Conventions: `issue_date` is the local day (Asia/Almaty) the forecast was issued; a run is *published* when
`published_at` is not null. Which run a reader sees is decided in one place, records.published.visible_run.
Timestamps are stored in UTC (timezone-aware where the backend supports it). A station level is null when the
station has no current forecast (its `state` says why: stale, climatology, fallback, no_thresholds, failed).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from forecasting.home import Home

DATABASE_URL_ENV = "TASQYN_DATABASE_URL"

RUN_STATUSES = ("running", "success", "failed")
REVIEW_STATUSES = ("draft", "approved", "unreviewed")
ROLES = ("admin", "hydrologist", "akimat")


def utcnow() -> dt.datetime:
    """The current time in UTC (timezone-aware)."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class ForecastRun(Base):
    """One run of the daily forecast for an issue date (a rerun of the same date creates a new row)."""

    __tablename__ = "forecast_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    issue_date: Mapped[dt.date] = mapped_column(Date, index=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")  # RUN_STATUSES
    review_status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")  # REVIEW_STATUSES
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    model_versions: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # {basin_or_station: version}
    data_cutoff: Mapped[dt.date | None] = mapped_column(Date, nullable=True)  # newest observation day used
    threshold_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    alert_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    n_stations: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    n_forecast: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    n_stale: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    n_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    state_counts: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # {state: n stations}
    run_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # forecasting.config
    forecast_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)  # process that runs it (while running)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)  # and its host name

    station_levels: Mapped[list[StationLevel]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )
    basin_levels: Mapped[list[BasinLevel]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def published(self) -> bool:
        return self.published_at is not None


class StationLevel(Base):
    """The risk level of one station in one run (history: kept per issue date)."""

    __tablename__ = "station_levels"
    __table_args__ = (UniqueConstraint("run_id", "station_id", name="uq_station_levels_run_station"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"), index=True)
    issue_date: Mapped[dt.date] = mapped_column(Date, index=True, nullable=False)
    station_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    basin_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    level: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)  # 0-3; null unless state is ok
    level_label: Mapped[str] = mapped_column(String(16), nullable=False, default="normal")
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="ok")  # forecasting.risk.STATES
    model_level: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)  # the risk computation's level
    data_age_days: Mapped[int | None] = mapped_column(Integer, nullable=True)  # newest observation -> issue date
    model_name: Mapped[str | None] = mapped_column(String(32), nullable=True)
    first_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)  # first valid day at that level
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)  # P(exceed) of that level's threshold
    trend: Mapped[str | None] = mapped_column(String(16), nullable=True)  # rising | steady | falling
    stale: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)  # ok | stale | fallback | failed
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    override_level: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    override_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    run: Mapped[ForecastRun] = relationship(back_populates="station_levels")

    @property
    def effective_level(self) -> int | None:
        """The level shown to the public: the reviewer's override where one was set (None: no current level)."""
        return self.override_level if self.override_level is not None else self.level


class BasinLevel(Base):
    """The risk level of one basin in one run: the maximum over its stations."""

    __tablename__ = "basin_levels"
    __table_args__ = (UniqueConstraint("run_id", "basin_id", name="uq_basin_levels_run_basin"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"), index=True)
    issue_date: Mapped[dt.date] = mapped_column(Date, index=True, nullable=False)
    basin_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    level: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)  # null: no station has a current level
    first_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    n_stations: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    n_no_level: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # stale, fallback, failed, ...
    override_level: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    override_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    run: Mapped[ForecastRun] = relationship(back_populates="basin_levels")

    @property
    def effective_level(self) -> int | None:
        return self.override_level if self.override_level is not None else self.level


class Threshold(Base):
    """A station threshold, versioned: a changed value gets a new version, old forecasts keep theirs."""

    __tablename__ = "thresholds"
    __table_args__ = (UniqueConstraint("station_id", "kind", "version", name="uq_thresholds_station_kind_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(64), index=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # warning | danger | extreme
    value: Mapped[float] = mapped_column(Float, nullable=False)
    units: Mapped[str] = mapped_column(String(8), nullable=False)  # m3/s | cm
    source: Mapped[str] = mapped_column(Text, nullable=False)  # "official: опасная отметка", "derived: ..."
    years: Mapped[str | None] = mapped_column(Text, nullable=True)  # e.g. "1981-2020 (38 complete years)"
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    valid_from: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class ReviewAction(Base):
    """One entry of the review audit trail (never updated or deleted)."""

    __tablename__ = "review_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("forecast_runs.id", ondelete="SET NULL"), index=True)
    issue_date: Mapped[dt.date] = mapped_column(Date, index=True, nullable=False)
    username: Mapped[str] = mapped_column(String(128), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)  # approve | override | publish | auto_publish
    target_type: Mapped[str] = mapped_column(String(16), nullable=False, default="run")  # run | station | basin
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    old_level: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    new_level: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)  # admin | hydrologist | akimat
    basins: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)  # None: all basins
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    key_prefix: Mapped[str] = mapped_column(String(16), index=True, nullable=False)
    key_hash: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    basins: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class UserSession(Base):
    """A login session (records.accounts): the cookie carries a random token, the database its sha256; logout
    or a changed password ends it on the server, whatever copies of the cookie exist."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False)
    password_fp: Mapped[str] = mapped_column(String(16), nullable=False)  # fingerprint of the password hash
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    expires_at: Mapped[float] = mapped_column(Float, index=True, nullable=False)  # unix seconds
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LoginFailure(Base):
    """One failed login (records.accounts.LoginLimiter): kept for the longest limiter window, then expired."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_address_at", "address", "at"),
        Index("ix_login_failures_user_address_at", "username", "address", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float, index=True, nullable=False)  # unix seconds
    username: Mapped[str] = mapped_column(String(128), nullable=False)  # normalised (stripped, lower case)
    address: Mapped[str] = mapped_column(String(64), nullable=False)


# --- engine, sessions, schema ---------------------------------------------------------------------------------


def database_url(home: Home | None = None, url: str | None = None) -> str:
    """The database URL: `url`, else $TASQYN_DATABASE_URL, else the SQLite file `<home>/tasqyn.db`."""
    if url:
        return url
    env = os.environ.get(DATABASE_URL_ENV)
    if env:
        return env
    h = home or Home.from_env()
    return f"sqlite:///{h.database}"


def make_engine(url: str, timeout_s: float | None = None, **kwargs: Any) -> Engine:
    """An engine for `url` with `pool_pre_ping` (a database that went away and came back is reconnected).

    SQLite: foreign keys on, WAL journal and a busy timeout (30 s, or `timeout_s`) so that the API can read while a
    flow writes; the file is created mode 0600 (it holds password and key hashes) in a created parent folder.
    PostgreSQL: a short connect timeout so that a database that is down gives a quick 503 instead of a hanging
    request; with `timeout_s` (the service) also statement, lock and pool timeouts and a watchdog on every round
    trip, so that a stalled server or network fails a request after about `timeout_s` (records.db_timeouts).
    """
    opts: dict[str, Any] = {"pool_pre_ping": True, "future": True}
    busy_s = 30.0 if timeout_s is None else timeout_s
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:" and not path.startswith("file:"):
            private_file(Path(path))
        opts["connect_args"] = {"check_same_thread": False, "timeout": busy_s}
    elif url.startswith("postgresql"):
        from records.db_timeouts import postgres_connect_args

        if timeout_s is None:
            opts["connect_args"] = {"connect_timeout": 3}
        else:  # options given in the URL (a search_path, say) are kept
            from sqlalchemy.engine import make_url

            given = make_url(url).query.get("options")
            opts["connect_args"] = postgres_connect_args(timeout_s, given if isinstance(given, str) else None)
        opts["pool_size"] = 10
        opts["max_overflow"] = 20
        if timeout_s is not None:
            opts["pool_timeout"] = timeout_s
    opts.update(kwargs)
    engine = create_engine(url, **opts)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={int(busy_s * 1000)}")
            cur.close()

    elif url.startswith("postgresql") and timeout_s is not None:
        from records.db_timeouts import install

        install(engine, timeout_s)
    return engine


def private_file(path: Path) -> None:
    """Create `path` (and its parent folders) readable by its owner only (0600) if it does not exist; an existing
    file readable by others loses those bits (its -wal and -shm files follow: SQLite copies the mode)."""
    import stat

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        try:
            mode = path.stat().st_mode
            if mode & stat.S_IRWXO:
                path.chmod(stat.S_IMODE(mode) & ~stat.S_IRWXO)
        except OSError:
            pass
        return
    os.close(fd)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to `engine` (objects stay usable after commit)."""
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transactional scope: commit on success, roll back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def init_db(engine: Engine) -> None:
    """Create or upgrade the schema to the newest Alembic revision (idempotent; SQLite and PostgreSQL)."""
    from records.migrations import upgrade

    upgrade(engine)


def open_database(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """An engine for `url` with its schema created or upgraded, and a session factory bound to it."""
    engine = make_engine(url)
    init_db(engine)
    return engine, make_session_factory(engine)
