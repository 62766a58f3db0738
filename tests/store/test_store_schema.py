"""Migrations, SQLite settings and where the store lives."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from mentatlab.store import open_store, resolve_home
from mentatlab.store.migrate import SCRIPT_LOCATION, alembic_config, upgrade_to_head
from mentatlab.store.schema import metadata
from mentatlab.store.sqlite import BUSY_TIMEOUT_MS, create_sqlite_engine

TABLES = {"runs", "nodes", "attempts", "events", "alembic_version"}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    created = create_sqlite_engine(tmp_path / "empty.db")
    yield created
    created.dispose()


def _head() -> str | None:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return ScriptDirectory.from_config(config).get_current_head()


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


def test_connections_wait_for_locks(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_reopening_keeps_data(home: Path) -> None:
    with open_store(home) as store:
        run_id = store.create_run(
            flow={}, inputs={}, node_ids=["a"], flow_id=None, flow_name=None
        ).id
    with open_store(home) as store:
        assert store.get_run(run_id).id == run_id


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
