"""From the store's and validation's objects to the API's bodies (``mentatlab.model.api``)."""

from __future__ import annotations

from mentatlab.model.api import (
    AuditEntryInfo,
    AuditVerification,
    ChainBreakInfo,
    KeyInfo,
    ValidationResult,
)
from mentatlab.store import ApiKey, AuditEntry, Verification
from mentatlab.validation import ValidationReport

__all__ = ["audit_entry_info", "key_info", "validation_result", "verification_info"]


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
