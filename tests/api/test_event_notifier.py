"""EventNotifier: what a caught-up event stream takes from memory, and when it must read the
store instead."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from mentatlab.api.notifier import EventNotifier
from mentatlab.model.run import EventType, RunEvent


def _event(seq: int, run_id: str = "run-1") -> RunEvent:
    return RunEvent(
        run_id=run_id,
        seq=seq,
        ts=datetime.now(UTC),
        type=EventType.LOG,
        node="a",
        attempt=1,
        data={"level": "info", "message": f"line {seq}"},
    )


def _seqs(events: list[RunEvent] | None) -> list[int] | None:
    return None if events is None else [e.seq for e in events]


def test_a_followed_run_keeps_its_events_and_says_what_it_cannot_know() -> None:
    notifier = EventNotifier()
    with notifier.following("run-1"):
        assert notifier.recent("run-1", after_seq=0, limit=10) is None  # nothing kept yet
        for seq in range(4, 9):
            notifier.publish(_event(seq))
        assert _seqs(notifier.recent("run-1", after_seq=5, limit=10)) == [6, 7, 8]
        assert _seqs(notifier.recent("run-1", after_seq=3, limit=2)) == [4, 5]
        assert _seqs(notifier.recent("run-1", after_seq=8, limit=10)) == []  # caught up
        # Before the first event kept: only the store knows events 1 to 3.
        assert notifier.recent("run-1", after_seq=2, limit=10) is None
        assert notifier.recent("run-2", after_seq=0, limit=10) is None
    assert notifier.recent("run-1", after_seq=5, limit=10) is None  # dropped with its follower


def test_only_the_last_events_are_kept_and_a_gap_drops_them() -> None:
    notifier = EventNotifier(keep=3)
    with notifier.following("run-1"), notifier.following("run-1"):
        for seq in range(1, 6):
            notifier.publish(_event(seq))
        assert notifier.recent("run-1", after_seq=1, limit=10) is None  # 2 fell out
        assert _seqs(notifier.recent("run-1", after_seq=2, limit=10)) == [3, 4, 5]
        notifier.publish(_event(7))  # 6 was stored but never published
        assert notifier.recent("run-1", after_seq=5, limit=10) is None
        assert _seqs(notifier.recent("run-1", after_seq=6, limit=10)) == [7]


def test_events_of_a_run_nobody_follows_are_not_kept() -> None:
    notifier = EventNotifier()
    notifier.publish(_event(1))
    with notifier.following("run-1"):
        assert notifier.recent("run-1", after_seq=0, limit=10) is None


def test_publishing_wakes_the_streams_of_that_run_only() -> None:
    async def main() -> tuple[bool, bool]:
        notifier = EventNotifier()
        mine, other = notifier.waiter("run-1"), notifier.waiter("run-2")
        notifier.publish(_event(1))
        await asyncio.sleep(0)
        return mine.is_set(), other.is_set()

    assert asyncio.run(main()) == (True, False)
