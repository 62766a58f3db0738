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
from sqlalchemy.exc import ArgumentError, DBAPIError

from mentatlab.store.errors import InvalidStoreUrlError, StoreUnavailableError
from mentatlab.store.migrate import upgrade_to_head
from mentatlab.store.postgres import (
    LOCK_TIMEOUT_MS,
    create_postgres_engine,
    lock_migrations,
    postgres_url,
)
from mentatlab.store.sql import SqlRunStore, driver_message
from mentatlab.store.sqlite import (
    BUSY_TIMEOUT_MS,
    create_sqlite_engine,
    enable_wal,
    exclusive_file_lock,
    migration_transaction,
)

__all__ = ["DB_FILENAME", "HOME_ENV", "open_store", "parse_store_url", "resolve_home"]

HOME_ENV = "MENTATLAB_HOME"
DB_FILENAME = "store.db"


def resolve_home(home: Path | None = None) -> Path:
    """``home``, else ``$MENTATLAB_HOME``, else ``~/.mentatlab``."""
    if home is not None:
        return home
    env = os.environ.get(HOME_ENV)
    return Path(env) if env else Path.home() / ".mentatlab"


def parse_store_url(url: str | URL) -> URL:
    """``url`` checked (not connected to): a ``postgresql+psycopg://`` or ``sqlite:///`` URL.

    ``postgresql://`` gets the psycopg driver. Raises :class:`InvalidStoreUrlError` for
    anything else, or a SQLite URL without a file.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidStoreUrlError(f"not a database URL: {url!r}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return postgres_url(parsed)
    if backend == "sqlite":
        if parsed.database in {None, "", ":memory:"}:
            # Each pooled connection would get its own empty in-memory database.
            raise InvalidStoreUrlError(
                "a SQLite store URL needs a file: sqlite:///path/to/store.db"
            )
        return parsed
    raise InvalidStoreUrlError(
        f"unsupported database {backend!r}: use postgresql+psycopg:// or sqlite:///"
    )


def open_store(
    home: Path | None = None, *, url: str | URL | None = None, lock_timeout_ms: int | None = None
) -> SqlRunStore:
    """Open (creating and migrating if needed) the store, then fail interrupted runs.

    Without ``url`` the store is ``store.db`` in :func:`resolve_home`; ``url`` is a
    ``postgresql[+psycopg]://`` or ``sqlite:///`` URL, and ``home`` must then be left out.
    Setup runs under a lock (a lock file beside a SQLite file, an advisory lock on
    PostgreSQL), so processes opening a brand-new store at once take turns: the first creates
    the schema, the others find it at head. A transaction waits up to ``lock_timeout_ms``
    (default 30 s on both backends) for a lock before raising
    :class:`~mentatlab.store.errors.StoreBusyError`.

    Raises :class:`InvalidStoreUrlError` for an unusable URL and
    :class:`StoreUnavailableError` when the database cannot be reached or opened.
    """
    if url is None:
        return _open_sqlite(resolve_home(home) / DB_FILENAME, lock_timeout_ms)
    if home is not None:
        raise ValueError("open_store() takes a home directory or a URL, not both")
    parsed = parse_store_url(url)
    if parsed.get_backend_name() == "postgresql":
        return _open_postgres(parsed, lock_timeout_ms)
    return _open_sqlite(Path(str(parsed.database)), lock_timeout_ms)


def _open_sqlite(path: Path, lock_timeout_ms: int | None) -> SqlRunStore:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_sqlite_engine(
        path, busy_timeout_ms=BUSY_TIMEOUT_MS if lock_timeout_ms is None else lock_timeout_ms
    )
    store = SqlRunStore(engine)

    def migrate() -> None:
        with exclusive_file_lock(path.with_name(path.name + ".lock")):
            enable_wal(engine)
            with migration_transaction(engine) as conn:
                upgrade_to_head(conn)

    return _set_up(store, migrate, f"sqlite:///{path}")


def _open_postgres(url: URL, lock_timeout_ms: int | None) -> SqlRunStore:
    store = SqlRunStore(
        create_postgres_engine(
            url, lock_timeout_ms=LOCK_TIMEOUT_MS if lock_timeout_ms is None else lock_timeout_ms
        )
    )

    def migrate() -> None:
        with store.write_transaction() as conn:
            lock_migrations(conn)
            upgrade_to_head(conn)

    return _set_up(store, migrate, url.render_as_string(hide_password=True))


def _set_up(store: SqlRunStore, migrate: Callable[[], None], where: str) -> SqlRunStore:
    try:
        migrate()
        store.recover_interrupted()
    except DBAPIError as exc:
        # Unreachable server, wrong password, no permission, unwritable file: one line.
        store.close()
        raise StoreUnavailableError(
            f"cannot open the run store at {where}: {driver_message(exc)}"
        ) from exc
    except BaseException:
        store.close()
        raise
    return store
