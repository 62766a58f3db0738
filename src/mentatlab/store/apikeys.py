"""API keys: creation, authentication, listing and revocation on the run store's database.

A key reads ``mlk_<id>_<secret>``: ``id`` is 12 lowercase hex characters, not secret, used to
find the key's row (and shown by ``apikey list``); ``secret`` is ``secrets.token_urlsafe(32)``
(256 random bits). Only the SHA-256 of the whole key is stored. A plain, unsalted hash is
enough because the key is random: there is no dictionary to try, and 256 bits cannot be
brute-forced. Hashes are compared with :func:`hmac.compare_digest`.

Scopes nest: ``read`` allows GET requests, ``write`` (creating and cancelling runs, flows,
agents) implies ``read``, and ``admin`` (API keys, the audit log) implies ``write``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Row, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from mentatlab.store.errors import ApiKeyExistsError, ApiKeyNotFoundError, InvalidApiKeyError
from mentatlab.store.schema import api_keys
from mentatlab.store.sql import SqlRunStore

__all__ = [
    "ADMIN_KEY_NAME",
    "KEY_PREFIX",
    "ApiKey",
    "ApiKeys",
    "Scope",
    "generate_key",
    "key_id_of",
    "parse_scopes",
]

KEY_PREFIX = "mlk_"
ADMIN_KEY_NAME = "admin"
"""The name of the key bootstrapped from ``MENTATLAB_ADMIN_KEY``; reserved for it."""

_ID_HEX_CHARS = 12
_SECRET_BYTES = 32
_KEY_PATTERN = re.compile(r"mlk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    def allows(self, required: Scope) -> bool:
        """Whether a key with this scope may do what needs ``required`` (scopes nest)."""
        return _RANK[self] >= _RANK[required]


_RANK = {Scope.READ: 0, Scope.WRITE: 1, Scope.ADMIN: 2}


def parse_scopes(text: str) -> frozenset[Scope]:
    """``"read,write"`` → scopes; raises :class:`InvalidApiKeyError` for unknown or none."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise InvalidApiKeyError("no scopes given (choose from read, write, admin)")
    unknown = [name for name in names if name not in {scope.value for scope in Scope}]
    if unknown:
        raise InvalidApiKeyError(f"unknown scope {unknown[0]!r} (choose from read, write, admin)")
    return frozenset(Scope(name) for name in names)


def generate_key() -> str:
    """A new well-formed key, stored nowhere (e.g. for ``MENTATLAB_ADMIN_KEY``)."""
    return f"{KEY_PREFIX}{secrets.token_hex(_ID_HEX_CHARS // 2)}_{_new_secret()}"


def key_id_of(key: str) -> str | None:
    """The non-secret id of a well-formed key (safe to log), or ``None`` if it is malformed."""
    match = _KEY_PATTERN.fullmatch(key)
    return match.group(1) if match else None


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    """A stored key; neither the key nor its hash is part of it."""

    id: str
    name: str
    scopes: frozenset[Scope]
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def allows(self, required: Scope) -> bool:
        """Whether this key may do what needs ``required``; a revoked key may do nothing."""
        return not self.revoked and any(scope.allows(required) for scope in self.scopes)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scopes": _sorted_scopes(self.scopes),
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


