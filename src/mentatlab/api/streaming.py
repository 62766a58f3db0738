"""A run's event log as Server-Sent Events.

Each stream sends a run's events from its own cursor, one page at a time, and sends the page
before taking more: a slow client holds at most a page and its socket buffer, it never
delays the engine or any other client. Pages come from the store, or, once the stream has
caught up with a run of this server, from the events the :class:`EventNotifier` keeps in
memory. Between pages a stream sleeps until the notifier says its run has new events, or at
most :data:`POLL_SECONDS` (runs executed by another process, e.g. ``mentatctl run`` on the
same store, are seen by polling).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool

from mentatlab.api.metrics import ServerMetrics
from mentatlab.api.notifier import EventNotifier
from mentatlab.api.pool import RunPool
from mentatlab.model.run import TERMINAL_RUN_STATUSES, EventType, RunEvent
from mentatlab.store import SqlRunStore

__all__ = ["PAGE_SIZE", "POLL_SECONDS", "event_stream", "format_event"]

PAGE_SIZE = 200
POLL_SECONDS = 1.0


def format_event(event: RunEvent) -> str:
    data = json.dumps(event.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.seq}\nevent: {event.type.value}\ndata: {data}\n\n"


def _is_final(event: RunEvent) -> bool:
    return event.type is EventType.RUN_STATUS and event.data.get("status") in TERMINAL_RUN_STATUSES


async def event_stream(
    store: SqlRunStore,
    notifier: EventNotifier,
    metrics: ServerMetrics,
    pool: RunPool,
    run_id: str,
    *,
    after_seq: int,
    heartbeat_seconds: float,
    follow: bool = True,
) -> AsyncIterator[str]:
    """Events of ``run_id`` after ``after_seq``, then live ones, until the run has finished
    and every event stored by then was sent; ``: ping`` after ``heartbeat_seconds`` idle.
    Without ``follow``, only the events stored when the stream reaches the end of them.

    While the server shuts down, a stream of a run executed elsewhere ends once it has
    caught up (its client resumes from its last id on another server); streams of the
    server's own runs go on to the final events of their cancellation.
    """
    with notifier.following(run_id):
        cursor = after_seq
        last_sent = time.monotonic()
        over = False  # the run had finished before the last page was read
        while True:
            wake = notifier.waiter(run_id)
            page = notifier.recent(run_id, after_seq=cursor, limit=PAGE_SIZE)
            if page is None:
                page = await run_in_threadpool(
                    store.read_events, run_id, after_seq=cursor, limit=PAGE_SIZE
                )
            finished = False
            for event in page:
                metrics.event_lag.observe(max(0.0, (datetime.now(UTC) - event.ts).total_seconds()))
                yield format_event(event)
                cursor = event.seq
                finished = finished or _is_final(event)
            if page:
                last_sent = time.monotonic()
            if len(page) == PAGE_SIZE:
                continue
            if finished or over or not follow:
                return
            if not page and await _has_finished(store, run_id):
                # Its final events may have been stored between the read and this check: one
                # more read sees everything up to the end.
                over = True
                continue
            if pool.closing and not pool.owns(run_id):
                return
            idle = time.monotonic() - last_sent
            if idle >= heartbeat_seconds:
                yield ": ping\n\n"
                last_sent, idle = time.monotonic(), 0.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    wake.wait(), timeout=min(POLL_SECONDS, heartbeat_seconds - idle)
                )


async def _has_finished(store: SqlRunStore, run_id: str) -> bool:
    record = await run_in_threadpool(store.get_run, run_id)
    return record.status in TERMINAL_RUN_STATUSES
