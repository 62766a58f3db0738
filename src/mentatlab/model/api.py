"""Bodies of the HTTP API (``/api/v1``) that are not run records or events.

The server (``mentatlab.api``) and its Python client (``mentatlab.client``) share these, so
a field cannot mean one thing on one side and another on the other.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mentatlab.model.kubernetes import KubernetesRunOptions
from mentatlab.model.run import RunRecord, RunStatus

__all__ = [
    "MAX_REGISTRY_ID",
    "MAX_REGISTRY_VERSION",
    "MAX_SEQ",
    "AgentInfo",
    "AgentPage",
    "AgentRegister",
    "AuditEntryInfo",
    "AuditPage",
    "AuditVerification",
    "ChainBreakInfo",
    "Deleted",
    "FindingInfo",
    "FlowInfo",
    "FlowPage",
    "FlowWrite",
    "KeyCreate",
    "KeyCreated",
    "KeyInfo",
    "KeyPage",
    "KeyScope",
    "Problem",
    "RunCreate",
    "RunPage",
    "RunRef",
    "ValidateRequest",
    "ValidationMode",
    "ValidationResult",
]

MAX_SEQ = 2**62
"""Bound of sequence numbers in requests: beyond any log, within every database's integers."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """An error (RFC 9457): what went wrong (``title``), for this request (``detail``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        default="about:blank",
        description="urn:mentatlab:problem:<slug> for MentatLab's own kinds of error",
    )
    title: str
    status: int
    detail: str
    instance: str = Field(description="The path of the request that failed")


MAX_REGISTRY_ID = 255
MAX_REGISTRY_VERSION = 64


class RunCreate(_Request):
    """A run of either a flow document (``flow``) or a stored flow (``flow_id``)."""

    flow: dict[str, Any] | None = Field(
        default=None, description="A flow document (schemas/flow.v1.schema.json)"
    )
    flow_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_REGISTRY_ID,
        description="The id of a stored flow (POST /flows) to run instead of `flow`",
    )
    version: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_REGISTRY_VERSION,
        description="The version of `flow_id` to run; default: the one stored last",
    )
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="Run inputs by NODE.PIN, as `mentatctl run -i`"
    )
    kubernetes: KubernetesRunOptions | None = Field(
        default=None,
        description=(
            "Run the agents as pods on the server's Kubernetes executor, with these options "
            "(as in a FlowRun's spec); absent: as processes of the server"
        ),
    )

    @model_validator(mode="after")
    def _one_flow(self) -> Self:
        if (self.flow is None) == (self.flow_id is None):
            raise ValueError("give either flow (a flow document) or flow_id (a stored flow)")
        if self.version is not None and self.flow_id is None:
            raise ValueError("version selects a version of flow_id; it needs flow_id")
        return self


class RunRef(BaseModel):
    id: str
    status: RunStatus


class RunPage(BaseModel):
    items: list[RunRecord]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last")


class AgentRegister(_Request):
    manifest: dict[str, Any] = Field(
        description="An agent manifest (schemas/agent-manifest.v1.schema.json)"
    )
    location: str = Field(
        min_length=1,
        max_length=4096,
        description=(
            "Where the agent's Cog-Pak lives: a directory on the server (an absolute path or "
            "a file:// URI), whose agent the server's runs use, or any other URI (oci://…)"
        ),
    )


class AgentInfo(BaseModel):
    id: str
    version: str
    manifest: dict[str, Any] = Field(description="The manifest as validated (v1 format)")
    location: str
    registered_at: datetime


class AgentPage(BaseModel):
    items: list[AgentInfo]
    next_cursor: int | None = Field(description="Pass as `cursor` for the next page; null: last")


class FlowWrite(_Request):
    flow: dict[str, Any] = Field(
        description="A flow document (schemas/flow.v1.schema.json) with meta.version"
    )


class FlowInfo(BaseModel):
    id: str
    version: str
    name: str
    document: dict[str, Any] = Field(description="The flow as validated")
    created_at: datetime = Field(description="When the flow's first version was stored")
    updated_at: datetime = Field(description="When this version was stored")
    versions: list[str] = Field(description="Every stored version, oldest first")


class FlowPage(BaseModel):
    items: list[FlowInfo] = Field(description="The latest version of each flow")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last")


class Deleted(BaseModel):
    id: str
    versions: list[str] = Field(description="The versions deleted")


class ValidationMode(StrEnum):
    STRICT = "strict"
    PERMISSIVE = "permissive"


class ValidateRequest(_Request):
    document: dict[str, Any] = Field(description="An agent manifest or a flow")
    mode: ValidationMode = ValidationMode.STRICT


class FindingInfo(BaseModel):
    file: str
    path: str
    line: int | None
    rule: str
    message: str


class ValidationResult(BaseModel):
    """As ``mentatctl validate --output json`` prints it."""

    valid: bool
    errors: list[FindingInfo]
    warnings: list[FindingInfo]


class KeyScope(StrEnum):
    """``read`` (GET), ``write`` (runs; implies read), ``admin`` (keys, audit; implies write)."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


class KeyCreate(_Request):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    scopes: list[KeyScope] = Field(min_length=1)


class KeyInfo(BaseModel):
    id: str
    name: str
    scopes: list[KeyScope]
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyInfo):
    key: str = Field(description="The API key; shown this once, only its hash is stored")


class KeyPage(BaseModel):
    items: list[KeyInfo]


class AuditEntryInfo(BaseModel):
    seq: int
    ts: datetime
    actor: str
    action: str
    resource: str
    outcome: str
    request_id: str | None
    client: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntryInfo]
    next_cursor: int | None = Field(description="Pass as `cursor` for older entries; null: last")


class ChainBreakInfo(BaseModel):
    seq: int
    reason: str


class AuditVerification(BaseModel):
    intact: bool
    entries: int
    last_hash: str
    first_bad: ChainBreakInfo | None
