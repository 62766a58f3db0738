"""What the endpoints of one server share, and the context of one request."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from mentatlab.api.metrics import ServerMetrics
from mentatlab.api.notifier import EventNotifier
from mentatlab.api.pool import RunPool
from mentatlab.api.settings import Settings
from mentatlab.service.agent_tokens import AgentTokens
from mentatlab.store import ApiKeys, AuditLog, Registry, SqlRunStore

__all__ = [
    "SAFE_METHODS",
    "RequestContext",
    "ServerState",
    "attach_context",
    "request_context",
    "server_state",
]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing: their requests are audited only when refused."""


@dataclass(frozen=True, kw_only=True)
class ServerState:
    settings: Settings
    pool: RunPool
    notifier: EventNotifier
    metrics: ServerMetrics
    keys: ApiKeys
    audit: AuditLog
    registry: Registry
    agent_tokens: AgentTokens

    @property
    def store(self) -> SqlRunStore:
        return self.settings.store


@dataclass(kw_only=True)
class RequestContext:
    """Filled in while a request is handled; the audit entry is written from it."""

    request_id: str
    action: str | None = None
    """What the route does (``run.create``); set by the auth dependency of the route."""
    mutating: bool = False
    actor: str | None = None
    """Who asked: ``key:NAME (ID)`` once a key was recognised, never the key itself."""
    resource: str | None = None
    """What the request acted on when it is more precise than its path (a new run's id)."""
    details: dict[str, Any] = field(default_factory=dict)


def attach_context(scope: MutableMapping[str, Any], context: RequestContext) -> None:
    """Make ``context`` the :func:`request_context` of the request of ``scope``."""
    scope.setdefault("state", {})["mentatlab"] = context


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.mentatlab
    return state


def request_context(request: Request) -> RequestContext:
    context: RequestContext = request.state.mentatlab
    return context
