"""Hands the events the server's engine stores to the event streams of their run.

A stream reads the store from its own cursor; this only wakes it when its run has new
events, and keeps the last :data:`RECENT_EVENTS` events of each run some stream follows, so a
stream that has caught up takes the new ones from memory instead of reading back what was
just stored. Nothing is queued per client: a stream that falls further behind than the
events kept reads the store again, page by page. A stream takes :meth:`EventNotifier.waiter`
before it reads, so an event stored between its read and its wait still wakes it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice

from mentatlab.model.run import RunEvent

__all__ = ["RECENT_EVENTS", "EventNotifier"]

RECENT_EVENTS = 1000
"""Events kept in memory per followed run."""


class EventNotifier:
    def __init__(self, *, keep: int = RECENT_EVENTS) -> None:
        # Weak: a run nobody follows any more leaves nothing behind.
        self._signals: weakref.WeakValueDictionary[str, asyncio.Event] = (
            weakref.WeakValueDictionary()
        )
        self._keep = keep
        self._followers: Counter[str] = Counter()
        self._recent: dict[str, deque[RunEvent]] = {}

    @contextmanager
    def following(self, run_id: str) -> Iterator[None]:
        """While in the block, the events stored for ``run_id`` are kept for :meth:`recent`."""
        if not self._followers[run_id]:
            self._recent[run_id] = deque(maxlen=self._keep)
        self._followers[run_id] += 1
        try:
            yield
        finally:
            self._followers[run_id] -= 1
            if not self._followers[run_id]:
                del self._followers[run_id], self._recent[run_id]

    def waiter(self, run_id: str) -> asyncio.Event:
        """An event set at the next :meth:`publish` of an event of ``run_id``."""
        signal = self._signals.get(run_id)
        if signal is None:
            signal = self._signals[run_id] = asyncio.Event()
        return signal

    def publish(self, event: RunEvent) -> None:
        """``event`` was stored: keep it if its run is followed, and wake the run's streams.

        Events must come in the order of their ``seq``; after a gap (an event stored but not
        published) the kept ones are dropped, and streams read the store until the kept
        events cover their cursor again.
        """
        recent = self._recent.get(event.run_id)
        if recent is not None:
            if recent and recent[-1].seq + 1 != event.seq:
                recent.clear()
            recent.append(event)
        signal = self._signals.pop(event.run_id, None)
        if signal is not None:
            signal.set()

    def recent(self, run_id: str, *, after_seq: int, limit: int) -> list[RunEvent] | None:
        """The first ``limit`` kept events of ``run_id`` after ``after_seq``, or ``None`` when
        the kept events do not say what comes after it (the store does)."""
        recent = self._recent.get(run_id)
        if not recent or not recent[0].seq <= after_seq + 1 <= recent[-1].seq + 1:
            return None
        start = after_seq + 1 - recent[0].seq
        return list(islice(recent, start, start + limit))
