"""Agent identity: each attempt's own credential, and the events it reports over HTTP.

An agent normally reports on stdout. A long-running or remote agent may instead POST its
events to the server that runs it, authenticated by a token scoped to its run, node and
attempt. The engine asks an :class:`IdentityIssuer` (the server's) for that token when an
attempt starts and puts it in the envelope; while the attempt runs it is registered in
:class:`LiveAttempts`, through which the server hands reported events to exactly the path
stdout events take (redaction, the run's event log, outputs). Once the attempt has ended it
is no longer registered, so its token is worthless even before it expires.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Protocol

from mentatlab.engine.drivers.base import EventCallback
from mentatlab.model.protocol import AgentEvent, AgentIdentity

__all__ = ["AttemptKey", "IdentityIssuer", "LiveAttempts"]

AttemptKey = tuple[str, str, int]
"""(run id, node instance, attempt)."""


class IdentityIssuer(Protocol):
    def issue(self, *, run_id: str, node_id: str, attempt: int) -> AgentIdentity:
        """A fresh credential for one attempt."""
        ...


class LiveAttempts:
    """The attempts running now that accept events over HTTP, shared by a server's runs."""

    def __init__(self) -> None:
        self._attempts: dict[AttemptKey, EventCallback] = {}

    @contextlib.contextmanager
    def open(self, key: AttemptKey, report: EventCallback) -> Iterator[None]:
        """Accept events for ``key`` while the block runs."""
        self._attempts[key] = report
        try:
            yield
        finally:
            self._attempts.pop(key, None)

    def is_live(self, key: AttemptKey) -> bool:
        return key in self._attempts

    async def report(self, key: AttemptKey, events: Sequence[AgentEvent]) -> bool:
        """Relay ``events`` as the attempt's own; ``False`` when it is not running (any more)."""
        report = self._attempts.get(key)
        if report is None:
            return False
        for event in events:
            await report(event)
        return True
