"""Where ``mentatctl apikey`` and ``mentatctl audit`` act: the local store (or a server).

The commands talk only to :class:`Admin`. :class:`LocalAdmin` works on the store under
``$MENTATLAB_HOME`` and appends its own changes to the audit log as ``local:<os user>``. A
``--server`` option is the other implementation of :class:`Admin` (speaking the HTTP API,
which audits on the server side), chosen in :func:`admin_session`.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from mentatlab.cli.common import store_session
from mentatlab.store import (
    ApiKey,
    ApiKeyError,
    ApiKeys,
    AuditEntry,
    AuditLog,
    Outcome,
    Scope,
    SqlRunStore,
    Verification,
)

__all__ = ["Admin", "LocalAdmin", "admin_session"]


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


@contextmanager
def admin_session() -> Iterator[Admin]:
    """The :class:`Admin` the command acts through: the local store under MENTATLAB_HOME."""
    with store_session() as store:
        yield LocalAdmin(store)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return f"uid{os.getuid()}"
