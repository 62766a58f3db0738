"""relay_events: a driver hands the events it read together to the engine at once."""

from __future__ import annotations

import asyncio

import pytest

from mentatlab.engine.drivers.attempt import relay_events
from mentatlab.model.protocol import AgentEvent, MetricEvent


def _metrics(count: int) -> list[AgentEvent]:
    return [MetricEvent(name="i", value=i) for i in range(count)]


def test_every_call_starts_before_the_first_returns_and_in_order() -> None:
    started: list[float] = []
    finished: list[float] = []

    async def take(event: AgentEvent) -> None:
        assert isinstance(event, MetricEvent)
        started.append(event.value)
        await asyncio.sleep(0)
        finished.append(event.value)

    asyncio.run(relay_events(take, _metrics(5)))
    assert started == [0, 1, 2, 3, 4]
    assert finished == [0, 1, 2, 3, 4]


def test_a_failing_call_raises_and_cancels_those_still_waiting() -> None:
    cancelled: list[float] = []

    async def take(event: AgentEvent) -> None:
        assert isinstance(event, MetricEvent)
        if event.value == 1:
            raise OSError("store is gone")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(event.value)
            raise

    async def main() -> None:
        with pytest.raises(OSError, match="store is gone"):
            await relay_events(take, _metrics(3))

    asyncio.run(main())
    assert cancelled == [0, 2]
