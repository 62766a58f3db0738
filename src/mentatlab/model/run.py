"""Runs, node states and the run event log: the records every engine, store and viewer share.

``schemas/run-record.v1.schema.json`` and ``schemas/run-event.v1.schema.json`` are generated
from these models (``make schemas``) for clients in other languages.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "TERMINAL_NODE_STATUSES",
    "TERMINAL_RUN_STATUSES",
    "EventType",
    "Executor",
    "NodeError",
    "NodeRecord",
    "NodeStatus",
    "RunEvent",
    "RunRecord",
    "RunStatus",
]


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Executor(StrEnum):
    """Where a run's agents execute."""

    LOCAL = "local"
    """Processes of the machine running the engine (``mentatctl run``, a server's workers)."""
    KUBERNETES = "kubernetes"
    """Pods, through the Kubernetes driver (a FlowRun, or a server run that asked for it)."""


class NodeStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


TERMINAL_RUN_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})
TERMINAL_NODE_STATUSES = frozenset(
    {NodeStatus.SUCCEEDED, NodeStatus.FAILED, NodeStatus.SKIPPED, NodeStatus.CANCELLED}
)


class EventType(StrEnum):
    """Types of entries in a run's event log.

    ``run.*`` and ``node.*`` entries are written by the engine; the others relay what an
    agent emitted (protocol v1 events), tagged with the node and attempt that emitted them.
    """

    RUN_STATUS = "run.status"
    NODE_STATUS = "node.status"
    LOG = "log"
    PROGRESS = "progress"
    OUTPUT = "output"
    METRIC = "metric"
    CHECKPOINT = "checkpoint"
    ERROR = "error"


class NodeError(BaseModel):
    """Why a node (or a run) failed: enough to act on without reading logs."""

    model_config = ConfigDict(extra="forbid")

    message: str
    reason: str = Field(
        description=(
            "Machine-readable cause: exit_code, signal, timeout, heartbeat_timeout, "
            "output_limit, process_limit, agent_error, start_failed, input_error, interrupted, "
            "upstream_failed, cancelled, internal"
        )
    )
    node: str | None = None
    attempt: int | None = None
    exit_code: int | None = None
    signal: int | None = None
    code: str | None = Field(default=None, description="The agent's own error code, if it sent one")
    retryable: bool | None = None


class NodeRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: NodeStatus = NodeStatus.PENDING
    attempts: int = 0
    outputs: dict[str, Any] = Field(default_factory=dict)
    error: NodeError | None = None
    progress: float | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class RunRecord(BaseModel):
    """A run as ``mentatctl run --output json`` prints it and ``GET /runs/{id}`` returns it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    status: RunStatus
    flow_id: str | None = None
    flow_name: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    nodes: dict[str, NodeRecord] = Field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Outputs of the flow's terminal nodes (nodes no edge leaves), by node then pin",
    )
    error: NodeError | None = None
    executor: Executor | None = Field(
        default=None,
        description="Where the run's agents execute; null for runs recorded before it was kept",
    )


class RunEvent(BaseModel):
    """One entry of a run's append-only event log; ``seq`` starts at 1 and has no gaps."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    seq: int = Field(ge=1)
    ts: datetime
    type: EventType
    node: str | None = None
    attempt: int | None = None
    data: dict[str, Any] = Field(default_factory=dict)
