"""From the store's and validation's objects to the API's bodies (``mentatlab.model.api``)."""

from __future__ import annotations

from dataclasses import asdict

from mentatlab.model.api import (
    AgentInfo,
    AuditEntryInfo,
    AuditVerification,
    ChainBreakInfo,
    FlowInfo,
    KeyInfo,
    ValidationResult,
)
from mentatlab.store import ApiKey, AuditEntry, RegisteredAgent, StoredFlow, Verification
from mentatlab.validation import ValidationReport

__all__ = [
    "agent_info",
    "audit_entry_info",
    "flow_info",
    "key_info",
    "validation_result",
    "verification_info",
]


def validation_result(report: ValidationReport) -> ValidationResult:
    return ValidationResult.model_validate(report.to_json())


def key_info(key: ApiKey) -> KeyInfo:
    return KeyInfo.model_validate(key.to_json())


def audit_entry_info(entry: AuditEntry) -> AuditEntryInfo:
    return AuditEntryInfo.model_validate(entry.to_json())


def verification_info(verification: Verification) -> AuditVerification:
    bad = verification.first_bad
    return AuditVerification(
        intact=verification.intact,
        entries=verification.entries,
        last_hash=verification.last_hash,
        first_bad=None if bad is None else ChainBreakInfo(seq=bad.seq, reason=bad.reason),
    )


def agent_info(agent: RegisteredAgent) -> AgentInfo:
    return AgentInfo.model_validate(asdict(agent))


def flow_info(flow: StoredFlow) -> FlowInfo:
    return FlowInfo.model_validate(asdict(flow))
