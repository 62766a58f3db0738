"""Everything specific to PostgreSQL: the engine (psycopg 3, a pool) and the migration lock.

Appenders are serialised by the run row, selected ``FOR UPDATE`` in
:mod:`mentatlab.store.append`, so write transactions need no lock up front here.
"""

from __future__ import annotations

from sqlalchemy import URL, Connection, Engine, create_engine, func, select

from mentatlab.store.errors import StoreError

__all__ = ["MIGRATION_LOCK_KEY", "create_postgres_engine", "lock_migrations", "postgres_url"]

MIGRATION_LOCK_KEY = 0x6D656E7461746C62  # "mentatlb": any constant shared by every process
"""Key of the transaction-level advisory lock that setup (migrations) runs under."""

# psycopg 3 is the driver the package depends on; a bare postgresql:// would mean psycopg2.
_DRIVERS = {"postgresql", "postgresql+psycopg"}


def postgres_url(url: URL) -> URL:
    """``url`` with the psycopg driver; :class:`StoreError` for another PostgreSQL driver."""
    if url.drivername not in _DRIVERS:
        raise StoreError(
            f"unsupported PostgreSQL driver {url.drivername!r}: use postgresql+psycopg://"
        )
    return url.set(drivername="postgresql+psycopg")


def create_postgres_engine(url: URL) -> Engine:
    """A pooled engine on ``url``: READ COMMITTED, connections checked before use."""
    return create_engine(
        postgres_url(url),
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
    """
    conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
