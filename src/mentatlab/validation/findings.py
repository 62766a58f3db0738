"""Findings (one located problem in one file), validation modes and the report of a run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Finding", "Mode", "Severity", "UsageError", "ValidationReport"]


class UsageError(Exception):
    """The request itself is wrong (a path that does not exist, a directory without a manifest).

    Distinct from invalid documents so that callers can tell the two apart (``mentatctl`` exits 2
    for this and 1 for invalid documents).
    """


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Mode(StrEnum):
    """``strict`` reports rule violations as errors; ``permissive`` downgrades them to warnings."""

    STRICT = "strict"
    PERMISSIVE = "permissive"


@dataclass(frozen=True, slots=True)
class Finding:
    file: str
    path: str
    line: int | None
    rule: str
    message: str
    severity: Severity = Severity.ERROR

    def to_dict(self) -> dict[str, Any]:
        """The finding as it appears in ``mentatctl validate --json``."""
        return {
            "file": self.file,
            "path": self.path,
            "line": self.line,
            "rule": self.rule,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.severity} {self.rule} at {self.path}: {self.message}"


@dataclass(frozen=True, slots=True)
class ValidationReport:
    findings: tuple[Finding, ...] = ()

    @classmethod
    def of(cls, findings: Iterable[Finding]) -> ValidationReport:
        return cls(tuple(findings))

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def valid(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "errors": [f.to_dict() for f in self.errors],
            "warnings": [f.to_dict() for f in self.warnings],
        }
