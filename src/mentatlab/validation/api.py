"""Validating a list of paths of either kind, as ``mentatctl validate`` does."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from mentatlab.validation.catalog import AgentCatalog, agent_search_path
from mentatlab.validation.document import ROOT
from mentatlab.validation.findings import Finding, Mode, UsageError, ValidationReport
from mentatlab.validation.flows import validate_flow_document
from mentatlab.validation.loading import MANIFEST_FILENAMES, manifest_file, read_document
from mentatlab.validation.manifests import validate_manifest_document

__all__ = ["DocumentKind", "detect_kind", "validate_paths"]

_MANIFEST_SUFFIXES = (".manifest.yaml", ".manifest.yml")


class DocumentKind(StrEnum):
    MANIFEST = "manifest"
    FLOW = "flow"


def detect_kind(data: Mapping[str, Any]) -> DocumentKind | None:
    """Flow: ``kind: Flow`` or a ``graph`` key. Manifest: ``kind: Agent``, or ``id`` with pins."""
    kind = data.get("kind")
    if kind == "Flow" or (kind is None and "graph" in data):
        return DocumentKind.FLOW
    if kind == "Agent" or (
        kind is None and "id" in data and ("inputs" in data or "outputs" in data)
    ):
        return DocumentKind.MANIFEST
    return None


def validate_paths(
    paths: Sequence[Path],
    *,
    agent_dirs: Sequence[Path] = (),
    mode: Mode = Mode.STRICT,
    run_inputs: Collection[str] = (),
    environ: Mapping[str, str] | None = None,
) -> ValidationReport:
    """Validate manifests, Cog-Pak directories and flows, telling them apart by content.

    Flows resolve agents through :func:`agent_search_path` (``agent_dirs``, then
    ``$MENTATLAB_AGENTS_PATH``, ``agents/`` beside the flow, ``./agents``). Raises
    :class:`UsageError` naming every path that does not exist (or is a directory without a
    manifest) before validating anything.
    """
    files = _existing_files(paths)
    catalogs: dict[tuple[Path, ...], AgentCatalog] = {}
    findings: list[Finding] = []
    for path in files:
        document, loaded = read_document(path)
        if document is None:
            findings += loaded
            continue
        named_manifest = path.name in MANIFEST_FILENAMES or path.name.endswith(_MANIFEST_SUFFIXES)
        kind = DocumentKind.MANIFEST if named_manifest else detect_kind(document.data)
        if kind is DocumentKind.MANIFEST:
            findings += validate_manifest_document(document, mode=mode, load_findings=loaded)[1]
        elif kind is DocumentKind.FLOW:
            search = tuple(agent_search_path(agent_dirs, flow_file=path, environ=environ))
            if search not in catalogs:
                catalogs[search] = AgentCatalog(search, mode=mode)
            findings += validate_flow_document(
                document, catalogs[search], mode=mode, run_inputs=run_inputs, load_findings=loaded
            )[1]
        else:
            message = (
                "cannot tell whether this is an agent manifest or a flow: "
                "set 'kind: Agent' or 'kind: Flow'"
            )
            findings += [
                *loaded,
                Finding(str(path), ROOT, document.line_of(ROOT), "load.unknown-kind", message),
            ]
    return ValidationReport.of(findings)


def _existing_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    problems: list[str] = []
    for path in paths:
        try:
            files.append(manifest_file(path))
        except UsageError as exc:
            problems.append(str(exc))
    if problems:
        raise UsageError("; ".join(problems))
    return files
