"""The registry on the run store's database: registered agents and versioned flows.

Callers validate documents first (``mentatlab.validation``); the registry only stores them.
Every version is immutable: storing an id and version again is a no-op when the content is
identical (so retrying a request is safe) and a :class:`RegistryConflictError` otherwise.

- An agent is its manifest (``id``, ``version``) plus the ``location`` of its Cog-Pak: a
  directory on the server or any other URI. Its latest version is the highest (semver), the
  one a flow node ``type: ID`` resolves to.
- A flow is stored under ``meta.id``, one row per ``meta.version``; its latest version is the
  one stored last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Column, Connection, Row, delete, insert, select
from sqlalchemy.exc import IntegrityError

from mentatlab.model.api import MAX_REGISTRY_ID, MAX_REGISTRY_VERSION
from mentatlab.store.errors import (
    AgentNotRegisteredError,
    FlowNotFoundError,
    InvalidRegistryEntryError,
    RegistryConflictError,
)
from mentatlab.store.schema import flows, registered_agents
from mentatlab.store.sql import SqlRunStore
from mentatlab.validation.semver import semver_key

__all__ = ["RegisteredAgent", "Registry", "StoredFlow"]

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class RegisteredAgent:
    seq: int
    """Registration order; the cursor of agent listings."""
    id: str
    version: str
    manifest: dict[str, Any]
    location: str
    registered_at: datetime


@dataclass(frozen=True, kw_only=True)
class StoredFlow:
    """One version of a flow, with what the other versions tell about it."""

    id: str
    version: str
    name: str
    document: dict[str, Any]
    created_at: datetime
    """When the flow's first version was stored."""
    updated_at: datetime
    """When this version was stored."""
    versions: tuple[str, ...]
    """Every stored version, oldest first."""


