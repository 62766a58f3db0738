"""Bringing a store's schema to the newest Alembic revision shipped in this package.

There is no ``alembic.ini``: migrations always run on a connection the store hands over. To add
a revision after changing :mod:`mentatlab.store.schema`, migrate a scratch store to head and
autogenerate against it, ``ruff check --fix`` and ``ruff format`` the new file, and set
:data:`HEAD_REVISION` to its id::

    with migration_transaction(create_sqlite_engine(path)) as conn:
        upgrade_to_head(conn)
        command.revision(alembic_config(conn), message="...", autogenerate=True, rev_id="0004")

Every revision runs on SQLite and on PostgreSQL: the store tests apply them to both. On SQLite
migrations run with foreign keys off (:func:`mentatlab.store.sqlite.migration_transaction`),
because altering a column rebuilds its table and dropping the old ``runs`` would cascade.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD_REVISION", "SCRIPT_LOCATION", "alembic_config", "upgrade_to_head"]

SCRIPT_LOCATION = "mentatlab.store:migrations"

HEAD_REVISION = "0005"
"""The newest revision in ``migrations/versions`` (a store test checks it against Alembic's)."""


def alembic_config(connection: Connection) -> Config:
    """An in-memory Alembic config whose ``env.py`` migrates on ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def upgrade_to_head(connection: Connection) -> None:
    """Apply missing migrations inside the caller's transaction.

    DDL is transactional on SQLite and PostgreSQL alike: a failed migration changes nothing.
    A store already at :data:`HEAD_REVISION` is left alone without importing Alembic, which
    costs every process that opens a store about 160 ms and 11 MiB (and each agent the engine
    forks a larger process to copy).
    """
    if _current_revision(connection) == HEAD_REVISION:
        return
    from alembic import command

    command.upgrade(alembic_config(connection), "head")


def _current_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    revisions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return revisions[0] if len(revisions) == 1 else None
