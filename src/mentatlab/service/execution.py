"""Running a prepared flow on the local engine while recording everything in a run store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from mentatlab.engine.drivers.base import Driver
from mentatlab.engine.events import EngineEvent
from mentatlab.engine.plan import FlowPlan
from mentatlab.engine.scheduler import FlowEngine
from mentatlab.model.run import (
    TERMINAL_RUN_STATUSES,
    EventType,
    NodeError,
    RunEvent,
    RunRecord,
    RunStatus,
)
from mentatlab.store.base import NewEvent, RunStore

__all__ = ["CANCEL_POLL_SECONDS", "StoreSink", "execute_run"]

CANCEL_POLL_SECONDS = 0.25
"""How often a running engine checks the store for a cancel request from another process."""

EventObserver = Callable[[RunEvent], None]


class StoreSink:
    """Appends engine events to the run's log and hands each stored event to an observer."""

    def __init__(self, store: RunStore, run_id: str, observer: EventObserver | None) -> None:
        self._store = store
        self._run_id = run_id
        self._observer = observer

    async def __call__(self, event: EngineEvent) -> None:
        stored = self._store.append_events(
            self._run_id,
            [NewEvent(type=event.type, node=event.node, attempt=event.attempt, data=event.data)],
        )
        if self._observer is not None:
            for entry in stored:
                self._observer(entry)


async def execute_run(
    store: RunStore,
    plan: FlowPlan,
    *,
    document: Mapping[str, Any],
    inputs: Mapping[str, Any],
    driver: Driver,
    max_parallel: int | None = None,
    cancel: asyncio.Event | None = None,
    observer: EventObserver | None = None,
    on_created: Callable[[str], None] | None = None,
) -> RunRecord:
    """Create a run for ``plan``, execute it to a final status, and return its record.

    The run is never left ``running``: if the engine itself fails, the run is failed with
    reason ``internal`` and the exception re-raised for the caller to report.
    """
    record = store.create_run(
        flow=document,
        inputs=inputs,
        node_ids=list(plan.nodes),
        flow_id=plan.flow.meta.id,
        flow_name=plan.flow.meta.name,
    )
    if on_created is not None:
        on_created(record.id)
    cancel = cancel or asyncio.Event()
    sink = StoreSink(store, record.id, observer)
    watcher = asyncio.create_task(_watch_cancel_requests(store, record.id, cancel))
    try:
        await FlowEngine(driver, max_parallel=max_parallel).execute(
            plan, run_id=record.id, inputs=inputs, sink=sink, cancel=cancel
        )
    except BaseException as exc:
        _fail_unfinished(store, record.id, exc)
        raise
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    return store.get_run(record.id)


async def _watch_cancel_requests(store: RunStore, run_id: str, cancel: asyncio.Event) -> None:
    while not cancel.is_set():
        await asyncio.sleep(CANCEL_POLL_SECONDS)
        if store.cancel_requested(run_id):
            cancel.set()


def _fail_unfinished(store: RunStore, run_id: str, exc: BaseException) -> None:
    if store.get_run(run_id).status in TERMINAL_RUN_STATUSES:
        return
    error = NodeError(reason="internal", message=f"the engine stopped: {type(exc).__name__}: {exc}")
    store.append_events(
        run_id,
        [
            NewEvent(
                type=EventType.RUN_STATUS,
                data={
                    "status": RunStatus.FAILED.value,
                    "error": error.model_dump(exclude_none=True),
                },
            )
        ],
    )
