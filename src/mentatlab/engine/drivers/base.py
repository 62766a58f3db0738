"""The driver interface: how the engine starts one attempt of one agent node.

The engine never knows which runtime it talks to. The local driver starts a subprocess;
the Kubernetes driver creates a pod. Both speak agent protocol v1 and report the same
:class:`AttemptResult`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from mentatlab.model.manifest import AgentProtocol
from mentatlab.model.protocol import PROTOCOL_V1, AgentEvent, AgentIdentity

__all__ = [
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_MAX_PROCESSES",
    "AttemptOutcome",
    "AttemptResult",
    "AttemptSpec",
    "Driver",
    "EventCallback",
    "ExecutionLimits",
    "FailureReason",
]


DEFAULT_MAX_EVENTS = 10_000
"""Events of one attempt that reach the run's log: far more than progress reporting needs,
few enough that a chatty agent cannot fill the store."""
DEFAULT_MAX_PROCESSES = 256
"""Room for process pools and shell pipelines; far below what exhausts a machine's pids."""


class AttemptOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class FailureReason(StrEnum):
    EXIT_CODE = "exit_code"
    SIGNAL = "signal"
    TIMEOUT = "timeout"
    HEARTBEAT_TIMEOUT = "heartbeat_timeout"
    OUTPUT_LIMIT = "output_limit"
    PROCESS_LIMIT = "process_limit"
    AGENT_ERROR = "agent_error"
    START_FAILED = "start_failed"
    CANCELLED = "cancelled"
    # Kubernetes: causes only a cluster reports (see docs/kubernetes-driver.md).
    OOM_KILLED = "oom_killed"
    IMAGE_PULL = "image_pull"
    UNSCHEDULABLE = "unschedulable"
    EVICTED = "evicted"
    POD_DELETED = "pod_deleted"
    API_ERROR = "api_error"


@dataclass(frozen=True, kw_only=True)
class ExecutionLimits:
    """Limits a driver enforces on one attempt. ``None`` means unlimited."""

    timeout_seconds: float | None = None
    heartbeat_timeout_seconds: float | None = None
    memory_bytes: int | None = None
    cpu_seconds: int | None = None
    max_output_bytes: int = 64 * 1024 * 1024
    """Total bytes an attempt may write to stdout and stderr together."""
    max_line_bytes: int = 8 * 1024 * 1024
    """Longest single stdout/stderr line (one event) accepted."""
    max_events: int | None = DEFAULT_MAX_EVENTS
    """Events of the attempt recorded in the run's log; later ones (but an ``error``) are
    dropped, after one warning. Enforced by the engine for every driver. ``None``: all."""
    max_processes: int | None = DEFAULT_MAX_PROCESSES
    """Most processes an attempt may run at once, itself included (local driver; a fork
    bomb is stopped here). ``None``: not counted."""
    kill_grace_seconds: float = 5.0
    """Time between SIGTERM and SIGKILL when stopping an agent."""


@dataclass(frozen=True, kw_only=True)
class AttemptSpec:
    """Everything a driver needs to run one attempt of one node."""

    run_id: str
    node_id: str
    attempt: int
    agent_id: str
    agent_version: str
    command: tuple[str, ...]
    """argv; a relative program path is resolved against ``workdir``."""
    workdir: Path
    """The Cog-Pak directory (local driver) — the process's working directory."""
    image: str | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    resume: Any = None
    env: Mapping[str, str] = field(default_factory=dict)
    limits: ExecutionLimits = field(default_factory=ExecutionLimits)
    protocol: AgentProtocol = PROTOCOL_V1
    """The manifest's ``protocol``: ``legacy`` agents get their inputs and are read the
    original MentatLab way (:mod:`mentatlab.engine.legacy_io`)."""
    output_pins: tuple[str, ...] = ()
    """The agent's declared output pins: where a legacy agent's result object goes."""
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    """The run secrets this node receives, in its input envelope only (never argv or env)."""
    identity: AgentIdentity | None = field(default=None, repr=False)
    """The attempt's token for reporting over HTTP, when the run executes on a server."""


@dataclass(frozen=True, kw_only=True)
class AttemptResult:
    outcome: AttemptOutcome
    outputs: Mapping[str, Any] = field(default_factory=dict)
    reason: FailureReason | None = None
    message: str = ""
    exit_code: int | None = None
    signal: int | None = None
    error_code: str | None = None
    """The agent's own error code when it sent an ``error`` event."""
    retryable: bool = True
    last_checkpoint: Any = None


EventCallback = Callable[[AgentEvent], Awaitable[None]]


class Driver(Protocol):
    resolves_env_references: bool
    """Whether ``valueFrom`` env entries (Secret/ConfigMap keys) reach the agent."""
    default_parallelism: int
    """Attempts of one run at once when neither the run nor its flow sets ``maxParallel``."""

    async def run_attempt(
        self,
        spec: AttemptSpec,
        *,
        on_event: EventCallback,
        cancel: asyncio.Event,
    ) -> AttemptResult:
        """Run one attempt to completion and report how it ended.

        ``on_event`` receives every protocol event the agent emits, in order (``output``
        events included; the result's ``outputs`` holds the last value per pin). When
        ``cancel`` is set the driver stops the agent (SIGTERM, then SIGKILL after the
        grace period) and returns ``CANCELLED``. Never raises for anything the agent does.
        """
        ...
