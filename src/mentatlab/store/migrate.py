"""Bringing a store's schema to the newest Alembic revision shipped in this package."""

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
    """Apply missing migrations inside the caller's transaction (SQLite DDL is transactional)."""
    command.upgrade(alembic_config(connection), "head")
