"""What the registry stores, checked: manifests and flows validated as ``mentatctl validate``
validates files, and the registered agents a flow's nodes can run.

A registered agent runs on this machine only when its Cog-Pak location is a directory here
(an absolute path or a ``file://`` URI); other locations (``oci://…``) are stored for
clients, and flows cannot resolve them locally.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from mentatlab.model.manifest import AgentManifest
from mentatlab.model.policy import Policy
from mentatlab.store import InvalidRegistryEntryError, Registry
from mentatlab.validation import (
    AgentCatalog,
    Finding,
    Mode,
    ResolvedAgent,
    ValidationReport,
    agent_search_path,
    validate_flow_data,
    validate_manifest_data,
)

__all__ = [
    "InvalidDocumentError",
    "check_flow",
    "check_manifest",
    "local_directory",
    "registered_agents",
]

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


class InvalidDocumentError(Exception):
    """A manifest or flow failed validation; ``report`` is what ``mentatctl validate`` says."""

    def __init__(self, kind: str, findings: Sequence[Finding]) -> None:
        self.kind = kind
        self.report = ValidationReport.of(list(findings))
        first = self.report.errors[0]
        more = f" (and {len(self.report.errors) - 1} more)" if len(self.report.errors) > 1 else ""
        super().__init__(
            f"the {kind} is invalid: {first.rule} at {first.path}: {first.message}{more}"
        )


def local_directory(location: str) -> Path | None:
    """The directory on this machine a Cog-Pak location names, or ``None`` for other URIs.

    Raises :class:`InvalidRegistryEntryError` for a relative path (relative to what?).
    """
    if _URI.match(location):
        parts = urlsplit(location)
        if parts.scheme != "file":
            return None
        if parts.netloc not in {"", "localhost"}:
            raise InvalidRegistryEntryError(f"{location!r} names a file on another host")
        location = unquote(parts.path)
    path = Path(location)
    if not path.is_absolute():
        raise InvalidRegistryEntryError(
            f"the Cog-Pak location {location!r} is a relative path; "
            "give an absolute path, a file:// URI, or another URI (oci://…)"
        )
    return path


def check_manifest(manifest: object, location: str, *, policy: Policy | None) -> dict[str, Any]:
    """The manifest as validated (v1 format, ``policy`` enforced), to register with
    ``location``.

    A local Cog-Pak must be a directory here, holding the agent's program. Raises
    :class:`InvalidDocumentError` and :class:`InvalidRegistryEntryError`.
    """
    if "\x00" in location:
        raise InvalidRegistryEntryError("the Cog-Pak location contains a NUL character")
    directory = local_directory(location)
    if directory is not None and not _is_directory(directory):
        raise InvalidRegistryEntryError(f"the Cog-Pak directory {directory} does not exist")
    parsed, findings = validate_manifest_data(manifest, directory=directory, policy=policy)
    if parsed is None:
        raise InvalidDocumentError("manifest", findings)
    return parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)


def check_flow(
    flow: object,
    *,
    agent_dirs: Sequence[Path],
    agents: Iterable[ResolvedAgent],
    policy: Policy | None,
) -> dict[str, Any]:
    """The flow as validated (strict: its agents must resolve; ``policy`` enforced), to store.

    Raises :class:`InvalidDocumentError`.
    """
    catalog = AgentCatalog(agent_search_path(agent_dirs), mode=Mode.STRICT, agents=agents)
    parsed, findings = validate_flow_data(flow, catalog, policy=policy)
    if parsed is None:
        raise InvalidDocumentError("flow", findings)
    return parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)


def registered_agents(registry: Registry) -> list[ResolvedAgent]:
    """The registered agents whose Cog-Pak is a directory here that still exists."""
    resolved = []
    for agent in registry.list_agents():
        directory = local_directory(agent.location)
        if directory is not None and _is_directory(directory):
            manifest = AgentManifest.model_validate(agent.manifest)
            resolved.append(ResolvedAgent(manifest, directory, directory / "manifest.yaml"))
    return resolved


def _is_directory(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):  # a NUL byte or a name too long: no such directory
        return False
