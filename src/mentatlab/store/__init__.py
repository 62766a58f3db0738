"""The MentatLab run store: runs, node states, attempts and each run's append-only event log.

``open_store()`` returns the SQLite store under ``$MENTATLAB_HOME`` and
``open_store(url=...)`` a PostgreSQL (or other SQLite) one; callers program against the
:class:`RunStore` protocol. :class:`ApiKeys` and :class:`AuditLog` keep API keys and
the hash-chained audit log in the same database, :class:`Registry` registered agents and
versioned flows.
"""

from mentatlab.store.apikeys import ApiKey, ApiKeys, Scope, generate_key, key_id_of, parse_scopes
from mentatlab.store.audit import AuditEntry, AuditLog, ChainBreak, Outcome, Verification
from mentatlab.store.base import AttemptRecord, NewEvent, RunStore
from mentatlab.store.errors import (
    AgentNotRegisteredError,
    ApiKeyError,
    ApiKeyExistsError,
    ApiKeyNotFoundError,
    FlowNotFoundError,
    InvalidApiKeyError,
    InvalidAuditEntryError,
    InvalidEventError,
    InvalidRegistryEntryError,
    InvalidStoreUrlError,
    RegistryConflictError,
    RegistryError,
    RunFinishedError,
    RunNotFoundError,
    StoreBusyError,
    StoreError,
    StoreUnavailableError,
)
from mentatlab.store.home import open_store, parse_store_url, resolve_home
from mentatlab.store.owner import RunOwner
from mentatlab.store.registry import RegisteredAgent, Registry, StoredFlow
from mentatlab.store.sql import SqlRunStore

__all__ = [
    "AgentNotRegisteredError",
    "ApiKey",
    "ApiKeyError",
    "ApiKeyExistsError",
    "ApiKeyNotFoundError",
    "ApiKeys",
    "AttemptRecord",
    "AuditEntry",
    "AuditLog",
    "ChainBreak",
    "FlowNotFoundError",
    "InvalidApiKeyError",
    "InvalidAuditEntryError",
    "InvalidEventError",
    "InvalidRegistryEntryError",
    "InvalidStoreUrlError",
    "NewEvent",
    "Outcome",
    "RegisteredAgent",
    "Registry",
    "RegistryConflictError",
    "RegistryError",
    "RunFinishedError",
    "RunNotFoundError",
    "RunOwner",
    "RunStore",
    "Scope",
    "SqlRunStore",
    "StoreBusyError",
    "StoreError",
    "StoreUnavailableError",
    "StoredFlow",
    "Verification",
    "generate_key",
    "key_id_of",
    "open_store",
    "parse_scopes",
    "parse_store_url",
    "resolve_home",
]
