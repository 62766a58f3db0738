"""Where ``mentatctl apikey`` and ``mentatctl audit`` act: the local store (or a server).

The commands talk only to :class:`Admin`. :class:`LocalAdmin` works on the store under
``$MENTATLAB_HOME`` (or the database ``--db`` / ``MENTATLAB_DB`` names) and appends its own
changes to the audit log as ``local:<os user>``. :class:`RemoteAdmin` speaks the HTTP API
of a ``--server`` (which audits on the server side); :func:`admin_session` chooses.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any, Protocol

from mentatlab.cli.common import store_session
from mentatlab.cli.remote import remote_session, single_target
from mentatlab.client import Client
from mentatlab.model.api import KeyInfo
from mentatlab.store import (
    ApiKey,
    ApiKeyError,
    ApiKeys,
    AuditEntry,
    AuditLog,
    ChainBreak,
    Outcome,
    Scope,
    SqlRunStore,
    Verification,
)

__all__ = ["Admin", "LocalAdmin", "RemoteAdmin", "admin_session"]


class Admin(Protocol):
    def create_key(self, name: str, scopes: frozenset[Scope]) -> tuple[ApiKey, str]:
        """The new key's record and the key itself (shown once)."""
        ...

    def list_keys(self) -> list[ApiKey]: ...

    def revoke_key(self, name_or_id: str) -> tuple[ApiKey, bool]:
        """The key's record, and ``False`` if it was revoked already."""
        ...

    def audit_entries(self, *, limit: int) -> list[AuditEntry]:
        """The newest ``limit`` entries, newest first."""
        ...

    def verify_audit(self) -> Verification: ...


class LocalAdmin:
    """:class:`Admin` on an open local store."""

    def __init__(self, store: SqlRunStore) -> None:
        self._keys = ApiKeys(store)
        self._audit = AuditLog(store)
        self._actor = f"local:{_os_user()}"
        self._client = socket.gethostname()

    def create_key(self, name: str, scopes: frozenset[Scope]) -> tuple[ApiKey, str]:
        try:
            record, key = self._keys.create(name, scopes)
        except ApiKeyError as exc:
            self._record("apikey.create", "apikeys", Outcome.FAILURE, name=name, error=str(exc))
            raise
        self._record(
            "apikey.create",
            f"apikeys/{record.id}",
            Outcome.SUCCESS,
            name=name,
            scopes=record.to_json()["scopes"],
        )
        return record, key

    def list_keys(self) -> list[ApiKey]:
        return self._keys.list_keys()

    def revoke_key(self, name_or_id: str) -> tuple[ApiKey, bool]:
        try:
            record, changed = self._keys.revoke(name_or_id)
        except ApiKeyError as exc:
            self._record("apikey.revoke", f"apikeys/{name_or_id}", Outcome.FAILURE, error=str(exc))
            raise
        self._record(
            "apikey.revoke",
            f"apikeys/{record.id}",
            Outcome.SUCCESS,
            name=record.name,
            already_revoked=not changed,
        )
        return record, changed

    def audit_entries(self, *, limit: int) -> list[AuditEntry]:
        return self._audit.list_entries(limit=limit)

    def verify_audit(self) -> Verification:
        return self._audit.verify()

    def _record(self, action: str, resource: str, outcome: Outcome, **details: Any) -> None:
        self._audit.append(
            actor=self._actor,
            action=action,
            resource=resource,
            outcome=outcome,
            client=self._client,
            details=details,
        )


class RemoteAdmin:
    """:class:`Admin` through a server's HTTP API (an admin-scoped key)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create_key(self, name: str, scopes: frozenset[Scope]) -> tuple[ApiKey, str]:
        created = self._client.create_key(name, sorted(scopes))
        return _api_key(created), created.key

    def list_keys(self) -> list[ApiKey]:
        return [_api_key(info) for info in self._client.list_keys()]

    def revoke_key(self, name_or_id: str) -> tuple[ApiKey, bool]:
        # The API revokes idempotently; whether it was revoked already is read before.
        before = next((k for k in self._client.list_keys() if name_or_id in (k.id, k.name)), None)
        record = _api_key(self._client.revoke_key(name_or_id))
        return record, before is None or before.revoked_at is None

    def audit_entries(self, *, limit: int) -> list[AuditEntry]:
        entries = self._client.audit_entries(page_size=min(limit, 1000))
        return [AuditEntry(**info.model_dump()) for info in islice(entries, limit)]

    def verify_audit(self) -> Verification:
        result = self._client.verify_audit()
        bad = result.first_bad
        return Verification(
            entries=result.entries,
            last_hash=result.last_hash,
            first_bad=None if bad is None else ChainBreak(seq=bad.seq, reason=bad.reason),
        )


@contextmanager
def admin_session(
    db: str | None = None, *, server: str | None = None, api_key: str | None = None
) -> Iterator[Admin]:
    """The :class:`Admin` the command acts through: the server at ``server`` (``--server``,
    else ``MENTATLAB_SERVER``), else the store at ``db`` (``--db``, else ``MENTATLAB_DB``),
    else the local store under ``MENTATLAB_HOME``."""
    single_target(server, db)
    if server:
        with remote_session(server, api_key) as client:
            yield RemoteAdmin(client)
        return
    with store_session(db) as store:
        yield LocalAdmin(store)


def _api_key(info: KeyInfo) -> ApiKey:
    return ApiKey(
        id=info.id,
        name=info.name,
        scopes=frozenset(Scope(scope.value) for scope in info.scopes),
        created_at=info.created_at,
        revoked_at=info.revoked_at,
    )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return f"uid{os.getuid()}"
