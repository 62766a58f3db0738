"""Text without a length limit for flow ids and names, node ids, owners and error reasons.

PostgreSQL enforces ``varchar(n)``: a flow id over 255 characters, or the owner
``kubernetes:<namespace>/<name>`` of a FlowRun with long names, failed there while SQLite
took it. ``text`` has no limit on either backend. On PostgreSQL ``varchar`` to ``text`` only
changes the catalog (no table rewrite); SQLite, which cannot alter a column, rebuilds each
table (batch mode). That rebuild drops the old tables, so it must run with foreign keys off,
or dropping ``runs`` would cascade to every node and event: the store's SQLite migration
transaction turns them off (:func:`mentatlab.store.sqlite.migration_transaction`).

Revision ID: 0003
Revises: 0002
Create Date: 2025-07-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

# table -> (column, former varchar length, nullable); parents before children.
_COLUMNS: dict[str, list[tuple[str, int, bool]]] = {
    "runs": [("flow_id", 255, True), ("flow_name", 255, True), ("owner_host", 255, False)],
    "nodes": [("node_id", 255, False)],
    "attempts": [("node_id", 255, False), ("error_reason", 64, True)],
    "events": [("node", 255, True)],
}


def upgrade() -> None:
    _refuse_cascading_rebuilds()
    for table, columns in _COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for name, length, nullable in columns:
                batch.alter_column(
                    name,
                    existing_type=sa.String(length),
                    type_=sa.Text(),
                    existing_nullable=nullable,
                )


def downgrade() -> None:
    """Back to ``varchar(n)``; fails on PostgreSQL if a value is longer than ``n``."""
    _refuse_cascading_rebuilds()
    for table, columns in reversed(_COLUMNS.items()):
        with op.batch_alter_table(table) as batch:
            for name, length, nullable in columns:
                batch.alter_column(
                    name,
                    existing_type=sa.Text(),
                    type_=sa.String(length),
                    existing_nullable=nullable,
                )


def _refuse_cascading_rebuilds() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "revision 0003 rebuilds SQLite tables: run it with PRAGMA foreign_keys = OFF "
            "(mentatlab.store.sqlite.migration_transaction), or dropping the old runs table "
            "would delete every node and event"
        )
