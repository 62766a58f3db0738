"""What only PostgreSQL has: column types, the migration lock, the driver in the URL.

Everything else (migrations, concurrent appenders, recovery) is tested on both backends by the
other store tests, through the ``store_url`` fixture.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from multiprocessing.queues import Queue

from sqlalchemy import URL, text

from mentatlab.store import SqlRunStore, open_store
from mentatlab.store.postgres import create_postgres_engine, lock_migrations

_spawn = multiprocessing.get_context("spawn")


def _open_worker(url: str, opened: Queue[str]) -> None:
    with open_store(url=url) as store:
        run = store.create_run(flow={}, inputs={}, node_ids=[], flow_id=None, flow_name=None)
        opened.put(run.id)


def test_columns_have_native_types(postgres_schema: URL) -> None:
    open_store(url=postgres_schema).close()
    engine = create_postgres_engine(postgres_schema)
    with engine.connect() as conn:
        types = {
            (row.table_name, row.column_name): row.data_type
            for row in conn.execute(
                text(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns"
                    " WHERE table_schema = current_schema()"
                )
            )
        }
    engine.dispose()
    assert types[("runs", "flow")] == "json"
    assert types[("runs", "error")] == "json"
    assert types[("events", "data")] == "json"
    assert types[("runs", "created_at")] == "timestamp with time zone"
    assert types[("events", "ts")] == "timestamp with time zone"
    assert types[("runs", "cancel_requested")] == "boolean"
    assert types[("runs", "owner_create_time")] == "double precision"
    assert types[("events", "seq")] == "integer"
    for column in [
        ("runs", "flow_id"),
        ("runs", "flow_name"),
        ("runs", "owner_host"),
        ("nodes", "node_id"),
        ("attempts", "node_id"),
        ("attempts", "error_reason"),
        ("attempts", "error_message"),
        ("events", "node"),
    ]:
        assert types[column] == "text", column


def test_sessions_wait_30_s_for_locks_unless_the_url_says_otherwise(postgres_schema: URL) -> None:
    show = text("SHOW lock_timeout")
    with open_store(url=postgres_schema) as store, store.read_transaction() as conn:
        assert conn.scalar(show) == "30s"
        assert conn.scalar(text("SELECT current_schema()")).startswith("test_")
    with (
        open_store(url=postgres_schema, lock_timeout_ms=1500) as store,
        store.read_transaction() as conn,
    ):
        assert conn.scalar(show) == "1500ms"
    options = str(postgres_schema.query["options"]) + " -c lock_timeout=5s"
    with (
        open_store(url=postgres_schema.update_query_dict({"options": options})) as store,
        store.read_transaction() as conn,
    ):
        assert conn.scalar(show) == "5s"
        assert conn.scalar(text("SELECT current_schema()")).startswith("test_")


def test_waiting_for_the_migration_lock_has_no_time_limit(postgres_schema: URL) -> None:
    engine = create_postgres_engine(postgres_schema)
    opened: list[SqlRunStore | BaseException] = []

    def open_in_thread() -> None:
        try:
            opened.append(open_store(url=postgres_schema, lock_timeout_ms=100))
        except BaseException as exc:
            opened.append(exc)

    opener = threading.Thread(target=open_in_thread)
    try:
        with engine.begin() as holder:
            lock_migrations(holder)
            opener.start()
            time.sleep(1)  # ten lock timeouts
            assert opened == []
        opener.join(timeout=60)
        [store] = opened
        assert isinstance(store, SqlRunStore), store
        with store.read_transaction() as conn:
            assert conn.scalar(text("SHOW lock_timeout")) == "100ms"
        store.close()
    finally:
        engine.dispose()


def test_opening_a_new_database_waits_for_the_migration_lock(postgres_schema: URL) -> None:
    engine = create_postgres_engine(postgres_schema)
    opened: Queue[str] = _spawn.Queue()
    waiting = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    try:
        with engine.begin() as holder:
            lock_migrations(holder)
            child = _spawn.Process(
                target=_open_worker,
                args=(postgres_schema.render_as_string(hide_password=False), opened),
            )
            child.start()
            deadline = time.monotonic() + 60
            with engine.connect() as observer:
                while observer.scalar(waiting) != 1:
                    assert child.is_alive() and time.monotonic() < deadline
                    time.sleep(0.05)
            assert opened.empty()
            assert holder.scalar(text("SELECT to_regclass('runs')")) is None
        # The holder committed without creating anything: the child migrates, then goes on.
        assert opened.get(timeout=60).startswith("r")
        child.join(timeout=60)
        assert child.exitcode == 0
    finally:
        engine.dispose()


def test_a_url_without_a_driver_uses_psycopg(postgres_schema: URL) -> None:
    with open_store(url=postgres_schema.set(drivername="postgresql")) as store:
        run = store.create_run(flow={}, inputs={}, node_ids=["a"], flow_id=None, flow_name=None)
        assert store.get_run(run.id).nodes["a"].attempts == 0
