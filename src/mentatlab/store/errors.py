"""Errors the run store raises: callers catch :class:`StoreError` or one of its subclasses."""

from __future__ import annotations

__all__ = [
    "ApiKeyError",
    "ApiKeyExistsError",
    "ApiKeyNotFoundError",
    "InvalidApiKeyError",
    "InvalidAuditEntryError",
    "InvalidEventError",
    "InvalidStoreUrlError",
    "RunFinishedError",
    "RunNotFoundError",
    "StoreBusyError",
    "StoreError",
    "StoreUnavailableError",
]


class StoreError(Exception):
    """Base class for every error the run store raises on purpose."""


class InvalidStoreUrlError(StoreError, ValueError):
    """A store URL is malformed or names an unsupported database or driver (a usage error)."""


class StoreBusyError(StoreError):
    """A lock stayed held longer than the store waits (30 s by default); try again later.

    SQLite raises it when another process's write transaction outlasts the busy timeout,
    PostgreSQL when a row or table lock outlasts ``lock_timeout``.
    """


class StoreUnavailableError(StoreError):
    """The database could not be opened: server unreachable, login refused, no permission."""


class RunNotFoundError(StoreError):
    """No run with this id exists in the store."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} not found")
        self.run_id = run_id


class RunFinishedError(StoreError):
    """The run already reached a terminal status, so its state may no longer change."""

    def __init__(self, run_id: str, status: str, event_type: str) -> None:
        super().__init__(
            f"run {run_id!r} already finished ({status}); cannot append a {event_type!r} event"
        )
        self.run_id = run_id
        self.status = status


class InvalidEventError(StoreError, ValueError):
    """An event is malformed: unknown type or node, bad status, or data that is not JSON."""


class ApiKeyError(StoreError):
    """Base class of the errors creating, bootstrapping or revoking an API key raises."""


class InvalidApiKeyError(ApiKeyError, ValueError):
    """A key name, scope list or bootstrap key is malformed (a usage error)."""


class ApiKeyExistsError(ApiKeyError):
    """A key with this name exists already (perhaps revoked: names are never reused)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"an API key named {name!r} already exists")
        self.name = name


class ApiKeyNotFoundError(ApiKeyError):
    """No API key has this name or id."""

    def __init__(self, name_or_id: str) -> None:
        super().__init__(f"no API key named or with id {name_or_id!r}")
        self.name_or_id = name_or_id


class InvalidAuditEntryError(StoreError, ValueError):
    """An audit entry to append is malformed: an empty actor or action, details not JSON."""
