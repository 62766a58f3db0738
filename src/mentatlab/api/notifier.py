"""Wakes the event streams of a run when the server's engine stores new events for it.

There is no queue per client: a stream reads the store from its own cursor and only needs to
know *that* something new exists. A stream takes :meth:`EventNotifier.waiter` before it reads,
so an event stored between its read and its wait still wakes it.
"""

from __future__ import annotations

import asyncio
import weakref

__all__ = ["EventNotifier"]


class EventNotifier:
    def __init__(self) -> None:
        # Weak: a run nobody follows any more leaves nothing behind.
        self._signals: weakref.WeakValueDictionary[str, asyncio.Event] = (
            weakref.WeakValueDictionary()
        )

    def waiter(self, run_id: str) -> asyncio.Event:
        """An event set at the next :meth:`notify` of ``run_id``."""
        signal = self._signals.get(run_id)
        if signal is None:
            signal = self._signals[run_id] = asyncio.Event()
        return signal

    def notify(self, run_id: str) -> None:
        signal = self._signals.pop(run_id, None)
        if signal is not None:
            signal.set()