class Registry:
    """Registered agents and flows in a run store's database (the store keeps the engine)."""

    def __init__(self, store: SqlRunStore) -> None:
        self._store = store

    def register_agent(
        self, manifest: Mapping[str, Any], location: str
    ) -> tuple[RegisteredAgent, bool]:
        """Store a validated manifest and its Cog-Pak location; the flag says whether it is
        new (``False``: the same registration existed already).

        Raises :class:`RegistryConflictError` if ``id@version`` is registered differently.
        """
        agent_id, version = (
            _bounded(manifest.get("id"), "agent id", MAX_REGISTRY_ID),
            _bounded(manifest.get("version"), "agent version", MAX_REGISTRY_VERSION),
        )
        document = dict(manifest)

        def register(conn: Connection) -> tuple[RegisteredAgent, bool]:
            row = conn.execute(
                select(registered_agents).where(
                    registered_agents.c.agent_id == agent_id,
                    registered_agents.c.version == version,
                )
            ).one_or_none()
            if row is not None:
                if row.manifest == document and row.location == location:
                    return _agent(row), False
                raise RegistryConflictError(
                    f"agent {agent_id}@{version} is registered with another manifest or "
                    "location; a registered version never changes: register a new version"
                )
            inserted = conn.execute(
                insert(registered_agents)
                .values(
                    agent_id=agent_id,
                    version=version,
                    manifest=document,
                    location=location,
                    registered_at=datetime.now(UTC),
                )
                .returning(*registered_agents.c)
            ).one()
            return _agent(inserted), True

        return self._write(register)

    def list_agents(
        self, *, limit: int | None = None, before: int | None = None, agent_id: str | None = None
    ) -> list[RegisteredAgent]:
        """Registered agents, newest registration first; pass the last ``seq`` of a page as
        ``before`` for the next one."""
        query = select(registered_agents).order_by(registered_agents.c.seq.desc()).limit(limit)
        if before is not None:
            query = query.where(registered_agents.c.seq < before)
        if agent_id is not None:
            query = query.where(registered_agents.c.agent_id == agent_id)
        with self._store.read_transaction() as conn:
            return [_agent(row) for row in conn.execute(query)]

    def get_agent(self, agent_id: str, version: str | None = None) -> RegisteredAgent:
        """``agent_id@version``, or its highest version; raises :class:`AgentNotRegisteredError`."""
        query = select(registered_agents).where(registered_agents.c.agent_id == agent_id)
        if version is not None:
            query = query.where(registered_agents.c.version == version)
        with self._store.read_transaction() as conn:
            rows = conn.execute(query).all()
        if not rows:
            raise AgentNotRegisteredError(agent_id, version)
        return _agent(max(rows, key=lambda row: semver_key(row.version)))

    def delete_agent(self, agent_id: str, version: str | None = None) -> list[str]:
        """Unregister one version, or every version; returns the versions deleted.

        Raises :class:`AgentNotRegisteredError` when nothing matches.
        """
        deleted = self._delete(registered_agents.c.agent_id, agent_id, version)
        if not deleted:
            raise AgentNotRegisteredError(agent_id, version)
        return deleted

    def create_flow(self, document: Mapping[str, Any]) -> tuple[StoredFlow, bool]:
        """Store a new flow (a validated document); the flag says whether it is new.

        Raises :class:`RegistryConflictError` if a flow with its id exists, unless this very
        version is stored with the same content, and :class:`InvalidRegistryEntryError`
        without ``meta.version``.
        """
        flow_id, version, _ = _flow_meta(document)

        def create(conn: Connection) -> tuple[StoredFlow, bool]:
            existing = _flow_rows(conn, flow_id)
            if existing and not any(
                row.version == version and row.document == document for row in existing
            ):
                raise RegistryConflictError(
                    f"flow {flow_id!r} exists already; update it (PUT) with a new meta.version"
                )
            return _store_version(conn, document, existing)

        return self._write(create)

    def update_flow(self, flow_id: str, document: Mapping[str, Any]) -> tuple[StoredFlow, bool]:
        """Add a version to the flow ``flow_id``; the flag says whether it is new.

        Raises :class:`FlowNotFoundError` for an unknown flow, :class:`RegistryConflictError`
        if the version is stored with other content, and :class:`InvalidRegistryEntryError`
        if the document's ``meta.id`` is not ``flow_id`` or it has no ``meta.version``.
        """
        document_id, _, _ = _flow_meta(document)
        if document_id != flow_id:
            raise InvalidRegistryEntryError(
                f"the flow's meta.id is {document_id!r}, not {flow_id!r}; "
                "a flow keeps its id (create a new flow for a new id)"
            )

        def update(conn: Connection) -> tuple[StoredFlow, bool]:
            existing = _flow_rows(conn, flow_id)
            if not existing:
                raise FlowNotFoundError(flow_id)
            return _store_version(conn, document, existing)

        return self._write(update)

    def get_flow(self, flow_id: str, version: str | None = None) -> StoredFlow:
        """A version of a flow, by default the one stored last; raises
        :class:`FlowNotFoundError`."""
        with self._store.read_transaction() as conn:
            rows = _flow_rows(conn, flow_id)
        chosen = rows[-1:] if version is None else [row for row in rows if row.version == version]
        if not chosen:
            raise FlowNotFoundError(flow_id, version)
        return _flow(chosen[0], rows)

    def list_flows(self, *, limit: int, after: str | None = None) -> list[StoredFlow]:
        """The latest version of each flow, by id; pass the last id of a page as ``after``
        for the next one."""
        ids = select(flows.c.flow_id).distinct().order_by(flows.c.flow_id).limit(limit)
        if after is not None:
            ids = ids.where(flows.c.flow_id > after)
        with self._store.read_transaction() as conn:
            rows = conn.execute(
                select(flows)
                .where(flows.c.flow_id.in_(ids.scalar_subquery()))
                .order_by(flows.c.flow_id, flows.c.seq)
            ).all()
        by_id: dict[str, list[Row[Any]]] = {}
        for row in rows:
            by_id.setdefault(row.flow_id, []).append(row)
        return [_flow(versions[-1], versions) for versions in by_id.values()]

    def delete_flow(self, flow_id: str, version: str | None = None) -> list[str]:
        """Delete one version, or the whole flow; returns the versions deleted.

        Raises :class:`FlowNotFoundError` when nothing matches.
        """
        deleted = self._delete(flows.c.flow_id, flow_id, version)
        if not deleted:
            raise FlowNotFoundError(flow_id, version)
        return deleted

    def _delete(self, id_column: Column[Any], entry_id: str, version: str | None) -> list[str]:
        """Delete the versions of an agent or flow; returns them, oldest first."""
        table = id_column.table
        condition = [id_column == entry_id]
        if version is not None:
            condition.append(table.c.version == version)
        with self._store.write_transaction() as conn:
            rows = conn.execute(
                delete(table).where(*condition).returning(table.c.seq, table.c.version)
            ).all()
        return [row.version for row in sorted(rows, key=lambda row: row.seq)]

    def _write(self, operation: Callable[[Connection], T]) -> T:
        try:
            with self._store.write_transaction() as conn:
                return operation(conn)
        except IntegrityError:
            # PostgreSQL runs writers side by side (SQLite one at a time): two may both find
            # an id and version free, and the unique constraint lets only the first insert.
            # Once more: the loser now finds the winner's row and compares with it.
            with self._store.write_transaction() as conn:
                return operation(conn)


