"""Everything specific to SQLite: connection pragmas, BEGIN IMMEDIATE, WAL, the migration lock.

A writer waits up to :data:`BUSY_TIMEOUT_MS` for another process's write transaction; then
:class:`~mentatlab.store.errors.StoreBusyError` is raised (see :mod:`mentatlab.store.sql`).

:mod:`mentatlab.store.postgres` is its PostgreSQL counterpart; :mod:`mentatlab.store.sql`
serves both.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event

from mentatlab.store.errors import StoreError
from mentatlab.store.sql import WRITE_TRANSACTION, busy_as_store_error

__all__ = [
    "BUSY_TIMEOUT_MS",
    "create_sqlite_engine",
    "enable_wal",
    "exclusive_file_lock",
    "migration_transaction",
]

# How long a writer waits for another process's write transaction before giving up.
BUSY_TIMEOUT_MS = 30_000


def create_sqlite_engine(path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Engine:
    """An engine on the SQLite file ``path`` whose write transactions lock up front.

    A connection waits up to ``busy_timeout_ms`` for another connection's write lock.
    """
    engine = create_engine(URL.create("sqlite+pysqlite", database=str(path)))

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below); the sqlite3 module would defer it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        # With WAL, NORMAL loses at most the last commits on power loss, never consistency.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A deferred transaction that later writes fails with SQLITE_BUSY at once instead of
        # waiting; taking the write lock at BEGIN makes concurrent writers queue.
        immediate = conn.get_execution_options().get(WRITE_TRANSACTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def migration_transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction with foreign key enforcement off, for migrations; commits on success.

    Migrations that SQLite can only do by rebuilding a table (create a copy, drop the old one)
    need this: with foreign keys on, dropping ``runs`` would cascade to every node and event.
    The foreign keys are checked before the commit instead (a :class:`StoreError` rolls the
    migration back), and turned on again before the connection goes back to the pool.
    """
    with busy_as_store_error(), engine.connect() as conn:
        # The pragma is a no-op inside a transaction: set it on the connection before BEGIN.
        _pragma(conn, "foreign_keys = OFF")
        try:
            conn.execution_options(**{WRITE_TRANSACTION: True})
            with conn.begin():
                yield conn
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
                if broken is not None:
                    raise StoreError(
                        f"migrating the store would break a foreign key of table {broken[0]!r}"
                    )
        finally:
            _pragma(conn, "foreign_keys = ON")


def _pragma(conn: Connection, setting: str) -> None:
    """Run ``PRAGMA setting`` on the DBAPI connection, outside any SQLAlchemy transaction."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(f"PRAGMA {setting}")
    finally:
        cursor.close()


def enable_wal(engine: Engine) -> None:
    """Switch the database to WAL (persistent in the file) so readers never block writers."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA journal_mode = WAL")
        row = cursor.fetchone()
        cursor.close()
    finally:
        raw.close()
    if row is None or str(row[0]).lower() != "wal":
        raise StoreError(f"could not enable WAL mode on the run store (journal mode: {row})")


@contextmanager
def exclusive_file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) across processes."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
