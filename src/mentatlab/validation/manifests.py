"""Loading and validating agent manifests (v1 and the original format)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from mentatlab.model.manifest import AgentManifest
from mentatlab.model.policy import Policy
from mentatlab.validation.document import ROOT, Document, child_path
from mentatlab.validation.findings import Finding, Mode
from mentatlab.validation.legacy import is_legacy_manifest, normalise_legacy_manifest
from mentatlab.validation.loading import (
    MANIFEST_FILENAMES,
    document_from_data,
    manifest_file,
    read_document,
)
from mentatlab.validation.manifest_rules import check_manifest
from mentatlab.validation.policy import check_manifest_policy, cogpak_directory
from mentatlab.validation.reporter import Reporter
from mentatlab.validation.schema import SchemaKind

__all__ = ["load_manifest", "validate_manifest_data", "validate_manifest_document"]

_PLACEHOLDER: Final = re.compile(r"\{\{\s*[A-Z][A-Z0-9_]*\s*\}\}")


def load_manifest(
    path: Path, *, mode: Mode = Mode.STRICT, policy: Policy | None = None
) -> tuple[AgentManifest | None, list[Finding]]:
    """Load and validate a manifest file or Cog-Pak directory, and enforce ``policy`` if given.

    Returns the manifest (``None`` if any error was found) and every finding. Raises
    :class:`~mentatlab.validation.findings.UsageError` if ``path`` does not exist or is a
    directory without a manifest.
    """
    document, findings = read_document(manifest_file(path))
    if document is None:
        return None, findings
    return validate_manifest_document(document, mode=mode, load_findings=findings, policy=policy)


def validate_manifest_data(
    data: object,
    *,
    directory: Path | None = None,
    mode: Mode = Mode.STRICT,
    file: str = "<manifest>",
    policy: Policy | None = None,
) -> tuple[AgentManifest | None, list[Finding]]:
    """Validate a manifest already in memory (e.g. a request body); findings have no lines.

    ``directory`` is its Cog-Pak, when it has one on this machine: the rules then also check
    that the agent's program exists there, as for a manifest read from a file.
    """
    document, findings = document_from_data(data, file)
    if document is None:
        return None, findings
    return validate_manifest_document(
        replace(document, directory=directory), mode=mode, load_findings=findings, policy=policy
    )


def validate_manifest_document(
    document: Document,
    *,
    mode: Mode = Mode.STRICT,
    load_findings: list[Finding] | None = None,
    policy: Policy | None = None,
) -> tuple[AgentManifest | None, list[Finding]]:
    """Validate a parsed manifest: template markers, legacy format, schema, semantic rules,
    then ``policy`` (if given) on a manifest found valid."""
    report = Reporter(document, mode)
    placeholders = _placeholders(document)
    if placeholders:
        for path, marker in placeholders:
            message = f"{marker} is a template placeholder; fill in the template before using it"
            report.add(path, "manifest.template-placeholder", message)
        return None, report.findings
    report.extend(load_findings or ())
    data = document.data
    if is_legacy_manifest(data):
        message = (
            "manifest uses the original format (no apiVersion); read as mentatlab.io/v1 "
            "(its agent speaks the original contract unless it sets 'protocol')"
        )
        report.add(ROOT, "manifest.legacy-format", message)
        data, report.origin = normalise_legacy_manifest(data)
    manifest = report.parse(SchemaKind.MANIFEST, data, AgentManifest)
    if manifest is None:
        return None, report.findings
    check_manifest(manifest, report, document.directory)
    if policy is not None and not report.has_errors:
        check_manifest_policy(manifest, policy, report, _cogpak(document))
    return (None if report.has_errors else manifest), report.findings


def _cogpak(document: Document) -> Path | None:
    """The Cog-Pak directory of a manifest read from a file, or given with its data."""
    if document.directory is None:
        return None
    read_from = Path(document.file)
    candidates = (
        [read_from]
        if read_from.parent == document.directory
        else [document.directory / name for name in MANIFEST_FILENAMES]
    )
    return next(filter(None, map(cogpak_directory, candidates)), None)


def _placeholders(document: Document) -> list[tuple[str, str]]:
    """``(path, marker)`` of every ``{{PLACEHOLDER}}`` left in a manifest template."""
    strings = _strings(document.data, ROOT)
    if document.text is None:
        return [(path, marker) for path, text in strings for marker in _PLACEHOLDER.findall(text)]
    # Scan the text: unquoted markers (``id: {{AGENT_ID}}``) do not even parse as strings.
    found = []
    for number, line in enumerate(document.text.splitlines(), start=1):
        if not line.lstrip().startswith("#"):
            found += [
                (_path_on_line(document, strings, number), m) for m in _PLACEHOLDER.findall(line)
            ]
    return found


def _path_on_line(document: Document, strings: list[tuple[str, str]], line: int) -> str:
    """The string value on ``line`` if there is one, else the outermost value starting there."""
    on_line = [path for path, at in document.lines.items() if at == line and path != ROOT]
    texts = [path for path, _ in strings if path in on_line]
    if texts:
        return max(texts, key=len)
    return min(on_line, key=len, default=ROOT)


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)]
    items: list[tuple[str | int, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    return [found for key, child in items for found in _strings(child, child_path(path, key))]
