"""Bringing a store's schema to the newest Alembic revision shipped in this package.

There is no ``alembic.ini``: migrations always run on a connection the store hands over. To add
a revision after changing :mod:`mentatlab.store.schema`, migrate a scratch store to head and
autogenerate against it, then ``ruff check --fix`` and ``ruff format`` the new file::

    with migration_transaction(create_sqlite_engine(path)) as conn:
        upgrade_to_head(conn)
        command.revision(alembic_config(conn), message="...", autogenerate=True, rev_id="0004")

Every revision runs on SQLite and on PostgreSQL: the store tests apply them to both. On SQLite
migrations run with foreign keys off (:func:`mentatlab.store.sqlite.migration_transaction`),
because altering a column rebuilds its table and dropping the old ``runs`` would cascade.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

__all__ = ["SCRIPT_LOCATION", "alembic_config", "upgrade_to_head"]

SCRIPT_LOCATION = "mentatlab.store:migrations"


def alembic_config(connection: Connection) -> Config:
    """An in-memory Alembic config whose ``env.py`` migrates on ``connection``."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def upgrade_to_head(connection: Connection) -> None:
    """Apply missing migrations inside the caller's transaction.

    DDL is transactional on SQLite and PostgreSQL alike: a failed migration changes nothing.
    """
    command.upgrade(alembic_config(connection), "head")
