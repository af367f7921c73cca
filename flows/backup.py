"""Backups of a Tasqyn installation: the home directory and the database, with a manifest and checksums.

`backup(dest, home, url)` writes a new folder `<dest>/tasqyn-backup-<UTC time>/`:

- `home/`: every file of the home (the store and its generations, revision and ingest logs, models, forecasts,
  outlooks, backtest reports, basin outlines, the secret key, quarantine, logs, the inbox, ...) except lock files,
  temporary files and the SQLite database, which is copied by the database step. The store is copied holding the
  home's store lock and the models holding the models lock, so no ingest or training changes them mid-copy.
- the database: SQLite through sqlite3's online backup API (a consistent copy while the service runs) as
  `database.sqlite3`; PostgreSQL with `pg_dump --format=custom` (from PATH) as `database.pgdump`. The database
  is copied before the files, so every forecast file a run in the database points at is in the backup.
- `manifest.json`: what was saved (path, size in bytes, sha256 of every file), the tasqyn version, the database
  URL without its password, its Alembic revision, the source home and when (`created_at`, UTC).

The folder is written as `.tasqyn-backup-<time>.partial` and renamed when complete: a backup that was
interrupted never looks complete. `keep` removes all but the newest complete backups in `dest`.

`restore(source, home, url)` checks every checksum first, then restores the files into the home and the database
into `url` (default: $TASQYN_DATABASE_URL, else the home's SQLite file). The home must be empty (only `logs/`,
`locks/` and empty folders) and the database must hold no rows (a database the service has only migrated counts
as empty), unless `force`: the home's current content is then moved into `<home>/.replaced-<time>/` (nothing is
deleted; later backups leave it out; remove it once the restore is confirmed), the replaced database is saved
there too (a SQLite copy, or a pg_dump), and the database's tables are replaced. Forecast file paths recorded in
the database under the old home are re-rooted to the new one. PostgreSQL restores use `pg_restore` (from PATH)
into an existing database. A SQLite backup restores into SQLite and a PostgreSQL backup into PostgreSQL (moving
between backends is not supported).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forecasting import locks
from forecasting.home import Home

MANIFEST = "manifest.json"
FORMAT = "tasqyn-backup"
FORMAT_VERSION = 1
PREFIX = "tasqyn-backup-"
HOME_DIR = "home"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
SKIP_DIRS = {"locks"}  # runtime state, never restored
EMPTY_OK = {"logs", "locks"}  # a home holding only these counts as empty
ASIDE_PREFIXES = (".replaced-", ".restoring-")  # what a restore puts aside or stages: never backed up
LOCKED_DIRS = {"store": locks.STORE, "models": locks.MODELS}  # copied holding the home's lock of that name
CHUNK = 1 << 20


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says what to do."""


@dataclass
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    seconds: float
    removed: list[Path] = field(default_factory=list)  # older backups removed by `keep`


@dataclass
class RestoreResult:
    home: Path
    database_url: str
    files: int
    bytes: int
    seconds: float
    moved_aside: Path | None = None
    repointed_runs: int = 0


# --- helpers ---------------------------------------------------------------------------------------------------


def tasqyn_version() -> str:
    try:
        from importlib.metadata import version

        return version("tasqyn")
    except Exception:  # noqa: BLE001  (not installed as a distribution)
        return "unknown"


def public_url(url: str) -> str:
    """The database URL without its password (for the manifest and messages)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).set(password=None).render_as_string(hide_password=False)
    except Exception:  # noqa: BLE001
        return url.split("@")[-1]


def backend(url: str) -> str:
    if url.startswith("sqlite"):
        return "sqlite"
    if url.startswith("postgresql"):
        return "postgresql"
    raise BackupError(f"backups support SQLite and PostgreSQL databases, not {public_url(url)}")


def sqlite_path(url: str) -> Path:
    from sqlalchemy.engine import make_url

    db = make_url(url).database
    if not db or db == ":memory:":
        raise BackupError(f"{url}: an in-memory SQLite database cannot be backed up or restored")
    return Path(db)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for pg_dump/pg_restore (driver and password removed) and the environment with
    PGPASSWORD set when the URL had a password."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    return u.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} was not found on PATH; it is needed for PostgreSQL backups: install the PostgreSQL client "
            f"of the server's major version or newer (Debian: apt install postgresql-client) or add it to PATH"
        )
    return path


def _run(cmd: list[str], env: dict[str, str], what: str) -> str:
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise BackupError(f"{what} failed (exit {res.returncode}): {res.stderr.strip() or res.stdout.strip()}")
    return res.stdout


def copy_hashed(src: Path, dst: Path) -> tuple[int, str]:
    """Copy `src` to `dst` (parents created, mode and times kept); returns (bytes, sha256 of what was written)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    n = 0
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(CHUNK):
            h.update(chunk)
            fout.write(chunk)
            n += len(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    shutil.copystat(src, dst)
    return n, h.hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _is_temporary(name: str) -> bool:
    return name.endswith((".tmp", ".partial", ".lock")) or (name.startswith(".") and ".tmp" in name)


def home_entries(home: Home, exclude: set[Path]) -> list[str]:
    """The top-level entries of the home to back up, sorted (lock folders, temporary files and `exclude` left out)."""
    return sorted(
        e.name
        for e in home.root.iterdir()
        if e.name not in SKIP_DIRS
        and not e.name.startswith(ASIDE_PREFIXES)
        and not _is_temporary(e.name)
        and e.resolve() not in exclude
        and not e.is_symlink()
    )


def home_files(home: Home, exclude: set[Path], top: str) -> Iterator[Path]:
    """The files under the home's entry `top` (a file or a folder), relative to the home, in a stable order."""
    root = home.root
    start = root / top
    if start.is_file():
        yield Path(top)
        return
    for dirpath, dirnames, filenames in os.walk(start):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if (here / d).resolve() not in exclude and not (here / d).is_symlink())
        for name in sorted(filenames):
            p = here / name
            if _is_temporary(name) or p.resolve() in exclude or p.is_symlink() or not p.is_file():
                continue
            yield p.relative_to(root)


