"""How the engine reports what happens: every state change and agent event goes to a sink.

The CLI connects the sink to the run store; tests may collect events in a list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from mentatlab.model.run import EventType

__all__ = ["EngineEvent", "EventSink", "ListSink"]


@dataclass(frozen=True)
class EngineEvent:
    type: EventType
    node: str | None
    attempt: int | None
    data: dict[str, Any]


class EventSink(Protocol):
    async def __call__(self, event: EngineEvent) -> None:
        """Record one event. Called in order; the engine waits for it to return."""
        ...


class ListSink:
    """Keeps every event in memory: for tests and for embedding the engine."""

    def __init__(self) -> None:
        self.events: list[EngineEvent] = []

    async def __call__(self, event: EngineEvent) -> None:
        self.events.append(event)
