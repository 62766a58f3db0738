"""Opening a run store: SQLite in ``$MENTATLAB_HOME/store.db`` by default, or a database URL.

``open_store()`` is the SQLite file under ``$MENTATLAB_HOME`` (``~/.mentatlab`` by default);
``open_store(url="postgresql+psycopg://user:password@host/db")`` is a PostgreSQL database
(``sqlite:///path`` names another SQLite file). Either way the schema is migrated to head and
interrupted runs are failed before the store is returned.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError

from mentatlab.store.errors import StoreError
from mentatlab.store.migrate import upgrade_to_head
from mentatlab.store.postgres import create_postgres_engine, lock_migrations
from mentatlab.store.sql import SqlRunStore
from mentatlab.store.sqlite import create_sqlite_engine, enable_wal, exclusive_file_lock

__all__ = ["DB_FILENAME", "HOME_ENV", "open_store", "resolve_home"]

HOME_ENV = "MENTATLAB_HOME"
DB_FILENAME = "store.db"


def resolve_home(home: Path | None = None) -> Path:
    """``home``, else ``$MENTATLAB_HOME``, else ``~/.mentatlab``."""
    if home is not None:
        return home
    env = os.environ.get(HOME_ENV)
    return Path(env) if env else Path.home() / ".mentatlab"


def open_store(home: Path | None = None, *, url: str | URL | None = None) -> SqlRunStore:
    """Open (creating and migrating if needed) the store, then fail interrupted runs.

    Without ``url`` the store is ``store.db`` in :func:`resolve_home`; ``url`` is a
    ``postgresql[+psycopg]://`` or ``sqlite:///`` URL, and ``home`` must then be left out.
    Setup runs under a lock (a lock file beside a SQLite file, an advisory lock on
    PostgreSQL), so processes opening a brand-new store at once take turns: the first creates
    the schema, the others find it at head. Raises :class:`StoreError` for an unusable URL.
    """
    if url is None:
        return _open_sqlite(resolve_home(home) / DB_FILENAME)
    if home is not None:
        raise ValueError("open_store() takes a home directory or a URL, not both")
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"not a database URL: {url!r}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return _open_postgres(parsed)
    if backend == "sqlite":
        if parsed.database in {None, "", ":memory:"}:
            # Each pooled connection would get its own empty in-memory database.
            raise StoreError("a SQLite store URL needs a file: sqlite:///path/to/store.db")
        return _open_sqlite(Path(str(parsed.database)))
    raise StoreError(f"unsupported database {backend!r}: use postgresql+psycopg:// or sqlite:///")


def _open_sqlite(path: Path) -> SqlRunStore:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_sqlite_engine(path)
    store = SqlRunStore(engine)

    def migrate() -> None:
        with exclusive_file_lock(path.with_name(path.name + ".lock")):
            enable_wal(engine)
            with store.write_transaction() as conn:
                upgrade_to_head(conn)

    return _set_up(store, migrate)


def _open_postgres(url: URL) -> SqlRunStore:
    store = SqlRunStore(create_postgres_engine(url))

    def migrate() -> None:
        with store.write_transaction() as conn:
            lock_migrations(conn)
            upgrade_to_head(conn)

    return _set_up(store, migrate)


def _set_up(store: SqlRunStore, migrate: Callable[[], None]) -> SqlRunStore:
    try:
        migrate()
        store.recover_interrupted()
    except BaseException:
        store.close()
        raise
    return store
