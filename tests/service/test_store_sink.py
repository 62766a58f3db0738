"""StoreSink: the engine's events reach the run's log in order, each stored before its sender
goes on, and events sent at once share one store transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from mentatlab.engine.events import EngineEvent
from mentatlab.model.run import EventType, RunEvent
from mentatlab.service.execution import StoreSink
from mentatlab.store import NewEvent, SqlRunStore, open_store
from mentatlab.store.errors import InvalidEventError, StoreBusyError

NODES = [f"n{i}" for i in range(8)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlRunStore]:
    with open_store(tmp_path / "home") as opened:
        yield opened


@pytest.fixture
def run_id(store: SqlRunStore) -> str:
    return store.create_run(flow={}, inputs={}, node_ids=NODES, flow_id=None, flow_name=None).id


def _metric(node: str, value: int) -> EngineEvent:
    return EngineEvent(EventType.METRIC, node, 1, {"name": "i", "value": value, "unit": None})


def _batch_sizes(store: SqlRunStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of events of each ``append_events`` call on ``store`` from now on."""
    sizes: list[int] = []
    append = store.append_events

    def counted(run_id: str, events: Sequence[NewEvent]) -> list[RunEvent]:
        sizes.append(len(events))
        return append(run_id, events)

    monkeypatch.setattr(store, "append_events", counted)
    return sizes


def test_events_sent_at_once_are_stored_together_in_order(
    store: SqlRunStore, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    observed: list[RunEvent] = []
    sink = StoreSink(store, run_id, observed.append)
    sizes = _batch_sizes(store, monkeypatch)
    unstored: list[tuple[str, int]] = []

    async def agent(node: str) -> None:
        for value in range(5):
            await sink(_metric(node, value))
            # Stored before the sender goes on.
            if (node, value) not in {(e.node, e.data["value"]) for e in store.read_events(run_id)}:
                unstored.append((node, value))

    async def main() -> None:
        await asyncio.gather(*(agent(node) for node in NODES))

    asyncio.run(main())
    assert unstored == []
    stored = store.read_events(run_id)
    assert [e.seq for e in stored] == list(range(1, 41))
    assert observed == stored  # each stored event observed once, in the log's order
    for node in NODES:
        assert [e.data["value"] for e in stored if e.node == node] == list(range(5))
    # Each round of the eight senders is one append_events call (one transaction).
    assert sizes == [8] * 5


def test_a_failing_store_fails_every_sender_of_the_batch(
    store: SqlRunStore, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    observed: list[RunEvent] = []
    sink = StoreSink(store, run_id, observed.append)
    failure = StoreBusyError("the run store is busy")

    def failing(run_id: str, events: Sequence[NewEvent]) -> list[RunEvent]:
        raise failure

    async def send(events: list[EngineEvent]) -> list[BaseException | None]:
        return await asyncio.gather(*(sink(e) for e in events), return_exceptions=True)

    with monkeypatch.context() as patch:
        patch.setattr(store, "append_events", failing)
        results = asyncio.run(send([_metric(node, 0) for node in NODES[:3]]))
    assert results == [failure] * 3
    assert observed == []
    assert store.read_events(run_id) == []
    # The sink goes on working once the store does.
    assert asyncio.run(send([_metric("n0", 1)])) == [None]
    assert [(e.seq, e.data["value"]) for e in store.read_events(run_id)] == [(1, 1)]
    assert observed == store.read_events(run_id)


def test_an_event_the_store_refuses_fails_only_its_sender(store: SqlRunStore, run_id: str) -> None:
    observed: list[RunEvent] = []
    sink = StoreSink(store, run_id, observed.append)

    async def main() -> list[BaseException | None]:
        events = [_metric("n0", 0), _metric("no-such-node", 1), _metric("n1", 2)]
        return await asyncio.gather(*(sink(e) for e in events), return_exceptions=True)

    first, refused, last = asyncio.run(main())
    assert first is None and last is None
    assert isinstance(refused, InvalidEventError)
    stored = store.read_events(run_id)
    assert [(e.seq, e.node) for e in stored] == [(1, "n0"), (2, "n1")]
    assert observed == stored


def test_a_cancelled_sender_event_is_stored_before_it_goes_on(
    store: SqlRunStore, run_id: str
) -> None:
    observed: list[RunEvent] = []
    sink = StoreSink(store, run_id, observed.append)
    seen_on_cancel: list[list[RunEvent]] = []

    async def sender() -> None:
        try:
            await sink(_metric("n0", 0))
        except asyncio.CancelledError:
            seen_on_cancel.append(store.read_events(run_id))
            raise

    async def main() -> None:
        task = asyncio.create_task(sender())
        await asyncio.sleep(0)  # the sender has sent its event and waits for it to be stored
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert [[(e.seq, e.node) for e in events] for events in seen_on_cancel] == [[(1, "n0")]]
    assert observed == store.read_events(run_id)
