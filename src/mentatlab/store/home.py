"""Opening the default run store: ``$MENTATLAB_HOME/store.db`` (``~/.mentatlab`` by default)."""

from __future__ import annotations

import os
from pathlib import Path

from mentatlab.store.migrate import upgrade_to_head
from mentatlab.store.sql import SqlRunStore
from mentatlab.store.sqlite import create_sqlite_engine, enable_wal, exclusive_file_lock

__all__ = ["DB_FILENAME", "HOME_ENV", "open_store", "resolve_home"]

HOME_ENV = "MENTATLAB_HOME"
DB_FILENAME = "store.db"
_LOCK_FILENAME = "store.db.lock"


def resolve_home(home: Path | None = None) -> Path:
    """``home``, else ``$MENTATLAB_HOME``, else ``~/.mentatlab``."""
    if home is not None:
        return home
    env = os.environ.get(HOME_ENV)
    return Path(env) if env else Path.home() / ".mentatlab"


def open_store(home: Path | None = None) -> SqlRunStore:
    """Open (creating and migrating if needed) the store, then fail interrupted runs.

    Setup runs under an exclusive lock file, so processes opening a brand-new store at the
    same moment take turns: the first creates the schema, the others find it at head.
    """
    directory = resolve_home(home)
    directory.mkdir(parents=True, exist_ok=True)
    engine = create_sqlite_engine(directory / DB_FILENAME)
    store = SqlRunStore(engine)
    try:
        with exclusive_file_lock(directory / _LOCK_FILENAME):
            enable_wal(engine)
            with store.write_transaction() as conn:
                upgrade_to_head(conn)
        store.recover_interrupted()
    except BaseException:
        store.close()
        raise
    return store
