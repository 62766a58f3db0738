"""The audit log: an append-only, hash-chained record of who changed what, on the store.

Entry ``n`` stores ``prev_hash`` (the hash of entry ``n - 1``; 64 zeros for entry 1) and
``hash``, the SHA-256 of a canonical JSON object of its fields and ``prev_hash``. Changing an
entry breaks its own hash; recomputing that hash breaks the next entry's ``prev_hash``;
deleting, inserting or reordering entries breaks the seqs or the links. The ``audit_head`` row
holds the last seq and hash, so entries deleted from the end are caught too. What a chain
cannot catch is someone rewriting the whole chain and the head: compare the last hash that
:meth:`AuditLog.verify` reports with a copy kept elsewhere for that.

Appenders lock the head row inside a write transaction (SQLite: ``BEGIN IMMEDIATE``;
PostgreSQL: ``SELECT ... FOR UPDATE``), so concurrent appenders queue and the chain never forks.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, func, insert, select, update

from mentatlab.store.errors import InvalidAuditEntryError, StoreError
from mentatlab.store.schema import audit_head, audit_log, without_nul
from mentatlab.store.sql import SqlRunStore

__all__ = ["GENESIS_HASH", "AuditEntry", "AuditLog", "ChainBreak", "Outcome", "Verification"]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first entry."""

_HEAD_ID = 1
_MAX_ACTION_CHARS = 64
_VERIFY_BATCH = 1000
# Anything shaped like an API key (even a mistyped one) is redacted before it is stored, so
# a key sent where a path or header was expected never reaches the log; the id part stays.
_KEY_IN_TEXT = re.compile(r"mlk_([0-9a-f]{12})_[A-Za-z0-9_-]+")
_REDACTED = r"mlk_\1_[redacted]"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    """The request was authorised but failed (invalid input, conflict, error)."""
    DENIED = "denied"
    """Authentication or authorisation failed."""


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    seq: int
    ts: datetime
    actor: str
    action: str
    resource: str
    outcome: str
    request_id: str | None
    client: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def expected_hash(self) -> str:
        """SHA-256 of the canonical JSON of every field but ``hash``."""
        payload = {
            "seq": self.seq,
            "ts": self.ts.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": self.actor,
            "action": self.action,
            "resource": self.resource,
            "outcome": self.outcome,
            "request_id": self.request_id,
            "client": self.client,
            "details": self.details,
            "prev_hash": self.prev_hash,
        }
        canonical = json.dumps(
            payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "resource": self.resource,
            "outcome": self.outcome,
            "request_id": self.request_id,
            "client": self.client,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, kw_only=True)
class ChainBreak:
    """The first entry that fails verification.

    ``seq`` may be an entry that is missing; 0 means the head row of an empty log is wrong.
    """

    seq: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class Verification:
    entries: int
    """Entries verified as intact (all of them when the chain is intact)."""
    last_hash: str
    """Hash of the last intact entry: keep it elsewhere to detect a rewritten chain later."""
    first_bad: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.first_bad is None


