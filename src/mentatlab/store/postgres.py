"""Everything specific to PostgreSQL: the engine (psycopg 3, a pool) and the migration lock.

Appenders are serialised by the run row, selected ``FOR UPDATE`` in
:mod:`mentatlab.store.append`, so write transactions need no lock up front here. A statement
waits up to :data:`LOCK_TIMEOUT_MS` for a lock (as SQLite's busy timeout), then fails with
:class:`~mentatlab.store.errors.StoreBusyError` (see :mod:`mentatlab.store.sql`).
"""

from __future__ import annotations

from sqlalchemy import URL, Connection, Engine, create_engine, func, select, text

from mentatlab.store.errors import InvalidStoreUrlError

__all__ = [
    "LOCK_TIMEOUT_MS",
    "MIGRATION_LOCK_KEY",
    "create_postgres_engine",
    "lock_migrations",
    "postgres_url",
]

LOCK_TIMEOUT_MS = 30_000
"""How long a statement waits for a row or table lock (PostgreSQL's ``lock_timeout``)."""

MIGRATION_LOCK_KEY = 0x6D656E7461746C62  # "mentatlb": any constant shared by every process
"""Key of the transaction-level advisory lock that setup (migrations) runs under."""

# psycopg 3 is the driver the package depends on; a bare postgresql:// would mean psycopg2.
_DRIVERS = {"postgresql", "postgresql+psycopg"}


def postgres_url(url: URL) -> URL:
    """``url`` with the psycopg driver; :class:`InvalidStoreUrlError` for another driver."""
    if url.drivername not in _DRIVERS:
        raise InvalidStoreUrlError(
            f"unsupported PostgreSQL driver {url.drivername!r}: use postgresql+psycopg://"
        )
    return url.set(drivername="postgresql+psycopg")


def create_postgres_engine(url: URL, *, lock_timeout_ms: int = LOCK_TIMEOUT_MS) -> Engine:
    """A pooled engine on ``url``: READ COMMITTED, connections checked before use.

    Its sessions start with ``lock_timeout`` set to ``lock_timeout_ms``, unless the URL's own
    ``options`` (libpq command-line options, e.g. ``?options=-c%20lock_timeout%3D5s``) set it.
    """
    return create_engine(
        _with_lock_timeout(postgres_url(url), lock_timeout_ms),
        # READ COMMITTED lets SELECT ... FOR UPDATE on a run row return the row as the
        # previous appender committed it; REPEATABLE READ would fail with a serialization error.
        isolation_level="READ COMMITTED",
        pool_size=5,
        max_overflow=10,
        # A long-lived process (operator, server) outlives server restarts and idle timeouts.
        pool_pre_ping=True,
        connect_args={"application_name": "mentatlab", "connect_timeout": 10},
    )


def lock_migrations(conn: Connection) -> None:
    """Wait for, then hold until ``conn``'s transaction ends, this database's migration lock.

    Processes opening a brand-new database at once take turns: the first creates the schema,
    the others find it at head (each statement under READ COMMITTED sees the first's commit).
    The wait has no time limit, as the SQLite store's file lock; the migration's own
    statements then wait for locks at most ``lock_timeout`` again.
    """
    conn.execute(text("SET LOCAL lock_timeout = 0"))
    conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
    conn.execute(text("SET LOCAL lock_timeout TO DEFAULT"))


def _with_lock_timeout(url: URL, lock_timeout_ms: int) -> URL:
    # libpq applies -c options in order, so the URL's own come last and win.
    given = url.query.get("options", ())
    options = [f"-c lock_timeout={int(lock_timeout_ms)}"]
    options += [given] if isinstance(given, str) else list(given)
    return url.update_query_dict({"options": " ".join(options)})
