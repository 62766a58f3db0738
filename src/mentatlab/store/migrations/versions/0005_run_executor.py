"""Where a run's agents execute (``local`` or ``kubernetes``), kept with the run.

A nullable column: runs recorded before it say nothing (``null``), which their records keep.
Both backends add and drop a column in place (SQLite since 3.35), so no table is rebuilt.

Revision ID: 0005
Revises: 0004
Create Date: 2025-08-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("executor", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "executor")
