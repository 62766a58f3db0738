"""What only PostgreSQL has: column types, the migration lock, the driver in the URL.

Everything else (migrations, concurrent appenders, recovery) is tested on both backends by the
other store tests, through the ``store_url`` fixture.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.queues import Queue

from sqlalchemy import URL, text

from mentatlab.store import open_store
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
