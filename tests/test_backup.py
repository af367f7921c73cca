"""Backup and restore: a home with real stations, trained models and a published forecast is backed up, the
original thrown away, the backup restored into an empty home (SQLite, and PostgreSQL into a fresh database), and
the service built on the restored home answers exactly as the original did."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from flows.backup import MANIFEST, BackupError, backup, list_backups, restore, verify
from forecasting.home import Home

pytestmark = [pytest.mark.slow, pytest.mark.realdata]  # trains two real stations once (about a minute)

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STATIONS = ("CH2232", "CH2185")
ISSUE = "2020-12-31"
ENDPOINTS = (
    "/api/v1/basins",
    "/api/v1/basins.geojson",
    "/api/v1/stations/CH2232",
    "/api/v1/stations/CH2232/forecast",
    "/api/v1/stations/CH2185/forecast",
    f"/api/v1/stations/CH2232/observations?start=2020-12-01&end={ISSUE}",
)


@pytest.fixture(scope="module")
def trained_home(real_data: Path, tmp_path_factory: pytest.TempPathFactory, prefect_harness) -> Home:
    """Two real stations ingested and trained (models in the home); no database yet."""
    from flows.ingest import run_ingest
    from flows.train import train_flow

    tmp = tmp_path_factory.mktemp("backup-src")
    src = tmp / "csv"
    src.mkdir()
    meta = (real_data / "stations.csv").read_text(encoding="utf-8").splitlines()
    (src / "stations.csv").write_text(
        "\n".join([meta[0], *(ln for ln in meta[1:] if ln.split(",")[0] in STATIONS)]) + "\n", encoding="utf-8"
    )
    for sid in STATIONS:
        shutil.copy(real_data / f"{sid}.csv", src / f"{sid}.csv")
    home = Home(tmp / "home").ensure()
    assert run_ingest(src, "station-csv", home).ok
    trained = train_flow(home=str(home.root), basins=list(STATIONS), leads=[1, 2, 3])  # 3 leads: enough here
    assert set(STATIONS) <= set(trained["trained"])
    (home.root / "basins").mkdir()
    (home.root / "basins" / "CH2232.geojson").write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"basin_id": "CH2232", "name": "Allenbach"},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [
                                [[7.50, 46.45], [7.60, 46.45], [7.60, 46.52], [7.50, 46.52], [7.50, 46.45]]
                            ],
                        },
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    return home


@pytest.fixture()
def pg_database() -> Iterator[Callable[[], str]]:
    """Makes scratch databases on the PostgreSQL test server (dropped after the test); skips if it is down."""
    from records.db import make_engine

    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect():
            pass
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable ({type(exc).__name__})")
    made: list[str] = []

    def make() -> str:
        name = f"tasqyn_backup_{uuid.uuid4().hex[:10]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

    def drop(url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    make.drop = drop  # type: ignore[attr-defined]
    yield make
    with admin.connect() as c:
        for name in made:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _publish(home: Home, url: str) -> dict:
    from flows.forecast import forecast_flow

    out = forecast_flow(issue_date=ISSUE, home=str(home.root), ingest=False, publish=True, database_url=url, leads=3)
    assert out["n_forecast"] == len(STATIONS)
    return out


def _answers(home: Home, url: str) -> dict[str, object]:
    from records.accounts import list_users
    from records.db import make_engine, make_session_factory
    from service.app import create_app
    from service.settings import Settings

    out: dict[str, object] = {}
    with TestClient(create_app(Settings.from_env(home, url, cache_revalidate_s=0))) as client:
        for path in ENDPOINTS:
            r = client.get(path)
            assert r.status_code == 200, (path, r.text)
            out[path] = r.json()
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        out["users"] = [(u.username, u.role, u.password_hash) for u in list_users(s)]
    engine.dispose()
    return out


def _add_user(url: str) -> None:
    from records.accounts import add_user
    from records.db import open_database

    engine, factory = open_database(url)
    with factory() as s:
        add_user(s, "aigul", "correct horse battery", "hydrologist")
        s.commit()
    engine.dispose()


def _round_trip(trained_home: Home, tmp_path: Path, url_before: str, url_after: str, drop_before) -> None:
    home = Home(tmp_path / "home")
    shutil.copytree(trained_home.root, home.root)
    published = _publish(home, url_before)
    _add_user(url_before)
    before = _answers(home, url_before)  # the service also creates <home>/secret_key
    assert (home.root / "secret_key").is_file()
    assert before["/api/v1/stations/CH2232/forecast"]["issue_date"] == ISSUE
    secret = (home.root / "secret_key").read_bytes()

    result = backup(tmp_path / "backups", home, url_before)
    m = result.manifest
    assert result.path.parent == tmp_path / "backups" and (result.path / MANIFEST).is_file()
    paths = {f["path"] for f in m["files"]}
    assert "store/observations.nc" in paths and "secret_key" in paths and "basins/CH2232.geojson" in paths
    assert any(p.startswith("models/CH2232/") and p.endswith("model.json") for p in paths)
    assert Path(published["path"]).relative_to(home.root).as_posix() in paths
    assert not any(p.startswith("locks/") or p.endswith(".lock") or p.startswith("tasqyn.db") for p in paths)
    assert m["database"]["url"] == url_before and m["database"]["alembic_revision"]
    assert m["tasqyn_version"] and m["created_at"] and m["home"] == str(home.root)
    assert m["total_bytes"] == sum(f["size"] for f in m["files"]) + m["database"]["size"]

    shutil.rmtree(home.root)  # the original is gone: the restored service must stand on the backup alone
    drop_before()
    restored = Home(tmp_path / "restored")
    res = restore(tmp_path / "backups", restored, url_after)  # the folder of backups: the newest is taken
    assert res.files == m["n_files"] and res.moved_aside is None and res.repointed_runs >= 1
    assert (restored.root / "secret_key").read_bytes() == secret
    after = _answers(restored, url_after)
    assert after == before
    # Again over the restored service with --force: what it replaces is kept aside, the answers stay the same.
    again = restore(tmp_path / "backups", restored, url_after, force=True)
    saved = "database.pgdump" if url_after.startswith("postgresql") else "tasqyn.db"
    assert again.moved_aside is not None and (again.moved_aside / saved).is_file()
    assert (again.moved_aside / "store" / "observations.nc").is_file()
    assert _answers(restored, url_after) == before


def test_round_trip_sqlite(trained_home: Home, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'home' / 'tasqyn.db'}"
    _round_trip(trained_home, tmp_path, url, f"sqlite:///{tmp_path / 'restored' / 'tasqyn.db'}", lambda: None)


@pytest.mark.postgres
def test_round_trip_postgres(trained_home: Home, tmp_path: Path, pg_database) -> None:
    before, after = pg_database(), pg_database()
    _round_trip(trained_home, tmp_path, before, after, lambda: pg_database.drop(before))


def test_restore_refuses_a_used_home_or_a_damaged_backup_and_force_keeps_the_old_content(
    trained_home: Home, tmp_path: Path
) -> None:
    home = Home(tmp_path / "home")
    shutil.copytree(trained_home.root, home.root)
    url = f"sqlite:///{home.database}"
    _publish(home, url)
    b = backup(tmp_path / "backups", home, url).path

    # into itself (a used home, a database with rows): refused without --force, nothing touched
    with pytest.raises(BackupError, match="is not empty"):
        restore(b, home, url)
    other = Home(tmp_path / "other")
    (other.root / "logs").mkdir(parents=True)  # a home where only the logs were started counts as empty...
    (other.root / "logs" / "tasqyn.log").write_text("started\n")
    (other.root / "forecasts").mkdir()  # ...and so do empty folders
    with pytest.raises(BackupError, match="database .* is not empty"):
        restore(b, other, url)  # the database has rows even though the home is empty

    # a damaged file: refused before anything is touched, naming the file
    store = b / "home" / "store" / "observations.nc"
    data = bytearray(store.read_bytes())
    data[len(data) // 2] ^= 0xFF
    store.write_bytes(bytes(data))
    with pytest.raises(BackupError, match=r"store/observations\.nc: checksum differs"):
        verify(b)
    with pytest.raises(BackupError, match="damaged"):
        restore(b, other, f"sqlite:///{other.database}")
    assert not (other.root / "store").exists() and not other.database.exists()
    data[len(data) // 2] ^= 0xFF
    store.write_bytes(bytes(data))

    # --force: the current content is moved aside, not deleted; the logs stay where they are
    marker = home.root / "forecasts" / "not-in-backup.txt"
    marker.write_text("made after the backup\n")
    res = restore(b, home, url, force=True)
    assert res.moved_aside is not None and (res.moved_aside / "forecasts" / "not-in-backup.txt").is_file()
    assert (res.moved_aside / "tasqyn.db").is_file()  # the replaced SQLite database is kept too
    assert not marker.exists() and (home.root / "store" / "observations.nc").is_file()
    assert verify(b)[0] == b


def test_cli_backup_keep_and_restore(trained_home: Home, tmp_path: Path) -> None:
    from flows.cli import app

    home = Home(tmp_path / "home")
    shutil.copytree(trained_home.root, home.root)
    url = f"sqlite:///{home.database}"
    _publish(home, url)
    runner = CliRunner()
    for _ in range(3):
        r = runner.invoke(app, ["backup", str(tmp_path / "b"), "--home", str(home.root), "--keep", "2"])
        assert r.exit_code == 0, r.output
    assert len(list_backups(tmp_path / "b")) == 2
    newest = list_backups(tmp_path / "b")[-1]
    assert str(newest) in r.output.replace("\n", "")
    r = runner.invoke(app, ["restore", str(tmp_path / "b"), "--check"])
    assert r.exit_code == 0 and "verified" in r.output
    target = tmp_path / "restored"
    r = runner.invoke(app, ["restore", str(tmp_path / "b"), "--home", str(target)])
    assert r.exit_code == 0, r.output
    assert (target / "tasqyn.db").is_file() and (target / "store" / "observations.nc").is_file()
    r = runner.invoke(app, ["restore", str(tmp_path / "b"), "--home", str(target)])
    assert r.exit_code == 1 and "not empty" in r.output and "--force" in r.output
