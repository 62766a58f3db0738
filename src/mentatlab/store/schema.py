"""Table definitions of the run store, written with portable SQLAlchemy Core types.

The Alembic migrations in ``migrations/versions`` create exactly these tables; a test compares
them. Change both together: see :mod:`mentatlab.store.migrate` for generating a revision.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

from mentatlab.model.run import NodeStatus

__all__ = [
    "ATTEMPT_STATE_COLUMNS",
    "NAMING_CONVENTION",
    "NODE_STATE_COLUMNS",
    "NUL_REPLACEMENT",
    "NulFreeString",
    "NulFreeText",
    "UTCDateTime",
    "api_keys",
    "attempts",
    "audit_head",
    "audit_log",
    "events",
    "flows",
    "metadata",
    "nodes",
    "registered_agents",
    "runs",
    "state_of",
    "values_of",
    "without_nul",
]

# Named constraints let future SQLite batch migrations (table rebuilds) refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the run store; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NUL_REPLACEMENT: Final = "\ufffd"
"""What NUL characters in text columns become (U+FFFD REPLACEMENT CHARACTER)."""


def without_nul(text: str) -> str:
    """``text`` with each NUL character replaced by :data:`NUL_REPLACEMENT`."""
    return text.replace("\x00", NUL_REPLACEMENT)


class NulFreeString(TypeDecorator[str]):
    """``String(length)`` whose values (inserted or compared) have NUL replaced by U+FFFD.

    PostgreSQL text types cannot hold NUL (psycopg refuses to send one), SQLite's can: the
    replacement happens on both, so a string reads back the same from either. Only text
    columns are affected; JSON columns keep NUL (as the escape ``\\u0000``).
    """

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return value if value is None else without_nul(value)


class NulFreeText(NulFreeString):
    """``Text`` (unlimited length on every backend) with NUL replaced, as :class:`NulFreeString`."""

    impl = Text
    cache_ok = True


metadata = MetaData(naming_convention=NAMING_CONVENTION)

# Text whoever starts a run or writes an event chooses (flow ids and names, node ids, owners such
# as ``kubernetes:<namespace>/<name>``, error reasons and messages) is ``NulFreeText``: no
# length limit on any backend (PostgreSQL enforces ``varchar(n)``, SQLite does not). Ids the
# store generates, enum values, hashes and validated names stay ``NulFreeString(n)``.

runs = Table(
    "runs",
    metadata,
    Column("id", NulFreeString(32), primary_key=True),
    Column("status", NulFreeString(16), nullable=False),
    Column("flow_id", NulFreeText),
    Column("flow_name", NulFreeText),
    Column("flow", JSON, nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("outputs", JSON, nullable=False),
    Column("error", JSON(none_as_null=True)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("last_seq", Integer, nullable=False),
    Column("cancel_requested", Boolean, nullable=False),
    Column("owner_host", NulFreeText, nullable=False),
    Column("owner_pid", Integer, nullable=False),
    Column("owner_create_time", Float, nullable=False),
    Column("executor", NulFreeString(16)),  # an Executor value; null for older runs
    Index(None, "status", "id"),
)

nodes = Table(
    "nodes",
    metadata,
    Column("run_id", NulFreeString(32), primary_key=True),
    Column("node_id", NulFreeText, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("status", NulFreeString(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("outputs", JSON, nullable=False),
    Column("error", JSON(none_as_null=True)),
    Column("progress", Float),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("run_id", NulFreeString(32), primary_key=True),
    Column("node_id", NulFreeText, primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("status", NulFreeString(16), nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("error_reason", NulFreeText),
    Column("error_message", NulFreeText),
    Column("exit_code", Integer),
    ForeignKeyConstraint(
        ["run_id", "node_id"], ["nodes.run_id", "nodes.node_id"], ondelete="CASCADE"
    ),
)

# The primary key (run_id, seq) is what makes concurrent appends unable to duplicate a seq.
events = Table(
    "events",
    metadata,
    Column("run_id", NulFreeString(32), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("ts", UTCDateTime, nullable=False),
    Column("type", NulFreeString(32), nullable=False),
    Column("node", NulFreeText),
    Column("attempt", Integer),
    Column("data", JSON, nullable=False),
    ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
    # last_checkpoint() looks up a node's latest event of one type.
    Index(None, "run_id", "node", "type", "seq"),
)


# API keys: only a SHA-256 of each key is stored; ``id`` is the non-secret lookup part of the
# key (``mlk_<id>_<secret>``). Revoked keys stay, so names in the audit log remain unambiguous.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", NulFreeString(16), primary_key=True),
    Column("name", NulFreeString(64), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("key_hash", NulFreeString(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    UniqueConstraint("name"),
)

# The audit log: a hash chain, each entry stores the hash of the one before it.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("ts", UTCDateTime, nullable=False),
    Column("actor", NulFreeText, nullable=False),
    Column("action", NulFreeString(64), nullable=False),
    Column("resource", NulFreeText, nullable=False),
    Column("outcome", NulFreeString(16), nullable=False),
    Column("request_id", NulFreeText),
    Column("client", NulFreeText),
    Column("details", JSON, nullable=False),
    Column("prev_hash", NulFreeString(64), nullable=False),
    Column("hash", NulFreeString(64), nullable=False),
    Index(None, "ts"),
)

# One row (id 1), created by the migration: the chain's last seq and hash. Appenders lock it
# (FOR UPDATE on PostgreSQL) so they queue instead of forking the chain, and verification
# compares it with the last entry, which catches entries deleted from the end.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", NulFreeString(64), nullable=False),
)


# The registry: agent manifests with where their Cog-Pak lives, and flows. Each version is a
# row of its own that never changes; ``seq`` orders them (listings, the version stored last).
# Ids and versions are bounded (the registry checks the lengths): they are indexed, and
# PostgreSQL cannot index arbitrarily long text.
registered_agents = Table(
    "registered_agents",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("agent_id", NulFreeString(255), nullable=False),
    Column("version", NulFreeString(64), nullable=False),
    Column("manifest", JSON, nullable=False),
    Column("location", NulFreeText, nullable=False),
    Column("registered_at", UTCDateTime, nullable=False),
    UniqueConstraint("agent_id", "version"),
    sqlite_autoincrement=True,  # never reuse a seq: it is the listing's cursor
)

flows = Table(
    "flows",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("flow_id", NulFreeString(255), nullable=False),
    Column("version", NulFreeString(64), nullable=False),
    Column("name", NulFreeText, nullable=False),
    Column("document", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("flow_id", "version"),
    sqlite_autoincrement=True,
)

# The projected state of a node and of an attempt: one list serves loading and saving.
NODE_STATE_COLUMNS: Final = (
    "status",
    "attempts",
    "outputs",
    "error",
    "progress",
    "started_at",
    "finished_at",
)
ATTEMPT_STATE_COLUMNS: Final = (
    "status",
    "started_at",
    "finished_at",
    "error_reason",
    "error_message",
    "exit_code",
)


def state_of(row: Any, columns: tuple[str, ...]) -> dict[str, Any]:
    """``columns`` of a row as keyword arguments, with ``status`` as a :class:`NodeStatus`."""
    values = {column: getattr(row, column) for column in columns}
    values["status"] = NodeStatus(values["status"])
    return values


def values_of(state: Any, columns: tuple[str, ...]) -> dict[str, Any]:
    """``columns`` of a state object as column values for an INSERT or UPDATE."""
    return {column: getattr(state, column) for column in columns}
