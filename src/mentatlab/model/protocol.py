"""Agent protocol v1: the input envelope an agent reads and the events it writes.

Mirrors ``schemas/protocol/input.v1.schema.json`` and ``schemas/protocol/event.v1.schema.json``;
``docs/protocol.md`` is the prose version. Fields and event types may be added in later minor
versions, so readers ignore unknown fields and report unknown event types instead of failing.

The version string, environment variable names, log levels and
:func:`escape_line_separators` are defined in :mod:`mentatlab.model.protocol_base`, which does
not import pydantic, and re-exported here.

The models validate strictly (no ``"1"`` → ``1`` or ``1`` → ``True`` coercion) so that they
accept exactly the documents the schemas accept; ``tests/model/test_protocol_schema.py``
checks this.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from mentatlab.model.protocol_base import (
    ENV_ATTEMPT,
    ENV_NODE_ID,
    ENV_PROTOCOL,
    ENV_RUN_ID,
    PROTOCOL_V1,
    LogLevel,
    escape_line_separators,
)

__all__ = [
    "ENV_ATTEMPT",
    "ENV_NODE_ID",
    "ENV_PROTOCOL",
    "ENV_RUN_ID",
    "PROTOCOL_V1",
    "AgentEvent",
    "AgentIdentity",
    "CheckpointEvent",
    "ErrorEvent",
    "HeartbeatEvent",
    "InputEnvelope",
    "LogEvent",
    "LogLevel",
    "MetricEvent",
    "OutputEvent",
    "ProgressEvent",
    "RunContext",
    "agent_event_adapter",
    "escape_line_separators",
]


class RunContext(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    id: str
    node: str
    attempt: int = Field(ge=1)

    @field_validator("attempt", mode="before")
    @classmethod
    def _integral_float(cls, value: Any) -> Any:
        # JSON Schema's "integer" includes 1.0; strict pydantic would reject it.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


class AgentIdentity(BaseModel):
    """The attempt's own credential for reporting events over HTTP (added in v1.1)."""

    model_config = ConfigDict(extra="allow", strict=True)

    token: str = Field(min_length=1, repr=False)
    expires_at: str = Field(description="RFC 3339 UTC")
    events_url: str | None = Field(default=None, description="Where to POST events, if known")


class InputEnvelope(BaseModel):
    """The single JSON object an agent receives on stdin (followed by EOF).

    ``secrets`` and ``identity`` (added in v1.1) are sent only when there is something to
    send, so the envelope of an agent without them is byte for byte what v1.0 sent.
    """

    model_config = ConfigDict(extra="allow", strict=True)

    protocol: Literal["mentatlab.agent/v1"] = PROTOCOL_V1
    run: RunContext
    inputs: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    resume: Any = Field(default=None, description="State of the last checkpoint, or null")
    secrets: dict[str, str] | None = Field(
        default=None, repr=False, description="Secret name -> value, for agents granted some"
    )
    identity: AgentIdentity | None = None


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class OutputEvent(_Event):
    type: Literal["output"] = "output"
    pin: str = Field(min_length=1)
    value: Any


class LogEvent(_Event):
    type: Literal["log"] = "log"
    level: LogLevel = "info"
    message: str


class ProgressEvent(_Event):
    type: Literal["progress"] = "progress"
    percent: float = Field(ge=0, le=100)
    message: str | None = None


class HeartbeatEvent(_Event):
    type: Literal["heartbeat"] = "heartbeat"


class MetricEvent(_Event):
    type: Literal["metric"] = "metric"
    name: str = Field(min_length=1)
    value: float
    unit: str | None = None


class CheckpointEvent(_Event):
    type: Literal["checkpoint"] = "checkpoint"
    state: Any


class ErrorEvent(_Event):
    type: Literal["error"] = "error"
    code: str = "agent_error"
    message: str
    retryable: bool = True


AgentEvent = Annotated[
    OutputEvent
    | LogEvent
    | ProgressEvent
    | HeartbeatEvent
    | MetricEvent
    | CheckpointEvent
    | ErrorEvent,
    Field(discriminator="type"),
]

agent_event_adapter: TypeAdapter[AgentEvent] = TypeAdapter(AgentEvent)