class ApiKeys:
    """The API keys in a run store's database (the store keeps owning the engine)."""

    def __init__(self, store: SqlRunStore) -> None:
        self._store = store

    def create(self, name: str, scopes: Iterable[Scope]) -> tuple[ApiKey, str]:
        """Store a new key; return its record and the key, which is not retrievable later.

        Raises :class:`InvalidApiKeyError` for a malformed or reserved name or no scopes and
        :class:`ApiKeyExistsError` if the name is taken, also when another process creates
        the same name at the same moment (exactly one of them wins).
        """
        _check_name(name)
        if name == ADMIN_KEY_NAME:
            raise InvalidApiKeyError(
                f"the name {ADMIN_KEY_NAME!r} is reserved for the key in MENTATLAB_ADMIN_KEY"
            )
        chosen = frozenset(Scope(scope) for scope in scopes)
        if not chosen:
            raise InvalidApiKeyError("an API key needs at least one scope")
        try:
            with self._store.write_transaction() as conn:
                if _name_taken(conn, name):
                    raise ApiKeyExistsError(name)
                key_id = _unused_id(conn)
                key = f"{KEY_PREFIX}{key_id}_{_new_secret()}"
                record = ApiKey(
                    id=key_id,
                    name=name,
                    scopes=chosen,
                    created_at=datetime.now(UTC),
                    revoked_at=None,
                )
                conn.execute(insert(api_keys).values(_row_values(record, key)))
        except IntegrityError:
            # PostgreSQL runs creators side by side (SQLite one at a time): two may both find
            # the name free, then the unique index lets only the first insert through.
            with self._store.read_transaction() as conn:
                if _name_taken(conn, name):
                    raise ApiKeyExistsError(name) from None
            raise
        return record, key

    def authenticate(self, key: str) -> ApiKey | None:
        """The active key ``key`` is; ``None`` if it is malformed, unknown or revoked."""
        key_id = key_id_of(key)
        if key_id is None:
            return None
        with self._store.read_transaction() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one_or_none()
        # The id is public, so only the comparison with the secret part needs constant time.
        if row is None or not hmac.compare_digest(row.key_hash, _hash(key)):
            return None
        record = _record(row)
        return None if record.revoked else record

    def get(self, name_or_id: str) -> ApiKey:
        """The key with this name or id; raises :class:`ApiKeyNotFoundError`."""
        with self._store.read_transaction() as conn:
            return _record(_find(conn, name_or_id))

    def list_keys(self, *, include_revoked: bool = True) -> list[ApiKey]:
        """Every key, oldest first."""
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self._store.read_transaction() as conn:
            return [_record(row) for row in conn.execute(query)]

    def revoke(self, name_or_id: str) -> tuple[ApiKey, bool]:
        """Revoke a key by name or id; the flag is ``False`` if it was revoked already.

        Raises :class:`ApiKeyNotFoundError`.
        """
        with self._store.write_transaction() as conn:
            row = _find(conn, name_or_id)
            if row.revoked_at is not None:
                return _record(row), False
            now = datetime.now(UTC)
            conn.execute(update(api_keys).where(api_keys.c.id == row.id).values(revoked_at=now))
            return _record(row, revoked_at=now), True

    def ensure_admin_key(self, key: str) -> tuple[ApiKey, bool]:
        """Make ``key`` (from ``MENTATLAB_ADMIN_KEY``) the ``admin`` key; idempotent.

        Stores it with the ``admin`` scope on first use; a different key replaces the previous
        ``admin`` key (rotation), and the same key once revoked stays revoked. The flag says
        whether anything changed. Raises :class:`InvalidApiKeyError` unless ``key`` is a
        well-formed key (:func:`generate_key` makes one). Processes bootstrapping the same key
        at once all succeed, exactly one with the flag set; if another process keeps storing
        a conflicting admin key meanwhile, :class:`ApiKeyExistsError` is raised.
        """
        key_id = key_id_of(key)
        if key_id is None:
            raise InvalidApiKeyError(
                "MENTATLAB_ADMIN_KEY is not a MentatLab API key "
                "(mlk_ + 12 hex characters + _ + 43 URL-safe characters); "
                "generate one with: mentatctl apikey generate"
            )
        record = ApiKey(
            id=key_id,
            name=ADMIN_KEY_NAME,
            scopes=frozenset({Scope.ADMIN}),
            created_at=datetime.now(UTC),
            revoked_at=None,
        )
        for _ in range(2):
            try:
                with self._store.write_transaction() as conn:
                    return _ensure_admin_key(conn, key, record)
            except IntegrityError:
                # Servers starting at once (PostgreSQL runs them side by side) may all find no
                # admin key; the unique name lets one insert. Look again: it is there now.
                continue
        raise ApiKeyExistsError(ADMIN_KEY_NAME)


def _ensure_admin_key(conn: Connection, key: str, record: ApiKey) -> tuple[ApiKey, bool]:
    current = conn.execute(select(api_keys).where(api_keys.c.name == ADMIN_KEY_NAME)).one_or_none()
    if current is not None and hmac.compare_digest(current.key_hash, _hash(key)):
        return _record(current), False
    taken = conn.scalar(select(api_keys.c.name).where(api_keys.c.id == record.id))
    if taken is not None and taken != ADMIN_KEY_NAME:
        raise InvalidApiKeyError(
            f"MENTATLAB_ADMIN_KEY has the id of the API key {taken!r}; generate a new one"
        )
    if current is not None:
        # Rotation: the old admin key stops working the moment the new one is stored.
        conn.execute(
            update(api_keys)
            .where(api_keys.c.name == ADMIN_KEY_NAME)
            .values(_row_values(record, key))
        )
    else:
        conn.execute(insert(api_keys).values(_row_values(record, key)))
    return record, True


def _new_secret() -> str:
    return secrets.token_urlsafe(_SECRET_BYTES)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _check_name(name: str) -> None:
    if not _NAME_PATTERN.fullmatch(name):
        raise InvalidApiKeyError(
            f"invalid API key name {name!r}: 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def _name_taken(conn: Connection, name: str) -> bool:
    return conn.scalar(select(api_keys.c.id).where(api_keys.c.name == name)) is not None


def _unused_id(conn: Connection) -> str:
    while True:  # 48 random bits: a collision is rare, but would be a primary key error
        key_id = secrets.token_hex(_ID_HEX_CHARS // 2)
        if conn.scalar(select(api_keys.c.id).where(api_keys.c.id == key_id)) is None:
            return key_id


def _find(conn: Connection, name_or_id: str) -> Row[Any]:
    rows = conn.execute(
        select(api_keys).where(or_(api_keys.c.id == name_or_id, api_keys.c.name == name_or_id))
    ).all()
    if not rows:
        raise ApiKeyNotFoundError(name_or_id)
    if len(rows) > 1:
        raise InvalidApiKeyError(
            f"{name_or_id!r} is the name of one API key and the id of another; use the id"
        )
    return rows[0]


def _sorted_scopes(scopes: Iterable[Scope]) -> list[str]:
    return [scope.value for scope in sorted(scopes, key=_RANK.__getitem__)]


def _row_values(record: ApiKey, key: str) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "scopes": _sorted_scopes(record.scopes),
        "key_hash": _hash(key),
        "created_at": record.created_at,
        "revoked_at": record.revoked_at,
    }


def _record(row: Row[Any], *, revoked_at: datetime | None = None) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        scopes=frozenset(Scope(scope) for scope in row.scopes),
        created_at=row.created_at,
        revoked_at=revoked_at or row.revoked_at,
    )
