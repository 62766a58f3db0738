"""Following one attempt's pod to its end: status, log, limits, cancellation, clean-up.

The pod's status comes from :func:`~.watch.follow_pod`, its output from a
:class:`~.logs.LogSource` parsed by :mod:`mentatlab.engine.agent_io` (the local driver's
parser), and the outcome from :class:`~mentatlab.engine.drivers.attempt.AttemptRecorder`
(the local driver's rules).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import httpx2
from lightkube import ApiError, AsyncClient
from lightkube.resources.core_v1 import Pod, Secret

from mentatlab.engine.agent_io import LineSplitter, LineTooLongError, decode_line
from mentatlab.engine.drivers.attempt import (
    STDERR_TAIL_LINES,
    AttemptRecorder,
    Stop,
    relay_events,
)
from mentatlab.engine.drivers.base import (
    AttemptResult,
    AttemptSpec,
    EventCallback,
    FailureReason,
)
from mentatlab.engine.drivers.kubernetes.logs import LogSource, LogStreamError
from mentatlab.engine.drivers.kubernetes.pods import AGENT_CONTAINER, PodGcPolicy
from mentatlab.engine.drivers.kubernetes.status import PodView, Stage, view_pod
from mentatlab.engine.drivers.kubernetes.timeouts import Timeouts
from mentatlab.engine.drivers.kubernetes.watch import PodApiError, follow_pod
from mentatlab.model.protocol import AgentEvent, LogEvent

__all__ = ["PodAttempt"]

_BACKSTOP_SLACK_SECONDS = 10.0
"""Past timeout + grace, when the driver stops a pod the kubelet's deadline did not stop."""
_LOG_RETRY_DELAY = 1.0


@dataclass(frozen=True)
class _Ending:
    stop: Stop | None
    """Why the attempt ended early; ``None`` when the pod ended by itself."""
    delete_grace: float | None = None
    """Delete the pod with this grace period (seconds) to stop the agent."""


