"""The server's worker pool: runs execute on the local engine, at most ``workers`` at once
(their agents as local processes, or as pods through the Kubernetes executor).

A submitted run is recorded ``queued`` at once (the client gets its id), then waits for a
worker; it executes through :func:`~mentatlab.service.execution.resume_run`, the path that
also records every event of ``mentatctl run``. Shutting down cancels every run the pool
holds, so none is left ``running`` (a ``kill -9`` is covered by the store's crash recovery:
the next process to open the store fails the dead server's runs as ``interrupted``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from starlette.concurrency import run_in_threadpool

from mentatlab.api.kubernetes import KubernetesExecutor
from mentatlab.api.metrics import ServerMetrics
from mentatlab.api.notifier import EventNotifier
from mentatlab.engine.attempts import AgentLimits
from mentatlab.engine.drivers.base import Driver
from mentatlab.engine.drivers.local import LocalProcessDriver
from mentatlab.engine.identity import LiveAttempts
from mentatlab.engine.plan import FlowPlan
from mentatlab.model.kubernetes import KubernetesRunOptions
from mentatlab.model.run import Executor, RunEvent, RunRecord
from mentatlab.service.execution import AgentAccess, queue_run, resume_run
from mentatlab.service.preparation import PreparedRun
from mentatlab.store import SqlRunStore

__all__ = ["NoKubernetesError", "PoolClosedError", "RunPool"]

logger = logging.getLogger(__name__)


class PoolClosedError(Exception):
    """The server is shutting down and takes no new runs."""


class NoKubernetesError(Exception):
    """A run asks for Kubernetes, and this server has no Kubernetes executor."""


class RunPool:
    def __init__(
        self,
        store: SqlRunStore,
        *,
        workers: int,
        notifier: EventNotifier,
        metrics: ServerMetrics,
        access: AgentAccess | None = None,
        kubernetes: KubernetesExecutor | None = None,
    ) -> None:
        """``access`` gives runs their secrets and attempts their tokens; its ``live``
        attempts are where agents' HTTP reports go. ``kubernetes`` runs the runs that ask
        for it as pods."""
        self._store = store
        self.kubernetes = kubernetes
        self._access = access or AgentAccess()
        self._workers = asyncio.Semaphore(workers)
        self._notifier = notifier
        self._metrics = metrics
        # One agent's maxConcurrent holds across all the runs of this server.
        self._agent_limits = AgentLimits()
        # One for all runs: its agents' processes are counted together (see census.py).
        self._local_driver = LocalProcessDriver()
        self._cancels: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def live(self) -> LiveAttempts | None:
        """The attempts of this pool's runs that accept events over HTTP now."""
        return self._access.live

    @property
    def closing(self) -> bool:
        return self._closing

    async def submit(
        self, prepared: PreparedRun, *, kubernetes: KubernetesRunOptions | None = None
    ) -> RunRecord:
        """Record a ``queued`` run and start it as soon as a worker is free; on Kubernetes
        with ``kubernetes`` options (the caller has checked them with the executor)."""
        if self._closing:
            raise PoolClosedError
        if kubernetes is not None and self.kubernetes is None:
            raise NoKubernetesError
        record = await run_in_threadpool(
            queue_run,
            self._store,
            prepared.plan,
            document=prepared.document,
            inputs=prepared.inputs,
            executor=Executor.LOCAL if kubernetes is None else Executor.KUBERNETES,
        )
        cancel = asyncio.Event()
        if self._closing:  # shutdown began while the run was being recorded
            cancel.set()
        self._cancels[record.id] = cancel
        task = asyncio.create_task(self._work(record.id, prepared.plan, cancel, kubernetes))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return record

    def owns(self, run_id: str) -> bool:
        """Whether this pool executes (or queues) the run."""
        return run_id in self._cancels

    def cancel(self, run_id: str) -> None:
        """Cancel a run of this pool now (others notice the store's flag by polling)."""
        cancel = self._cancels.get(run_id)
        if cancel is not None:
            cancel.set()

    def begin_shutdown(self) -> None:
        """Take no new runs and cancel every run held; safe to call more than once."""
        self._closing = True
        for cancel in self._cancels.values():
            cancel.set()

    async def shutdown(self) -> None:
        """:meth:`begin_shutdown`, then wait until every run held reached a final status."""
        self.begin_shutdown()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _work(
        self,
        run_id: str,
        plan: FlowPlan,
        cancel: asyncio.Event,
        kubernetes: KubernetesRunOptions | None,
    ) -> None:
        metrics = self._metrics.run_observer()

        def observe(event: RunEvent) -> None:
            metrics(event)
            self._notifier.publish(event)

        try:
            async with self._worker(cancel), self._driver(run_id, plan, kubernetes) as driver:
                await resume_run(
                    self._store,
                    plan,
                    run_id,
                    driver=driver,
                    max_parallel=kubernetes.max_parallel if kubernetes else None,
                    cancel=cancel,
                    observer=observe,
                    agent_limits=self._agent_limits,
                    access=self._access,
                )
        except Exception:
            # resume_run has already failed the run (reason internal); keep the server up.
            logger.exception("run %s stopped on an internal error", run_id)
        finally:
            del self._cancels[run_id]

    def _driver(
        self, run_id: str, plan: FlowPlan, kubernetes: KubernetesRunOptions | None
    ) -> AbstractAsyncContextManager[Driver]:
        if kubernetes is None or self.kubernetes is None:
            return contextlib.nullcontext(self._local_driver)
        return self.kubernetes.driver(run_id, plan, kubernetes)

    @contextlib.asynccontextmanager
    async def _worker(self, cancel: asyncio.Event) -> AsyncIterator[None]:
        """Hold a worker while the run executes; a run cancelled while queued needs none
        (its engine starts nothing, it only records the cancellation)."""
        self._metrics.runs_queued.inc()
        acquire = asyncio.ensure_future(self._workers.acquire())
        cancelled = asyncio.ensure_future(cancel.wait())
        try:
            await asyncio.wait({acquire, cancelled}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._metrics.runs_queued.dec()
            cancelled.cancel()
            if not acquire.done():
                acquire.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await acquire
        held = not acquire.cancelled()
        self._metrics.runs_running.inc()
        try:
            yield
        finally:
            self._metrics.runs_running.dec()
            if held:
                self._workers.release()
