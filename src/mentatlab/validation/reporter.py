"""Collects the findings about one document, located in the file the user wrote."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mentatlab.validation.document import ROOT, Document, child_path
from mentatlab.validation.findings import Finding, Mode, Severity
from mentatlab.validation.rules import severity_of
from mentatlab.validation.schema import SchemaKind, schema_problems

__all__ = ["Reporter"]


_Model = TypeVar("_Model", bound=BaseModel)


def _same(path: str) -> str:
    return path


class Reporter:
    """Turns ``(path, rule, message)`` into findings with the file, line and mode's severity.

    ``origin`` maps a path of the validated data back to the path the user wrote (legacy
    manifests are validated in their normalised form).
    """

    def __init__(
        self, document: Document, mode: Mode, origin: Callable[[str], str] = _same
    ) -> None:
        self.document, self.mode, self.origin = document, mode, origin
        self.findings: list[Finding] = []

    def add(self, path: str, rule: str, message: str) -> None:
        original = self.origin(path)
        self.findings.append(
            Finding(
                file=self.document.file,
                path=original,
                line=self.document.line_of(original),
                rule=rule,
                message=message,
                severity=severity_of(rule, self.mode),
            )
        )

    def parse(self, kind: SchemaKind, data: Any, model: type[_Model]) -> _Model | None:
        """``data`` as ``model`` if it passes the schema ``kind`` and then the model; else
        ``None``, every problem reported (and any error reported before counts too)."""
        for path, rule, message in schema_problems(kind, data):
            self.add(path, rule, message)
        if self.has_errors:
            return None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            self.add_model_errors(exc)
            return None

    def add_model_errors(self, exc: ValidationError) -> None:
        # The schemas and the models agree (tests/model prove it); this guards against drift.
        for error in exc.errors():
            path = ROOT
            for part in error["loc"]:
                path = child_path(path, part)
            self.add(path, "schema.model", error["msg"])

    def extend(self, findings: Iterable[Finding]) -> None:
        self.findings.extend(findings)

    @property
    def has_errors(self) -> bool:
        return any(finding.severity is Severity.ERROR for finding in self.findings)
