"""Running a prepared flow on the local engine while recording everything in a run store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mentatlab.engine.attempts import AgentLimits
from mentatlab.engine.drivers.base import Driver
from mentatlab.engine.events import EngineEvent
from mentatlab.engine.identity import IdentityIssuer, LiveAttempts
from mentatlab.engine.plan import FlowPlan
from mentatlab.engine.scheduler import FlowEngine, PriorNode
from mentatlab.engine.secrets import (
    EnvironmentSecrets,
    MissingSecretsError,
    RunSecrets,
    SecretPolicy,
    SecretSource,
    resolve_secrets,
)
from mentatlab.model.run import (
    TERMINAL_RUN_STATUSES,
    EventType,
    Executor,
    NodeError,
    NodeStatus,
    RunEvent,
    RunRecord,
    RunStatus,
)
from mentatlab.store.base import NewEvent, RunStore
from mentatlab.store.errors import InvalidEventError, RunFinishedError, StoreError
from mentatlab.store.owner import RunOwner

__all__ = [
    "CANCEL_POLL_SECONDS",
    "AgentAccess",
    "StoreSink",
    "execute_run",
    "queue_run",
    "resume_run",
]

CANCEL_POLL_SECONDS = 1.0
"""How often a running engine checks the store for a cancel request from another process
(``mentatctl runs cancel``). A cancel in this process (the server's) sets the run's cancel
event directly and takes effect at once."""

EventObserver = Callable[[RunEvent], None]


@dataclass(frozen=True, kw_only=True)
class AgentAccess:
    """What a run's agents may get beyond their inputs: secrets and an identity."""

    secret_source: SecretSource = field(default_factory=EnvironmentSecrets)
    """Where ``runConfig.secrets`` are resolved: ``$MENTATLAB_SECRET_<NAME>`` by default."""
    secret_policy: SecretPolicy | None = None
    """Which agent may receive which secret (all declaring the capability, by default)."""
    identities: IdentityIssuer | None = None
    live: LiveAttempts | None = None

    def run_secrets(self, plan: FlowPlan) -> RunSecrets:
        """The run's secrets; raises :class:`MissingSecretsError` if any is not set."""
        names = plan.flow.run_config.secrets
        values = resolve_secrets(names, self.secret_source) if names else {}
        return RunSecrets(values, self.secret_policy)

    def engine(
        self, driver: Driver, *, max_parallel: int | None, agent_limits: AgentLimits | None
    ) -> FlowEngine:
        return FlowEngine(
            driver,
            max_parallel=max_parallel,
            agent_limits=agent_limits,
            identities=self.identities,
            live=self.live,
        )


class StoreSink:
    """Appends engine events to the run's log and hands each stored event to an observer.

    Events sent in the same turn of the event loop (e.g. by many agents at once) are stored
    together, in the order they were sent, by one ``append_events`` call: one transaction
    instead of one each. A caller's ``await`` returns once its event is stored and observed, so
    the engine never goes on past an event that is not in the log yet; the store's error, if
    storing fails, is raised to every caller of the batch. When the store refuses one event of
    a batch (:class:`InvalidEventError`, :class:`RunFinishedError`), the batch's events are
    stored one by one instead, so that only the caller of that event gets the error.
    """

    def __init__(self, store: RunStore, run_id: str, observer: EventObserver | None) -> None:
        self._store = store
        self._run_id = run_id
        self._observer = observer
        self._pending: list[tuple[NewEvent, asyncio.Future[None]]] = []

    async def __call__(self, event: EngineEvent) -> None:
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[None] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        new = NewEvent(type=event.type, node=event.node, attempt=event.attempt, data=event.data)
        self._pending.append((new, stored))
        try:
            await stored
        except asyncio.CancelledError:
            # The event is stored all the same: the flush was scheduled before the caller's
            # wake-up (callbacks run in the order they were scheduled).
            if stored.done() and not stored.cancelled():
                stored.exception()  # retrieved: the cancellation wins over a store error
            raise

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            self._store_batch(batch)
        finally:
            # Left unresolved only by a BaseException (e.g. KeyboardInterrupt) going through.
            for _, stored in batch:
                if not stored.done():
                    stored.cancel()

    def _store_batch(self, batch: list[tuple[NewEvent, asyncio.Future[None]]]) -> None:
        try:
            results = self._append([new for new, _ in batch])
        except Exception as exc:
            for _, stored in batch:
                if not stored.done():
                    stored.set_exception(exc)
            return
        for (_, stored), result in zip(batch, results, strict=True):
            if isinstance(result, StoreError):
                if not stored.done():
                    stored.set_exception(result)
                continue
            try:
                if self._observer is not None:
                    self._observer(result)
            except Exception as exc:
                if not stored.done():
                    stored.set_exception(exc)
                continue
            if not stored.done():
                stored.set_result(None)

    def _append(self, batch: list[NewEvent]) -> list[RunEvent | StoreError]:
        """The stored event of each of ``batch``, or the error that refused it."""
        try:
            return list(self._store.append_events(self._run_id, batch))
        except (InvalidEventError, RunFinishedError):
            if len(batch) == 1:
                raise
        # The whole batch was rolled back; the one event's error is for its caller only.
        results: list[RunEvent | StoreError] = []
        for new in batch:
            try:
                results.extend(self._store.append_events(self._run_id, [new]))
            except (InvalidEventError, RunFinishedError) as exc:
                results.append(exc)
        return results


async def execute_run(
    store: RunStore,
    plan: FlowPlan,
    *,
    document: Mapping[str, Any],
    inputs: Mapping[str, Any],
    driver: Driver,
    owner: RunOwner | None = None,
    max_parallel: int | None = None,
    cancel: asyncio.Event | None = None,
    observer: EventObserver | None = None,
    on_created: Callable[[str], None] | None = None,
    agent_limits: AgentLimits | None = None,
    access: AgentAccess | None = None,
) -> RunRecord:
    """Create a run for ``plan``, execute it to a final status, and return its record.

    ``owner`` defaults to this process. The run is never left ``running`` because of a
    failure of the engine itself: the run is failed with reason ``internal`` and the
    exception re-raised for the caller to report. ``agent_limits`` shares agents'
    ``maxConcurrent`` bounds with the caller's other runs; ``access`` says where the run's
    secrets come from and who may receive them.
    """
    record = queue_run(store, plan, document=document, inputs=inputs, owner=owner)
    if on_created is not None:
        on_created(record.id)
    access = access or AgentAccess()
    engine = access.engine(driver, max_parallel=max_parallel, agent_limits=agent_limits)
    return await _drive(
        store,
        engine=engine,
        plan=plan,
        record=record,
        cancel=cancel,
        observer=observer,
        prior=None,
        access=access,
    )


def queue_run(
    store: RunStore,
    plan: FlowPlan,
    *,
    document: Mapping[str, Any],
    inputs: Mapping[str, Any],
    owner: RunOwner | None = None,
    executor: Executor = Executor.LOCAL,
) -> RunRecord:
    """Record a ``queued`` run of ``plan``; :func:`resume_run` executes it later.

    Lets a server answer with the run's id at once while the run waits for a worker.
    """
    return store.create_run(
        flow=document,
        inputs=inputs,
        node_ids=list(plan.nodes),
        flow_id=plan.flow.meta.id,
        flow_name=plan.flow.meta.name,
        owner=owner,
        executor=executor,
    )


async def resume_run(
    store: RunStore,
    plan: FlowPlan,
    run_id: str,
    *,
    driver: Driver,
    max_parallel: int | None = None,
    cancel: asyncio.Event | None = None,
    observer: EventObserver | None = None,
    agent_limits: AgentLimits | None = None,
    access: AgentAccess | None = None,
) -> RunRecord:
    """Continue a run whose engine stopped before it finished (e.g. an operator restart).

    Finished nodes keep their results; running agent nodes continue at the attempt they had
    reached, resumed from their last checkpoint. A ``queued`` run (see :func:`queue_run`)
    starts from the beginning. A finished run is returned as it is.
    """
    record = store.get_run(run_id)
    if record.status in TERMINAL_RUN_STATUSES:
        return record
    prior = None
    if record.status is not RunStatus.QUEUED:
        prior = {
            node_id: PriorNode(
                status=node.status,
                attempts=node.attempts,
                outputs=node.outputs,
                error=node.error,
                checkpoint=store.last_checkpoint(run_id, node_id) if node.attempts else None,
            )
            for node_id, node in record.nodes.items()
            if node.status is not NodeStatus.PENDING or node.attempts
        }
    access = access or AgentAccess()
    engine = access.engine(driver, max_parallel=max_parallel, agent_limits=agent_limits)
    return await _drive(
        store,
        engine=engine,
        plan=plan,
        record=record,
        cancel=cancel,
        observer=observer,
        prior=prior,
        access=access,
    )


async def _drive(
    store: RunStore,
    *,
    engine: FlowEngine,
    plan: FlowPlan,
    record: RunRecord,
    cancel: asyncio.Event | None,
    observer: EventObserver | None,
    prior: Mapping[str, PriorNode] | None,
    access: AgentAccess,
) -> RunRecord:
    try:
        # Resolved on every start (a resumed run too): values are never stored.
        secrets = access.run_secrets(plan)
    except MissingSecretsError as exc:
        # Before any node starts: no agent runs without the secrets the flow says it needs.
        _fail_run(store, record.id, NodeError(reason="secret_missing", message=str(exc)))
        return store.get_run(record.id)
    cancel = cancel or asyncio.Event()
    sink = StoreSink(store, record.id, observer)
    watcher = asyncio.create_task(_watch_cancel_requests(store, record.id, cancel))
    try:
        await engine.execute(
            plan,
            run_id=record.id,
            inputs=record.inputs,
            sink=sink,
            cancel=cancel,
            prior=prior,
            secrets=secrets,
        )
    except Exception as exc:
        # Not BaseException: a cancelled task (an operator shutting down) leaves the run to be
        # resumed, and a local process that dies is recovered from by the store.
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
    error = NodeError(reason="internal", message=f"the engine stopped: {type(exc).__name__}: {exc}")
    _fail_run(store, run_id, error)


def _fail_run(store: RunStore, run_id: str, error: NodeError) -> None:
    if store.get_run(run_id).status in TERMINAL_RUN_STATUSES:
        return
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
