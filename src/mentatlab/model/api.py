"""Bodies of the HTTP API (``/api/v1``) that are not run records or events.

The server (``mentatlab.api``) and its Python client (``mentatlab.client``) share these, so
a field cannot mean one thing on one side and another on the other.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mentatlab.model.run import RunRecord, RunStatus

__all__ = [
    "MAX_SEQ",
    "AuditEntryInfo",
    "AuditPage",
    "AuditVerification",
    "ChainBreakInfo",
    "FindingInfo",
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


class RunCreate(_Request):
    flow: dict[str, Any] = Field(description="A flow document (schemas/flow.v1.schema.json)")
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="Run inputs by NODE.PIN, as `mentatctl run -i`"
    )


class RunRef(BaseModel):
    id: str
    status: RunStatus


class RunPage(BaseModel):
    items: list[RunRecord]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last")


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
