"""Errors the run store raises: callers catch :class:`StoreError` or one of its subclasses."""

from __future__ import annotations

__all__ = [
    "AgentNotRegisteredError",
    "ApiKeyError",
    "ApiKeyExistsError",
    "ApiKeyNotFoundError",
    "FlowNotFoundError",
    "InvalidApiKeyError",
    "InvalidAuditEntryError",
    "InvalidEventError",
    "InvalidRegistryEntryError",
    "InvalidStoreUrlError",
    "RegistryConflictError",
    "RegistryError",
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


class RegistryError(StoreError):
    """Base class of the errors registering agents and storing flows raises."""


class InvalidRegistryEntryError(RegistryError, ValueError):
    """An agent or flow cannot be stored as given: an id or version too long, a flow without
    ``meta.version``, or a flow whose id is not the one it is stored under (a usage error)."""


class RegistryConflictError(RegistryError):
    """An id and version are taken by different content (a stored version never changes),
    or a flow to create exists already."""


class AgentNotRegisteredError(RegistryError):
    """No registered agent has this id (and version, when one is given)."""

    def __init__(self, agent_id: str, version: str | None = None) -> None:
        what = f"{agent_id}@{version}" if version else agent_id
        super().__init__(f"agent {what!r} is not registered")
        self.agent_id = agent_id
        self.version = version


class FlowNotFoundError(RegistryError):
    """No stored flow has this id (and version, when one is given)."""

    def __init__(self, flow_id: str, version: str | None = None) -> None:
        super().__init__(
            f"flow {flow_id!r} has no version {version!r}"
            if version
            else f"flow {flow_id!r} not found"
        )
        self.flow_id = flow_id
        self.version = version
