"""Running one agent node: attempts through a driver, retries with backoff, output checks."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mentatlab.engine.drivers.base import (
    AttemptOutcome,
    AttemptResult,
    AttemptSpec,
    Driver,
    FailureReason,
)
from mentatlab.engine.events import EngineEvent, EventSink
from mentatlab.engine.identity import IdentityIssuer, LiveAttempts
from mentatlab.engine.limits import execution_limits
from mentatlab.engine.plan import AgentBinding
from mentatlab.engine.redaction import Redactor
from mentatlab.engine.secrets import RunSecrets
from mentatlab.engine.values import type_error
from mentatlab.model.flow import Node
from mentatlab.model.manifest import LEGACY_PROTOCOL, AgentManifest, EnvVar, RetryPolicy
from mentatlab.model.protocol import (
    AgentEvent,
    CheckpointEvent,
    ErrorEvent,
    HeartbeatEvent,
    LogEvent,
    MetricEvent,
    OutputEvent,
    ProgressEvent,
)
from mentatlab.model.run import EventType, NodeError, NodeStatus

__all__ = ["AgentLimits", "AgentNodeRunner", "NodeResult", "Slots"]


@dataclass
class NodeResult:
    status: NodeStatus
    outputs: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    error: NodeError | None = None


class AgentLimits:
    """Each agent's ``maxConcurrent``, counted over every run that shares this object.

    A run has its own by default; a long-lived process running many runs at once (the
    operator) shares one, so an agent's bound holds across all of them.
    """

    def __init__(self) -> None:
        # Keyed by the limit too: an agent re-registered with another bound starts afresh.
        self._semaphores: dict[tuple[str, int], asyncio.Semaphore] = {}

    def hold(self, manifest: AgentManifest) -> contextlib.AbstractAsyncContextManager[Any]:
        limit = manifest.resources.max_concurrent
        if limit is None:
            return contextlib.nullcontext()
        return self._semaphores.setdefault((manifest.ref, limit), asyncio.Semaphore(limit))


class Slots:
    """Concurrency bounds: the run's ``max_parallel`` and each agent's ``maxConcurrent``."""

    def __init__(self, max_parallel: int, agent_limits: AgentLimits | None = None) -> None:
        self._run = asyncio.Semaphore(max_parallel)
        self._agents = agent_limits or AgentLimits()

    @contextlib.asynccontextmanager
    async def hold(self, manifest: AgentManifest) -> AsyncIterator[None]:
        # The agent's slot first: waiting for it must not keep one of the run's slots busy.
        async with self._agents.hold(manifest), self._run:
            yield


@dataclass
class AgentNodeRunner:
    """Runs one agent node instance to a final status, retrying failed attempts."""

    driver: Driver
    sink: EventSink
    cancel: asyncio.Event
    slots: Slots
    kill_grace_seconds: float
    rng: random.Random
    secrets: RunSecrets = field(default_factory=RunSecrets)
    identities: IdentityIssuer | None = None
    """Issues each v1 attempt a token for reporting over HTTP (a server's runs)."""
    live: LiveAttempts | None = None
    """Where running attempts accept the events their token authenticates."""
    redactor: Redactor = field(init=False)

    def __post_init__(self) -> None:
        self.redactor = Redactor(self.secrets.values)

    async def run(
        self,
        *,
        run_id: str,
        instance: str,
        node: Node,
        binding: AgentBinding,
        inputs: Mapping[str, Any],
        params: Mapping[str, Any],
        first_attempt: int = 1,
        resume: Any = None,
    ) -> NodeResult:
        """Run attempts from ``first_attempt`` on (above 1 when a run is resumed: the
        driver re-attaches to that attempt if it is still running), resuming the agent
        from the checkpoint state ``resume``."""
        manifest = binding.manifest
        policy = node.retries or manifest.retries
        env, skipped_env = _environment(manifest.env)
        secrets, withheld = self.secrets.for_agent(manifest)
        checkpoint: Any = resume
        attempt = first_attempt - 1
        while True:
            attempt += 1
            spec = AttemptSpec(
                run_id=run_id,
                node_id=instance,
                attempt=attempt,
                agent_id=manifest.id,
                agent_version=manifest.version,
                command=manifest.command or (),
                workdir=binding.directory,
                image=manifest.image,
                inputs=inputs,
                params=params,
                resume=checkpoint,
                env=env,
                limits=execution_limits(
                    manifest,
                    timeout_seconds=node.timeout_seconds,
                    kill_grace_seconds=self.kill_grace_seconds,
                ),
                protocol=manifest.protocol,
                output_pins=tuple(pin.name for pin in manifest.outputs),
                secrets=secrets,
            )
            relay = _EventRelay(
                self.sink, instance, attempt, self.redactor, max_events=spec.limits.max_events
            )
            async with self.slots.hold(manifest):
                if self.cancel.is_set():
                    return NodeResult(NodeStatus.CANCELLED, attempts=attempt - 1)
                await self._status(instance, attempt, NodeStatus.RUNNING, agent=manifest.ref)
                for name in () if self.driver.resolves_env_references else skipped_env:
                    await relay.log(
                        "warning", f"env {name}: valueFrom is resolved on Kubernetes only"
                    )
                for name in withheld:
                    await relay.log("warning", f"secret {name}: not given to this agent")
                # Issued once the attempt holds its slots: waiting for one uses no token time.
                spec = self._with_identity(spec)
                with self._reporting(spec, relay):
                    result = await self.driver.run_attempt(spec, on_event=relay, cancel=self.cancel)
                result = relay.merged(self.redactor.result(result))
            if relay.checkpoint_seen:
                checkpoint = relay.checkpoint
            if result.outcome is AttemptOutcome.CANCELLED:
                return NodeResult(NodeStatus.CANCELLED, attempts=attempt)
            error = _attempt_error(result, instance, attempt, policy.limit + 1)
            if error is None:
                outputs, output_error = _checked_outputs(
                    manifest, result.outputs, instance, attempt
                )
                if output_error is None:
                    return NodeResult(NodeStatus.SUCCEEDED, outputs=outputs, attempts=attempt)
                error = output_error
            if not (error.retryable and attempt <= policy.limit) or self.cancel.is_set():
                return NodeResult(NodeStatus.FAILED, attempts=attempt, error=error)
            delay = _backoff(policy, attempt, self.rng)
            await self._status(
                instance,
                attempt,
                NodeStatus.PENDING,
                error=error.model_dump(exclude_none=True),
                retry_in_seconds=round(delay, 3),
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.cancel.wait(), timeout=delay)
            if self.cancel.is_set():
                return NodeResult(NodeStatus.CANCELLED, attempts=attempt, error=error)

    def _with_identity(self, spec: AttemptSpec) -> AttemptSpec:
        if self.identities is None or spec.protocol == LEGACY_PROTOCOL:
            return spec  # a legacy agent's input has no place for a token
        identity = self.identities.issue(
            run_id=spec.run_id, node_id=spec.node_id, attempt=spec.attempt
        )
        return replace(spec, identity=identity)

    def _reporting(
        self, spec: AttemptSpec, relay: _EventRelay
    ) -> contextlib.AbstractContextManager[None]:
        """Accept the attempt's events over HTTP while it runs, when it has a token."""
        if self.live is None or spec.identity is None:
            return contextlib.nullcontext()
        return self.live.open((spec.run_id, spec.node_id, spec.attempt), relay.reported)

    async def _status(self, instance: str, attempt: int, status: NodeStatus, **data: Any) -> None:
        await self.sink(
            EngineEvent(EventType.NODE_STATUS, instance, attempt, {"status": status.value, **data})
        )


class _EventRelay:
    """Turns an agent's protocol events into run events tagged with node and attempt, with
    the run's secrets redacted first (whichever channel the events came by)."""

    def __init__(
        self,
        sink: EventSink,
        instance: str,
        attempt: int,
        redactor: Redactor,
        *,
        max_events: int | None = None,
    ) -> None:
        self._sink = sink
        self._max_events = max_events
        self._relayed = 0
        self._instance = instance
        self._attempt = attempt
        self._redactor = redactor
        self.checkpoint: Any = None
        self.checkpoint_seen = False
        self._reported_outputs: dict[str, Any] = {}
        self._reported_error: ErrorEvent | None = None

    async def log(self, level: str, message: str) -> None:
        await self._emit(EventType.LOG, {"level": level, "message": message})

    async def reported(self, event: AgentEvent) -> None:
        """An event the agent reported over HTTP: relayed, and counted in its result."""
        event = self._redactor.event(event)
        await self._relay(event)
        match event:
            case OutputEvent(pin=pin, value=value):
                self._reported_outputs[pin] = value
            case ErrorEvent():
                self._reported_error = event
            case _:
                pass

    def merged(self, result: AttemptResult) -> AttemptResult:
        """``result`` with what was reported over HTTP: its outputs (winning over stdout's
        for the same pin) and an ``error`` event, which fails the attempt."""
        error = self._reported_error
        if result.outcome is not AttemptOutcome.SUCCEEDED:
            return result
        if error is not None:
            return replace(
                result,
                outcome=AttemptOutcome.FAILED,
                reason=FailureReason.AGENT_ERROR,
                message=error.message,
                error_code=error.code,
                retryable=error.retryable,
            )
        return replace(result, outputs={**result.outputs, **self._reported_outputs})

    async def __call__(self, event: AgentEvent) -> None:
        await self._relay(self._redactor.event(event))

    async def _relay(self, event: AgentEvent) -> None:
        if not isinstance(event, HeartbeatEvent | ErrorEvent) and await self._over_limit():
            # Not recorded, still counted: outputs are the driver's result, resume needs this.
            if isinstance(event, CheckpointEvent):
                self.checkpoint, self.checkpoint_seen = event.state, True
            return
        match event:
            case HeartbeatEvent():
                return  # liveness only; the driver tracks it
            case OutputEvent(pin=pin, value=value):
                await self._emit(EventType.OUTPUT, {"pin": pin, "value": value})
            case LogEvent(level=level, message=message):
                await self._emit(EventType.LOG, {"level": level, "message": message})
            case ProgressEvent(percent=percent, message=message):
                await self._emit(EventType.PROGRESS, {"percent": percent, "message": message})
            case MetricEvent(name=name, value=value, unit=unit):
                await self._emit(EventType.METRIC, {"name": name, "value": value, "unit": unit})
            case CheckpointEvent(state=state):
                self.checkpoint, self.checkpoint_seen = state, True
                await self._emit(EventType.CHECKPOINT, {"state": state})
            case ErrorEvent(code=code, message=message, retryable=retryable):
                await self._emit(
                    EventType.ERROR, {"code": code, "message": message, "retryable": retryable}
                )

    async def _over_limit(self) -> bool:
        """Whether the event limit drops this event; says so once, when it starts to."""
        if self._max_events is None:
            return False
        self._relayed += 1
        if self._relayed == self._max_events + 1:
            await self.log(
                "warning",
                f"event limit: more than {self._max_events} events from this attempt; "
                "later events but an error are not recorded (its outputs still count)",
            )
        return self._relayed > self._max_events

    async def _emit(self, event_type: EventType, data: dict[str, Any]) -> None:
        await self._sink(EngineEvent(event_type, self._instance, self._attempt, data))


def _environment(entries: tuple[EnvVar | str, ...]) -> tuple[dict[str, str], list[str]]:
    """Literal env entries, and the names of those only Kubernetes can resolve."""
    env: dict[str, str] = {}
    deferred: list[str] = []
    for entry in entries:
        if isinstance(entry, str):
            name, _, value = entry.partition("=")
            env[name] = value
        elif entry.value_from is not None:
            deferred.append(entry.name)
        else:
            env[entry.name] = entry.value or ""
    return env, deferred


def _attempt_error(
    result: AttemptResult, instance: str, attempt: int, max_attempts: int
) -> NodeError | None:
    if result.outcome is AttemptOutcome.SUCCEEDED:
        return None
    reason = result.reason.value if result.reason else "exit_code"
    return NodeError(
        node=instance,
        attempt=attempt,
        reason=reason,
        message=f"node {instance!r} failed (attempt {attempt} of {max_attempts}): {result.message}",
        exit_code=result.exit_code,
        signal=result.signal,
        code=result.error_code,
        retryable=result.retryable,
    )


def _checked_outputs(
    manifest: AgentManifest, outputs: Mapping[str, Any], instance: str, attempt: int
) -> tuple[dict[str, Any], NodeError | None]:
    """Keep declared output pins whose values match their types."""
    checked: dict[str, Any] = {}
    for pin_name, value in outputs.items():
        pin = manifest.output_pin(pin_name)
        if pin is None:
            continue  # undeclared pins are not part of the node's contract
        problem = type_error(pin.type, value)
        if problem is not None:
            return checked, NodeError(
                node=instance,
                attempt=attempt,
                reason="output_error",
                message=f"node {instance!r} output pin {pin_name!r}: {problem}",
                retryable=False,
            )
        checked[pin_name] = value
    return checked, None


def _backoff(policy: RetryPolicy, attempt: int, rng: random.Random) -> float:
    """Exponential backoff with jitter: a random fraction of each delay is shaved off."""
    backoff = policy.backoff
    delay = min(backoff.max_seconds, backoff.initial_seconds * backoff.multiplier ** (attempt - 1))
    return delay * (1 - backoff.jitter * rng.random())