def _sqlite_files(url: str) -> set[Path]:
    if not url.startswith("sqlite"):
        return set()
    try:
        db = sqlite_path(url).resolve()
    except BackupError:
        return set()
    return {db, *(db.with_name(db.name + s) for s in ("-wal", "-shm", "-journal"))}


def alembic_revision(url: str) -> str | None:
    from sqlalchemy import text

    from records.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return c.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # noqa: BLE001  (no schema yet)
        return None
    finally:
        engine.dispose()


# --- backup ----------------------------------------------------------------------------------------------------


def backup_database(url: str, out_dir: Path) -> dict[str, Any]:
    """Copy the database at `url` into `out_dir`; returns its manifest entry."""
    kind = backend(url)
    if kind == "sqlite":
        src = sqlite_path(url)
        if not src.exists():
            raise BackupError(f"the SQLite database {src} does not exist (nothing to back up; check --database-url)")
        target = out_dir / SQLITE_FILE
        _sqlite_copy(src, target)  # a consistent snapshot even while the service writes (WAL)
        tool = f"sqlite3 backup API (SQLite {sqlite3.sqlite_version})"
    else:
        pg_dump = _tool("pg_dump")
        conn, env = _libpq(url)
        target = out_dir / PG_FILE
        _run([pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--file={target}", conn], env, "pg_dump")
        tool = _run([pg_dump, "--version"], env, "pg_dump --version").strip()
    return {
        "url": public_url(url),
        "backend": kind,
        "file": target.name,
        "size": target.stat().st_size,
        "sha256": sha256_file(target),
        "tool": tool,
        "alembic_revision": alembic_revision(url),
    }


def backup(
    dest: Path | str,
    home: Home | None = None,
    database_url: str | None = None,
    keep: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> BackupResult:
    """Back up the home and the database into a new folder under `dest` (see the module docstring)."""
    from records.db import database_url as db_url

    t0 = time.perf_counter()
    home = home or Home.from_env()
    if not home.root.is_dir():
        raise BackupError(f"the home {home.root} does not exist")
    url = db_url(home, database_url)
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    name = PREFIX + stamp
    k = 1
    while (dest / name).exists():
        k += 1
        name = f"{PREFIX}{stamp}-{k}"
    work = dest / f".{name}.partial"
    work.mkdir(mode=0o700)  # the backup holds the secret key and password hashes
    say = progress or (lambda _m: None)
    try:
        say(f"database {public_url(url)}")
        db_entry = backup_database(url, work)
        exclude = _sqlite_files(url) | {dest, work.resolve()}
        files: list[dict[str, Any]] = []
        total = 0
        for top in home_entries(home, exclude):
            with ExitStack() as stack:
                if top in LOCKED_DIRS:  # list and copy while no ingest or training can change it
                    stack.enter_context(home.lock(LOCKED_DIRS[top]))
                    say(f"{top}/ (holding the {LOCKED_DIRS[top]} lock)")
                for rel in home_files(home, exclude, top):
                    try:
                        size, digest = copy_hashed(home.root / rel, work / HOME_DIR / rel)
                    except FileNotFoundError:  # removed while we walked (an old log, a temporary file)
                        continue
                    mode = (work / HOME_DIR / rel).stat().st_mode & 0o777
                    files.append({"path": rel.as_posix(), "size": size, "sha256": digest, "mode": oct(mode)})
                    total += size
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "tasqyn_version": tasqyn_version(),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "host": socket.gethostname(),
            "home": str(home.root),
            "database": db_entry,
            "files": files,
            "n_files": len(files),
            "home_bytes": total,
            "total_bytes": total + db_entry["size"],
            "seconds": round(time.perf_counter() - t0, 2),
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        final = dest / name
        os.replace(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    removed = prune(dest, keep) if keep else []
    return BackupResult(final, manifest, time.perf_counter() - t0, removed)


def list_backups(dest: Path | str) -> list[Path]:
    """The complete backups in `dest` (folders with a manifest), oldest first."""
    dest = Path(dest)
    if not dest.is_dir():
        return []
    return sorted(p for p in dest.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and (p / MANIFEST).is_file())


def prune(dest: Path | str, keep: int) -> list[Path]:
    """Remove all but the newest `keep` complete backups in `dest`; returns what was removed."""
    if keep < 1:
        raise BackupError("--keep must be at least 1")
    old = list_backups(dest)[:-keep]
    for p in old:
        shutil.rmtree(p)
    return old


# --- restore ---------------------------------------------------------------------------------------------------


def find_backup(source: Path | str) -> Path:
    """`source` itself if it is a backup, else the newest complete backup inside it."""
    source = Path(source)
    if (source / MANIFEST).is_file():
        return source
    found = list_backups(source)
    if not found:
        raise BackupError(f"{source} is not a Tasqyn backup (no {MANIFEST}) and holds none")
    return found[-1]


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path / MANIFEST}: cannot be read: {exc}") from exc
    if manifest.get("format") != FORMAT or int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise BackupError(f"{path / MANIFEST}: not a Tasqyn backup of a format this version reads")
    return manifest


def verify(source: Path | str) -> tuple[Path, dict[str, Any]]:
    """Check every file of a backup against its manifest (presence, size, sha256); returns (backup, manifest).

    Raises BackupError listing every file that is missing or differs."""
    path = find_backup(source)
    manifest = read_manifest(path)
    bad = []
    for f in manifest["files"]:
        rel = Path(f["path"])
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise BackupError(f"{path / MANIFEST}: unsafe path {f['path']!r}")
    entries = [(Path(HOME_DIR) / f["path"], f) for f in manifest["files"]]
    entries.append((Path(manifest["database"]["file"]), manifest["database"]))
    for rel, entry in entries:
        p = path / rel
        if not p.is_file():
            bad.append(f"{rel}: missing")
        elif p.stat().st_size != entry["size"]:
            bad.append(f"{rel}: {p.stat().st_size} bytes, the manifest says {entry['size']}")
        elif sha256_file(p) != entry["sha256"]:
            bad.append(f"{rel}: checksum differs from the manifest")
    if bad:
        shown = "; ".join(bad[:10]) + (f"; and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise BackupError(f"the backup {path} is damaged ({len(bad)} files): {shown}")
    return path, manifest


def home_is_empty(home: Home, ignore: set[Path] | None = None) -> bool:
    """True if the home does not exist or holds no file outside `logs/`, `locks/` and what an earlier restore put
    aside (empty folders allowed; `ignore`: files that do not count, such as the SQLite database, whose content is
    checked on its own)."""
    if not home.root.exists():
        return True
    ignore = ignore or set()
    for entry in home.root.iterdir():
        if entry.name in EMPTY_OK and entry.is_dir() or entry.name.startswith(ASIDE_PREFIXES):
            continue
        if entry.resolve() in ignore:
            continue
        if entry.is_dir() and not any(p.is_file() for p in entry.rglob("*")):
            continue
        return False
    return True


def database_tables(url: str) -> tuple[list[str], bool]:
    """(the database's tables, whether any of them but alembic_version holds a row). A database the service has
    only migrated (tables, no rows) counts as empty."""
    from sqlalchemy import inspect, text

    from records.db import make_engine

    if url.startswith("sqlite"):
        p = sqlite_path(url)
        if not p.exists() or p.stat().st_size == 0:
            return [], False
    engine = make_engine(url)
    try:
        names = inspect(engine).get_table_names()
        with engine.connect() as c:
            for t in names:
                if t != "alembic_version" and c.execute(text(f'SELECT 1 FROM "{t}" LIMIT 1')).first() is not None:
                    return names, True
        return names, False
    finally:
        engine.dispose()


def check_backend(entry: dict[str, Any], url: str) -> str:
    kind = backend(url)
    if entry["backend"] != kind:
        raise BackupError(
            f"the backup holds a {entry['backend']} database ({entry['url']}) and the target is {kind} "
            f"({public_url(url)}); restore into the same kind of database (--database-url)"
        )
    return kind


def restore_database(path: Path, entry: dict[str, Any], url: str, force: bool, aside: Path | None = None) -> None:
    """Restore the backup's database into `url` (refused if it holds rows, unless `force`; a database replaced
    by force is first saved into `aside`: SQLite copied, PostgreSQL dumped)."""
    kind = check_backend(entry, url)
    tables, has_rows = database_tables(url)
    if has_rows and not force:
        raise BackupError(f"the database {public_url(url)} is not empty; restore into an empty one, or use --force")
    src = path / entry["file"]
    if kind == "sqlite":
        target = sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        if has_rows and aside is not None:
            _sqlite_copy(target, aside / target.name)
        _sqlite_copy(src, target)  # replaces the target's content as a whole
        return
    pg_restore = _tool("pg_restore")
    conn, env = _libpq(url)
    if has_rows and aside is not None:  # keep what --force replaces
        _run([_tool("pg_dump"), "--format=custom", f"--file={aside / PG_FILE}", conn], env, "pg_dump")
    cmd = [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if tables:  # a migrated (or, with --force, a used) database: its objects are replaced by the backup's
        cmd += ["--clean", "--if-exists"]
    _run([*cmd, f"--dbname={conn}", str(src)], env, "pg_restore")


def _sqlite_copy(src: Path, dst: Path) -> None:
    """Copy a SQLite database with the online backup API (consistent while others use it)."""
    with sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30) as s, sqlite3.connect(dst, timeout=30) as d:
        s.backup(d)
    s.close()
    d.close()


def repoint_forecast_paths(url: str, old_root: str, new_root: Path) -> int:
    """Forecast file paths recorded under the backed-up home now point into the restored home; returns how many."""
    from sqlalchemy import select, update

    from records.db import ForecastRun, make_engine

    old = old_root.rstrip("/") + "/"
    engine = make_engine(url)
    n = 0
    try:
        with engine.begin() as c:
            rows = c.execute(select(ForecastRun.id, ForecastRun.forecast_path)).all()
            for rid, p in rows:
                if p and p.startswith(old):
                    new = str(new_root / p[len(old) :])
                    c.execute(update(ForecastRun).where(ForecastRun.id == rid).values(forecast_path=new))
                    n += 1
    finally:
        engine.dispose()
    return n


def restore(
    source: Path | str,
    home: Home | None = None,
    database_url: str | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> RestoreResult:
    """Restore a backup (or the newest one in a folder) into `home` and the database (see the module docstring)."""
    from records.db import database_url as db_url

    t0 = time.perf_counter()
    say = progress or (lambda _m: None)
    home = home or Home.from_env()
    url = db_url(home, database_url)
    path, manifest = verify(source)
    say(f"backup {path} verified: {manifest['n_files']} files, {manifest['total_bytes']:,} bytes")
    entry = manifest["database"]
    check_backend(entry, url)
    db_files = _sqlite_files(url)
    if not home_is_empty(home, db_files) and not force:
        raise BackupError(f"the home {home.root} is not empty; restore into an empty home, or use --force")
    if database_tables(url)[1] and not force:
        raise BackupError(f"the database {public_url(url)} is not empty; restore into an empty one, or use --force")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    home.root.mkdir(parents=True, exist_ok=True)
    moved = home.root / f".replaced-{stamp}"
    if not home_is_empty(home, db_files) or database_tables(url)[1]:
        moved.mkdir()
        for p in list(home.root.iterdir()):
            if p.name not in EMPTY_OK and p.resolve() not in db_files and not p.name.startswith(ASIDE_PREFIXES):
                os.replace(p, moved / p.name)
        say(f"the home's previous content moved to {moved}")
    say(f"database into {public_url(url)}")
    restore_database(path, entry, url, force, aside=moved if moved.exists() else None)
    staging = home.root / f".restoring-{stamp}"
    n = total = 0
    try:
        for f in manifest["files"]:
            rel = Path(f["path"])
            size, digest = copy_hashed(path / HOME_DIR / rel, staging / rel)
            if digest != f["sha256"]:
                raise BackupError(f"{path / HOME_DIR / rel}: changed while being restored (checksum differs)")
            os.chmod(staging / rel, int(f.get("mode", "0o644"), 8))
            n += 1
            total += size
        for top in sorted(staging.iterdir()) if staging.exists() else []:
            target = home.root / top.name
            if target.exists() and top.is_dir():  # logs/ and locks/ may exist: merge into them
                for p in sorted(top.rglob("*")):
                    if p.is_file():
                        dst = target / p.relative_to(top)
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(p, dst)
            else:
                os.replace(top, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    repointed = repoint_forecast_paths(url, manifest["home"], home.root)
    aside = moved if moved.exists() else None
    return RestoreResult(home.root, public_url(url), n, total, time.perf_counter() - t0, aside, repointed)
