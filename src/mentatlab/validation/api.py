"""Validating a list of paths of either kind, as ``mentatctl validate`` does."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from mentatlab.model.policy import Policy
from mentatlab.validation.catalog import AgentCatalog, ResolvedAgent, agent_search_path
from mentatlab.validation.document import ROOT, Document
from mentatlab.validation.findings import Finding, Mode, UsageError, ValidationReport
from mentatlab.validation.flows import validate_flow_document
from mentatlab.validation.loading import (
    MANIFEST_FILENAMES,
    document_from_data,
    manifest_file,
    read_document,
)
from mentatlab.validation.manifests import validate_manifest_document

__all__ = ["DocumentKind", "detect_kind", "validate_data", "validate_paths"]

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
    policy: Policy | None = None,
) -> ValidationReport:
    """Validate manifests, Cog-Pak directories and flows, telling them apart by content,
    and enforce ``policy`` on them if given.

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
        catalog = None
        if kind is DocumentKind.FLOW:
            search = tuple(agent_search_path(agent_dirs, flow_file=path, environ=environ))
            if search not in catalogs:
                catalogs[search] = AgentCatalog(search, mode=mode)
            catalog = catalogs[search]
        findings += _validate_document(
            document,
            kind,
            loaded,
            catalog=catalog,
            mode=mode,
            run_inputs=run_inputs,
            policy=policy,
        )
    return ValidationReport.of(findings)


def validate_data(
    data: object,
    *,
    agent_dirs: Sequence[Path] = (),
    mode: Mode = Mode.STRICT,
    file: str = "<document>",
    agents: Iterable[ResolvedAgent] = (),
    policy: Policy | None = None,
) -> ValidationReport:
    """Validate a manifest or flow already in memory (a request body), told apart by content.

    Flows resolve agents among ``agents`` (not found in a directory: the agents a server has
    registered), then in ``agent_dirs``, ``$MENTATLAB_AGENTS_PATH`` and ``./agents``.
    """
    document, loaded = document_from_data(data, file)
    if document is None:
        return ValidationReport.of(loaded)
    kind = detect_kind(document.data)
    catalog = None
    if kind is DocumentKind.FLOW:
        catalog = AgentCatalog(agent_search_path(agent_dirs), mode=mode, agents=agents)
    return ValidationReport.of(
        _validate_document(
            document, kind, loaded, catalog=catalog, mode=mode, run_inputs=(), policy=policy
        )
    )


def _validate_document(
    document: Document,
    kind: DocumentKind | None,
    loaded: list[Finding],
    *,
    catalog: AgentCatalog | None,
    mode: Mode,
    run_inputs: Collection[str],
    policy: Policy | None,
) -> list[Finding]:
    """Validate a manifest, or a flow against ``catalog`` (given for flows only)."""
    if kind is DocumentKind.MANIFEST:
        return validate_manifest_document(document, mode=mode, load_findings=loaded, policy=policy)[
            1
        ]
    if kind is DocumentKind.FLOW and catalog is not None:
        return validate_flow_document(
            document,
            catalog,
            mode=mode,
            run_inputs=run_inputs,
            load_findings=loaded,
            policy=policy,
        )[1]
    message = (
        "cannot tell whether this is an agent manifest or a flow: set 'kind: Agent' or 'kind: Flow'"
    )
    return [
        *loaded,
        Finding(document.file, ROOT, document.line_of(ROOT), "load.unknown-kind", message),
    ]


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