def _bounded(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRegistryEntryError(f"the {what} is missing")
    if len(value) > limit:
        raise InvalidRegistryEntryError(f"the {what} is longer than {limit} characters")
    return value


def _flow_meta(document: Mapping[str, Any]) -> tuple[str, str, str]:
    """``meta.id``, ``meta.version`` and ``meta.name`` of a flow document."""
    meta = document.get("meta")
    if not isinstance(meta, Mapping):
        raise InvalidRegistryEntryError("the flow has no meta")
    if not meta.get("version"):
        raise InvalidRegistryEntryError(
            "stored flows are versioned by meta.version: set it (e.g. 1.0.0)"
        )
    name = meta.get("name")
    return (
        _bounded(meta.get("id"), "flow id (meta.id)", MAX_REGISTRY_ID),
        _bounded(meta.get("version"), "flow version (meta.version)", MAX_REGISTRY_VERSION),
        name if isinstance(name, str) else "",
    )


def _flow_rows(conn: Connection, flow_id: str) -> Sequence[Row[Any]]:
    """Every version of a flow, oldest first."""
    return conn.execute(select(flows).where(flows.c.flow_id == flow_id).order_by(flows.c.seq)).all()


def _store_version(
    conn: Connection, document: Mapping[str, Any], existing: Sequence[Row[Any]]
) -> tuple[StoredFlow, bool]:
    flow_id, version, name = _flow_meta(document)
    stored = next((row for row in existing if row.version == version), None)
    if stored is not None:
        if stored.document == document:
            return _flow(stored, existing), False
        raise RegistryConflictError(
            f"flow {flow_id!r} version {version!r} is stored with other content; "
            "a stored version never changes: give the flow a new meta.version"
        )
    inserted = conn.execute(
        insert(flows)
        .values(
            flow_id=flow_id,
            version=version,
            name=name,
            document=dict(document),
            created_at=datetime.now(UTC),
        )
        .returning(*flows.c)
    ).one()
    return _flow(inserted, [*existing, inserted]), True


def _agent(row: Row[Any]) -> RegisteredAgent:
    return RegisteredAgent(
        seq=row.seq,
        id=row.agent_id,
        version=row.version,
        manifest=row.manifest,
        location=row.location,
        registered_at=row.registered_at,
    )


def _flow(row: Row[Any], versions: Sequence[Row[Any]]) -> StoredFlow:
    return StoredFlow(
        id=row.flow_id,
        version=row.version,
        name=row.name,
        document=row.document,
        created_at=versions[0].created_at,
        updated_at=row.created_at,
        versions=tuple(version.version for version in versions),
    )
