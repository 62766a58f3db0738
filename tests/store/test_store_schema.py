"""Migrations (on SQLite and PostgreSQL), SQLite settings and where the store lives."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from mentatlab.store import StoreError, open_store, resolve_home
from mentatlab.store.migrate import SCRIPT_LOCATION, alembic_config, upgrade_to_head
from mentatlab.store.schema import metadata
from mentatlab.store.sqlite import BUSY_TIMEOUT_MS, create_sqlite_engine

TABLES = {
    "runs",
    "nodes",
    "attempts",
    "events",
    "api_keys",
    "audit_log",
    "audit_head",
    "alembic_version",
}


def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return ScriptDirectory.from_config(config)


def _head() -> str | None:
    return _scripts().get_current_head()


def test_migrations_apply_to_an_empty_database(engine: Engine) -> None:
    with engine.begin() as conn:
        assert inspect(conn).get_table_names() == []
        upgrade_to_head(conn)
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) == TABLES
        assert MigrationContext.configure(conn).get_current_revision() == _head()


def test_migrated_schema_matches_table_metadata(engine: Engine) -> None:
    with engine.begin() as conn:
        upgrade_to_head(conn)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_each_revision_upgrades_and_downgrades_by_itself(engine: Engine) -> None:
    """One revision at a time, as a store last opened by an older release is migrated."""
    revisions = [script.revision for script in reversed(list(_scripts().walk_revisions()))]
    with engine.begin() as conn:
        for revision in revisions:
            command.upgrade(alembic_config(conn), revision)
            assert MigrationContext.configure(conn).get_current_revision() == revision
        for revision in reversed(revisions):
            assert MigrationContext.configure(conn).get_current_revision() == revision
            command.downgrade(alembic_config(conn), "-1")
        assert set(inspect(conn).get_table_names()) == {"alembic_version"}


def test_downgrade_to_base_and_upgrade_again(engine: Engine) -> None:
    with engine.begin() as conn:
        upgrade_to_head(conn)
        command.downgrade(alembic_config(conn), "base")
        assert set(inspect(conn).get_table_names()) == {"alembic_version"}
        upgrade_to_head(conn)
        assert set(inspect(conn).get_table_names()) == TABLES


def test_open_store_creates_home_with_wal_database(tmp_path: Path) -> None:
    home = tmp_path / "deeper" / "home"
    with open_store(home):
        pass
    with closing(sqlite3.connect(home / "store.db")) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(_head(),)]


def test_sqlite_connections_wait_for_locks(tmp_path: Path) -> None:
    engine = create_sqlite_engine(tmp_path / "empty.db")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_reopening_keeps_data(store_url: str) -> None:
    with open_store(url=store_url) as store:
        run_id = store.create_run(
            flow={}, inputs={}, node_ids=["a"], flow_id=None, flow_name=None
        ).id
    with open_store(url=store_url) as store:
        assert store.get_run(run_id).id == run_id


def test_open_store_by_sqlite_url(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "runs.db"
    with open_store(url=f"sqlite:///{path}") as store:
        store.create_run(flow={}, inputs={}, node_ids=[], flow_id=None, flow_name=None)
    assert path.is_file()
    assert (tmp_path / "elsewhere" / "runs.db.lock").is_file()


@pytest.mark.parametrize(
    "url",
    [
        "mysql://user@localhost/runs",
        "postgresql+psycopg2://user@localhost/runs",
        "sqlite://",
        "sqlite:///:memory:",
        "not a url",
    ],
)
def test_open_store_refuses_unusable_urls(url: str) -> None:
    with pytest.raises(StoreError):
        open_store(url=url)


def test_open_store_takes_a_home_or_a_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        open_store(tmp_path, url=f"sqlite:///{tmp_path / 'store.db'}")


def test_home_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MENTATLAB_HOME", str(tmp_path / "from-env"))
    assert resolve_home() == tmp_path / "from-env"
    assert resolve_home(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv("MENTATLAB_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert resolve_home() == tmp_path / "user" / ".mentatlab"


def test_open_store_uses_mentatlab_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MENTATLAB_HOME", str(tmp_path / "env-home"))
    with open_store() as store:
        store.create_run(flow={}, inputs={}, node_ids=[], flow_id=None, flow_name=None)
    assert (tmp_path / "env-home" / "store.db").is_file()
