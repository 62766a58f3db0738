"""The registry: registered agents (manifest and Cog-Pak location) and versioned flows.

Only new tables: existing runs, keys and audit entries are untouched.

Revision ID: 0004
Revises: 0003
Create Date: 2025-08-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mentatlab.store.schema import UTCDateTime

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "registered_agents",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agent_id", sa.String(255), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_registered_agents"),
        sa.UniqueConstraint("agent_id", "version", name="uq_registered_agents_agent_id_version"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "flows",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("flow_id", sa.String(255), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_flows"),
        sa.UniqueConstraint("flow_id", "version", name="uq_flows_flow_id_version"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("flows")
    op.drop_table("registered_agents")