class PodAttempt:
    """One attempt's pod, from creation to result."""

    def __init__(
        self,
        client: AsyncClient,
        spec: AttemptSpec,
        *,
        namespace: str,
        name: str,
        gc: PodGcPolicy,
        timeouts: Timeouts,
        log_source: LogSource,
        on_event: EventCallback,
        cancel: asyncio.Event,
    ) -> None:
        self._client = client
        self._spec = spec
        self._limits = spec.limits
        self._namespace = namespace
        self._name = name
        self._gc = gc
        self._t = timeouts
        self._logs = log_source
        self._on_event = on_event
        self._cancel = cancel
        self._recorder = AttemptRecorder(spec)
        self._loop = asyncio.get_running_loop()
        self._created = self._loop.time()
        self._running_since: float | None = None
        self._last_line = self._created
        self._stall_since: dict[FailureReason, float] = {}
        self._view: PodView | None = None
        self._gone = False
        self._changed = asyncio.Event()
        self._flood: asyncio.Future[str] = self._loop.create_future()
        self._deleted_by_us = False
        self._log_task: asyncio.Task[None] | None = None
        self._plain_lines = False
        self._stop_following = asyncio.Event()

    async def run(self) -> AttemptResult:
        follower = asyncio.create_task(
            follow_pod(
                self._client,
                namespace=self._namespace,
                name=self._name,
                on_pod=self._on_pod,
                stop=self._stop_following,
                request_seconds=self._t.request_seconds,
                watch_seconds=self._t.watch_seconds,
                outage_seconds=self._t.api_outage_seconds,
            )
        )
        try:
            ending = await self._supervise(follower)
            if ending.delete_grace is not None:
                await self._delete_pod(ending.delete_grace)
                await self._await_gone(ending.delete_grace)
            await self._drain()
        finally:
            # Also on CancelledError: the pod is left running for the next operator to adopt.
            self._stop_following.set()
            tasks = [t for t in (follower, self._log_task) if t is not None]
            for task in tasks:
                # Not twice: a second cancel would interrupt the clean-up (closing its
                # API-server connection) of a task someone else (kopf's shutdown) cancelled.
                # A cancellation pending in a task may also be one of its own timeouts, which
                # ends only a round: the stop event ends the follower and the log reader then.
                if not task.cancelling():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        result = self._result(ending.stop)
        await self._collect_garbage(pod=ending.delete_grace is None)
        return result

    async def delete_secret(self) -> None:
        await self._delete(Secret, grace=None)

    # --- following ------------------------------------------------------------------

    def _on_pod(self, pod: Pod | None) -> None:
        if pod is None:
            self._gone = True
        else:
            view = self._view = view_pod(pod)
            if view.started and self._running_since is None:
                self._running_since = self._last_line = self._loop.time()
        self._changed.set()

    async def _supervise(self, follower: asyncio.Task[None]) -> _Ending:
        """Wait until the pod has ended by itself or must be stopped; say which."""
        limits = self._limits
        cancelled = asyncio.create_task(self._cancel.wait())
        try:
            while True:
                self._changed.clear()
                if follower.done():
                    return self._follower_ended(follower)
                if self._log_task is not None and self._log_task.done():
                    self._log_task.result()  # re-raise a failure of on_event
                view = self._view
                if self._gone:
                    return _Ending(self._removed(view))
                if view is not None and view.started and self._log_task is None:
                    self._log_task = asyncio.create_task(self._read_log())
                if view is not None and view.stage is Stage.ENDED:
                    if view.deleting and not self._deleted_by_us:
                        return _Ending(self._removed(view))
                    return _Ending(view.cause)
                if self._cancel.is_set():
                    return _Ending(
                        Stop(FailureReason.CANCELLED, "cancelled"), limits.kill_grace_seconds
                    )
                if self._flood.done():
                    return _Ending(Stop(FailureReason.OUTPUT_LIMIT, self._flood.result()), 0)
                now = self._loop.time()
                wake: list[float] = []
                if self._running_since is None:
                    stop = self._start_problem(view, now, wake)
                    if stop is not None:
                        return _Ending(stop, 0)
                else:
                    stop = self._limit_problem(now, wake)
                    if stop is not None:
                        return _Ending(stop, limits.kill_grace_seconds)
                changed = asyncio.ensure_future(self._changed.wait())
                waiting: set[asyncio.Future[Any]] = {changed, cancelled, follower, self._flood}
                if self._log_task is not None and not self._log_task.done():
                    waiting.add(self._log_task)  # a finished one would wake this loop forever
                try:
                    await asyncio.wait(
                        waiting,
                        timeout=min(wake, default=None),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    changed.cancel()
        finally:
            cancelled.cancel()
            await asyncio.gather(cancelled, return_exceptions=True)

    def _follower_ended(self, follower: asyncio.Task[None]) -> _Ending:
        error = follower.exception()
        if isinstance(error, PodApiError):
            return _Ending(Stop(FailureReason.API_ERROR, str(error)), 0)
        if error is not None:
            raise error
        return _Ending(self._removed(self._view))  # it returns only once the pod is gone

    def _removed(self, view: PodView | None) -> Stop:
        """Why the pod went away (or is going away) without MentatLab asking for it."""
        if view is not None and view.disruption:
            return Stop(FailureReason.EVICTED, f"the pod was evicted ({view.disruption})")
        return Stop(
            FailureReason.POD_DELETED,
            f"pod {self._namespace}/{self._name} was deleted before the agent finished",
        )

    def _start_problem(self, view: PodView | None, now: float, wake: list[float]) -> Stop | None:
        """Before the container starts: a stall past its grace period, or no start at all."""
        t = self._t
        stall = view.stall if view is not None else None
        if stall is None:
            self._stall_since.clear()
        else:
            for reason in list(self._stall_since):
                if reason is not stall.reason:
                    del self._stall_since[reason]
            since = self._stall_since.setdefault(stall.reason, now)
            grace = {
                FailureReason.IMAGE_PULL: t.image_pull_seconds,
                FailureReason.UNSCHEDULABLE: t.unschedulable_seconds,
            }.get(stall.reason, t.config_error_seconds)
            left = 0.0 if stall.immediate else since + grace - now
            if left <= 0:
                return Stop(stall.reason, stall.message)
            wake.append(left)
        left = self._created + t.start_seconds - now
        if left <= 0:
            return Stop(
                FailureReason.START_FAILED,
                f"pod {self._name} did not start within {t.start_seconds:g} s",
            )
        wake.append(left)
        return None

    def _limit_problem(self, now: float, wake: list[float]) -> Stop | None:
        """While the container runs: the wall-clock backstop and the heartbeat timeout."""
        limits = self._limits
        assert self._running_since is not None  # noqa: S101 - the caller checked
        if limits.timeout_seconds is not None:
            # The kubelet enforces activeDeadlineSeconds; this only catches a pod it did not stop.
            backstop = limits.timeout_seconds + limits.kill_grace_seconds + _BACKSTOP_SLACK_SECONDS
            left = self._running_since + backstop - now
            if left <= 0:
                return Stop(FailureReason.TIMEOUT, f"timed out after {limits.timeout_seconds:g} s")
            wake.append(left)
        if limits.heartbeat_timeout_seconds is not None:
            left = self._last_line + limits.heartbeat_timeout_seconds - now
            if left <= 0:
                return Stop(
                    FailureReason.HEARTBEAT_TIMEOUT,
                    f"no log line for {limits.heartbeat_timeout_seconds:g} s (heartbeat timeout)",
                )
            wake.append(left)
        return None

    # --- the log ----------------------------------------------------------------------

    async def _read_log(self) -> None:
        """Read the container's log to its end, line by line, within the output limits."""
        limits = self._limits
        splitter = LineSplitter(limits.max_line_bytes)
        total = 0
        deadline = self._loop.time() + self._t.log_retry_seconds
        while True:
            # aclosing: the followed log's connection closes when reading stops (a limit, a
            # cancellation), not whenever the garbage collector finalizes the generator.
            stream = self._logs.stream(
                namespace=self._namespace, pod=self._name, container=AGENT_CONTAINER
            )
            try:
                async with contextlib.aclosing(stream) as chunks:
                    async for chunk in chunks:
                        total += len(chunk)
                        if total > limits.max_output_bytes:
                            self._flood_at(
                                f"output limit: wrote more than {limits.max_output_bytes} bytes"
                            )
                            return
                        try:
                            lines = splitter.feed(chunk)
                        except LineTooLongError:
                            self._flood_at(
                                "output limit: wrote a line longer than "
                                f"{limits.max_line_bytes} bytes"
                            )
                            return
                        await relay_events(
                            self._on_event, [e for line in lines for e in self._line(line)]
                        )
            except LogStreamError as exc:
                # Just started containers may not serve their log yet; never re-read after
                # data arrived, or events would be relayed twice.
                retry = not (self._gone or self._stop_following.is_set())
                if total == 0 and retry and self._loop.time() < deadline:
                    await asyncio.sleep(_LOG_RETRY_DELAY)
                    continue
                await self._on_event(
                    LogEvent(level="warning", message=f"cannot read the pod's log: {exc}")
                )
                return
            break
        rest = splitter.finish()
        if rest is not None:
            await relay_events(self._on_event, self._line(rest))
        await relay_events(self._on_event, self._recorder.stdout_end())

    def _flood_at(self, message: str) -> None:
        if not self._flood.done():
            self._flood.set_result(message)
        self._changed.set()

    def _line(self, line: bytes) -> list[AgentEvent]:
        """The events one line of the pod's log stands for (recorded)."""
        text = decode_line(line)
        if not text.strip():
            return []
        self._last_line = self._loop.time()
        events = self._recorder.stdout_line(text)
        for event in events:
            if isinstance(event, LogEvent) and event.message == text:
                # Plain text: most likely stderr (the log merges both), quoted in failure messages.
                self._recorder.note_stderr(text)
                self._plain_lines = True
        return events

    async def _drain(self) -> None:
        """Once the pod has ended: read the rest of its log (started now if need be)."""
        view = self._view
        if self._log_task is None and view is not None and view.started and not self._gone:
            self._log_task = asyncio.create_task(self._read_log())
        if self._log_task is None:
            return
        done, _ = await asyncio.wait({self._log_task}, timeout=self._t.drain_seconds)
        for task in done:
            task.result()

    # --- stopping and cleaning up --------------------------------------------------------

    async def _delete_pod(self, grace: float) -> None:
        self._deleted_by_us = True
        await self._delete(Pod, grace=math.ceil(grace))

    async def _await_gone(self, grace: float) -> None:
        """Wait for the deleted pod to be gone (its agent stopped), within bounds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace + self._t.deletion_seconds):
                while not self._gone and not self._ended_by_itself():
                    self._changed.clear()
                    await self._changed.wait()

    def _ended_by_itself(self) -> bool:
        view = self._view
        return view is not None and view.stage is Stage.ENDED and not view.deleting

    async def _collect_garbage(self, *, pod: bool) -> None:
        """The envelope Secret always goes; the pod per the GC policy (if it is still there)."""
        cleanup: list[Awaitable[None]] = [self._delete(Secret, grace=None)]
        if pod and self._gc is PodGcPolicy.DELETE and not self._gone:
            cleanup.append(self._delete(Pod, grace=None))
        await asyncio.gather(*cleanup)

    async def _delete(self, kind: type[Pod] | type[Secret], *, grace: int | None) -> None:
        """Best effort: what is left behind goes with the FlowRun (owner references)."""
        with contextlib.suppress(ApiError, httpx2.HTTPError, TimeoutError):
            async with asyncio.timeout(self._t.request_seconds):
                await self._client.delete(
                    kind, self._name, namespace=self._namespace, grace_period=grace
                )

    # --- the result ----------------------------------------------------------------------

    def _result(self, stop: Stop | None) -> AttemptResult:
        view = self._view
        exit_code = view.exit_code if view is not None and view.stage is Stage.ENDED else None
        if stop is None and exit_code is None:  # cannot happen: an ending has one or the other
            stop = Stop(FailureReason.POD_DELETED, f"pod {self._name} ended without a status")
        if view is not None and view.termination_message and not self._plain_lines:
            for line in view.termination_message.splitlines()[-STDERR_TAIL_LINES:]:
                self._recorder.note_stderr(line)
        note = ""
        if exit_code is not None and exit_code > 128:
            note = f" (128 + {exit_code - 128}: usually killed by signal {exit_code - 128})"
        return self._recorder.result(
            exit_code=exit_code, signal_number=None, stop=stop, limits_note=note
        )