class AuditLog:
    """The audit log in a run store's database (the store keeps owning the engine)."""

    def __init__(self, store: SqlRunStore) -> None:
        self._store = store

    def append(
        self,
        *,
        actor: str,
        action: str,
        resource: str,
        outcome: Outcome,
        request_id: str | None = None,
        client: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Append an entry timestamped now; strings shaped like API keys are redacted.

        ``actor`` names who acted (e.g. ``key:ci (3f2a…)``, ``local:alice``), never a key.
        NUL characters in the text fields become U+FFFD (``details`` keeps them).
        Raises :class:`InvalidAuditEntryError` for an empty actor or action, an action over
        64 characters, or ``details`` that are not a JSON object.
        """
        if not actor or not action:
            raise InvalidAuditEntryError("an audit entry needs an actor and an action")
        action = _clean(action)
        if len(action) > _MAX_ACTION_CHARS:
            raise InvalidAuditEntryError(f"audit action longer than {_MAX_ACTION_CHARS} chars")
        try:
            details_text = json.dumps(dict(details or {}), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidAuditEntryError(f"audit details are not JSON: {exc}") from None
        with self._store.write_transaction() as conn:
            head = _head(conn, lock=True)
            entry = _sealed(
                seq=head.seq + 1,
                ts=datetime.now(UTC),
                actor=_clean(actor),
                action=action,
                resource=_clean(resource),
                outcome=Outcome(outcome).value,
                request_id=_clean(request_id) if request_id is not None else None,
                client=_clean(client) if client is not None else None,
                details=json.loads(_redact(details_text)),
                prev_hash=head.hash,
            )
            conn.execute(insert(audit_log).values(asdict(entry)))
            conn.execute(
                update(audit_head)
                .where(audit_head.c.id == _HEAD_ID)
                .values(seq=entry.seq, hash=entry.hash)
            )
        return entry

    def list_entries(
        self, *, limit: int = 100, before_seq: int | None = None, since: datetime | None = None
    ) -> list[AuditEntry]:
        """Entries newest first; pass the last seq of a page as ``before_seq`` for the next.

        Raises :class:`StoreError` if an entry cannot be read (run :meth:`verify`).
        """
        query = select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
        if before_seq is not None:
            query = query.where(audit_log.c.seq < before_seq)
        if since is not None:
            query = query.where(audit_log.c.ts >= since)
        with self._store.read_transaction() as conn:
            try:
                return [_entry(row) for row in conn.execute(query)]
            except (TypeError, ValueError) as exc:
                raise StoreError(f"the audit log is damaged ({exc}); verify it") from None

    def verify(self) -> Verification:
        """Check the whole chain and report the first bad entry, if any."""
        with self._store.read_transaction() as conn:
            return _verify(conn)


def _verify(conn: Connection) -> Verification:
    # The head is read first and only entries up to it are checked, so entries appended
    # meanwhile are not mistaken for tampering even where reads see no single snapshot.
    head = _head(conn, lock=False)
    query = select(audit_log).where(audit_log.c.seq <= head.seq).order_by(audit_log.c.seq)
    good, last_hash, previous_hash = 0, GENESIS_HASH, GENESIS_HASH

    def broken(seq: int, reason: str) -> Verification:
        return Verification(
            entries=good, last_hash=last_hash, first_bad=ChainBreak(seq=seq, reason=reason)
        )

    # Streamed (a server-side cursor on PostgreSQL), so closed even when returning early.
    with closing(conn.execute(query, execution_options={"yield_per": _VERIFY_BATCH})) as result:
        while True:
            expected = good + 1
            try:
                row = result.fetchone()
            except (TypeError, ValueError) as exc:
                return broken(expected, f"the entry after {good} cannot be read ({exc})")
            if row is None:
                break
            if row.seq != expected:
                return broken(expected, f"entry {expected} is missing (the next is {row.seq})")
            if row.prev_hash != last_hash:
                return broken(
                    row.seq,
                    f"its prev_hash is not the hash of entry {good} "
                    "(that entry's hash was changed, or entries were replaced or reordered)",
                )
            if not _hash_matches(row):
                return broken(row.seq, "its contents do not match its hash (the entry was changed)")
            good, last_hash, previous_hash = row.seq, row.hash, last_hash
    if good < head.seq:
        return broken(good + 1, f"entries {good + 1} to {head.seq} are missing")
    if last_hash != head.hash:
        # A last entry rewritten whole (its hash recomputed) links up; only the head knows.
        return Verification(
            entries=max(good - 1, 0),
            last_hash=previous_hash,
            first_bad=ChainBreak(
                seq=good,
                reason="its hash is not the last hash the log recorded "
                "(the entry or that record was changed)",
            ),
        )
    # The max seq is read before the head again: any entry it sees was committed together
    # with its head update, so only an entry added behind the log's back can be beyond it.
    last_seq = conn.scalar(select(func.max(audit_log.c.seq))) or 0
    current = _head(conn, lock=False)
    if last_seq > current.seq:
        return broken(current.seq + 1, f"entry {current.seq + 1} was added outside the log")
    return Verification(entries=good, last_hash=last_hash, first_bad=None)


class _Head(NamedTuple):
    seq: int
    hash: str


def _head(conn: Connection, *, lock: bool) -> _Head:
    query = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == _HEAD_ID)
    row = conn.execute(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        raise StoreError("the audit log has no head row: the store's migrations did not run")
    return _Head(seq=row.seq, hash=row.hash)


def _sealed(**fields: Any) -> AuditEntry:
    unsealed = AuditEntry(hash="", **fields)
    return AuditEntry(hash=unsealed.expected_hash(), **fields)


def _entry(row: Row[Any]) -> AuditEntry:
    return AuditEntry(**row._asdict())


def _hash_matches(row: Row[Any]) -> bool:
    try:
        return _entry(row).expected_hash() == str(row.hash)
    except (TypeError, ValueError):  # details edited into something that is not JSON
        return False


def _redact(text: str) -> str:
    return _KEY_IN_TEXT.sub(_REDACTED, text)


def _clean(text: str) -> str:
    """``text`` redacted, and as its text column stores it (NUL becomes U+FFFD), so the hash
    sealed now is the hash of what verification reads back."""
    return without_nul(_redact(text))
