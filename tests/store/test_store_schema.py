"""Migrations (on SQLite and PostgreSQL), SQLite settings and where the store lives."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import AbstractContextManager, closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, delete, func, insert, inspect, select

from mentatlab.store import InvalidStoreUrlError, StoreUnavailableError, open_store, resolve_home
from mentatlab.store.migrate import (
    HEAD_REVISION,
    SCRIPT_LOCATION,
    alembic_config,
    upgrade_to_head,
)
from mentatlab.store.registry import Registry
from mentatlab.store.schema import api_keys, attempts, events, metadata, nodes, runs
from mentatlab.store.sqlite import BUSY_TIMEOUT_MS, create_sqlite_engine, migration_transaction

TABLES = {
    "runs",
    "nodes",
    "attempts",
    "events",
    "api_keys",
    "audit_log",
    "audit_head",
    "registered_agents",
    "flows",
    "alembic_version",
}


def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return ScriptDirectory.from_config(config)


def _head() -> str | None:
    return _scripts().get_current_head()


def _migrating(engine: Engine) -> AbstractContextManager[Connection]:
    """A transaction to migrate in, as the store opens one (foreign keys off on SQLite)."""
    return migration_transaction(engine) if engine.dialect.name == "sqlite" else engine.begin()


def test_migrations_apply_to_an_empty_database(engine: Engine) -> None:
    with _migrating(engine) as conn:
        assert inspect(conn).get_table_names() == []
        upgrade_to_head(conn)
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) == TABLES
        assert MigrationContext.configure(conn).get_current_revision() == _head()


def test_head_revision_is_the_newest_migration() -> None:
    assert _head() == HEAD_REVISION


def test_opening_a_store_at_head_does_not_load_alembic(store_url: str) -> None:
    """Every CLI call and engine opens the store; Alembic is only needed when one is due."""
    with open_store(url=store_url):  # migrates the new database: Alembic runs here
        pass
    check = (
        "import sys; from mentatlab.store import open_store; "
        f"open_store(url={store_url!r}).close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_migrated_schema_matches_table_metadata(engine: Engine) -> None:
    with _migrating(engine) as conn:
        upgrade_to_head(conn)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_each_revision_upgrades_and_downgrades_by_itself(engine: Engine) -> None:
    """One revision at a time, as a store last opened by an older release is migrated."""
    revisions = [script.revision for script in reversed(list(_scripts().walk_revisions()))]
    with _migrating(engine) as conn:
        for revision in revisions:
            command.upgrade(alembic_config(conn), revision)
            assert MigrationContext.configure(conn).get_current_revision() == revision
        for revision in reversed(revisions):
            assert MigrationContext.configure(conn).get_current_revision() == revision
            command.downgrade(alembic_config(conn), "-1")
        assert set(inspect(conn).get_table_names()) == {"alembic_version"}


def test_downgrade_to_base_and_upgrade_again(engine: Engine) -> None:
    with _migrating(engine) as conn:
        upgrade_to_head(conn)
        command.downgrade(alembic_config(conn), "base")
        assert set(inspect(conn).get_table_names()) == {"alembic_version"}
        upgrade_to_head(conn)
        assert set(inspect(conn).get_table_names()) == TABLES


def test_upgrading_a_store_with_runs_keeps_every_row_and_foreign_key(engine: Engine) -> None:
    """0003 rebuilds the SQLite tables: with foreign keys on, dropping the old ``runs``
    would cascade to every node, attempt and event."""
    now = datetime.now(UTC)
    with _migrating(engine) as conn:
        command.upgrade(alembic_config(conn), "0002")
        conn.execute(
            insert(runs).values(
                id="r1",
                status="running",
                flow_id="f",
                flow_name="F",
                flow={},
                inputs={},
                outputs={},
                created_at=now,
                last_seq=2,
                cancel_requested=False,
                owner_host="kubernetes:ns/name",
                owner_pid=0,
                owner_create_time=0.0,
            )
        )
        node_state = {"status": "running", "attempts": 1, "outputs": {}}
        conn.execute(
            insert(nodes),
            [
                {"run_id": "r1", "node_id": n, "position": i, **node_state}
                for i, n in enumerate(["a", "b"])
            ],
        )
        conn.execute(
            insert(attempts).values(
                run_id="r1", node_id="a", attempt=1, status="failed", error_reason="exit_code"
            )
        )
        conn.execute(
            insert(events),
            [
                {"run_id": "r1", "seq": s, "ts": now, "type": "log", "node": "a", "data": {}}
                for s in (1, 2)
            ],
        )
    with _migrating(engine) as conn:
        upgrade_to_head(conn)
    tables = (runs, nodes, attempts, events)
    with engine.begin() as conn:
        assert [conn.scalar(select(func.count()).select_from(t)) for t in tables] == [1, 2, 1, 2]
        assert conn.execute(select(attempts.c.node_id, attempts.c.error_reason)).all() == [
            ("a", "exit_code")
        ]
        conn.execute(delete(runs))  # the cascades survived the rebuild
        assert [conn.scalar(select(func.count()).select_from(t)) for t in tables] == [0] * 4


def test_upgrading_a_0003_store_keeps_its_data_and_adds_the_registry(
    engine: Engine, store_url: str
) -> None:
    now = datetime.now(UTC)
    with _migrating(engine) as conn:
        command.upgrade(alembic_config(conn), "0003")
        conn.execute(
            insert(runs).values(
                id="r1",
                status="succeeded",
                flow_id="f",
                flow_name="F",
                flow={"meta": {"id": "f"}},
                inputs={},
                outputs={},
                created_at=now,
                last_seq=0,
                cancel_requested=False,
                owner_host="h",
                owner_pid=1,
                owner_create_time=0.0,
            )
        )
        conn.execute(
            insert(api_keys).values(
                id="k1", name="ci", scopes=["read"], key_hash="0" * 64, created_at=now
            )
        )
    with _migrating(engine) as conn:
        upgrade_to_head(conn)
        assert MigrationContext.configure(conn).get_current_revision() == _head()
    with engine.connect() as conn:
        assert conn.execute(select(runs.c.id, runs.c.flow)).all() == [("r1", {"meta": {"id": "f"}})]
        assert conn.execute(select(api_keys.c.name)).scalars().all() == ["ci"]
    with open_store(url=store_url) as store:
        registry = Registry(store)
        registry.create_flow({"meta": {"id": "f", "name": "F", "version": "1"}})
        assert registry.get_flow("f").versions == ("1",)
        assert store.get_run("r1").flow_id == "f"
        assert store.get_run("r1").executor is None  # recorded before 0005 kept it


def test_sqlite_table_rebuilds_refuse_to_run_with_foreign_keys_on(tmp_path: Path) -> None:
    engine = create_sqlite_engine(tmp_path / "store.db")
    try:
        with engine.begin() as conn, pytest.raises(RuntimeError, match="foreign_keys = OFF"):
            upgrade_to_head(conn)
    finally:
        engine.dispose()


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
    with pytest.raises(InvalidStoreUrlError):
        open_store(url=url)


def test_an_unreachable_database_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreUnavailableError) as info:
        open_store(url="postgresql+psycopg://someone:s3cret@127.0.0.1:1/runs")
    message = str(info.value)
    assert message.startswith("cannot open the run store at postgresql+psycopg://someone:***@")
    assert "s3cret" not in message
    assert "\n" not in message


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
