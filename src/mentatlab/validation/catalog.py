"""The agent catalog: Cog-Paks discovered in an ordered list of directories.

A directory contributes each child directory holding ``manifest.yaml``/``manifest.yml`` (a
Cog-Pak) and each ``*.manifest.yaml``/``*.manifest.yml`` file directly inside it.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from mentatlab.model.flow import AgentRef
from mentatlab.model.manifest import AgentManifest
from mentatlab.validation.findings import Finding, Mode, Severity
from mentatlab.validation.loading import MANIFEST_FILENAMES, read_document
from mentatlab.validation.manifests import validate_manifest_document
from mentatlab.validation.semver import semver_key

__all__ = [
    "AGENTS_PATH_VARIABLE",
    "AgentCatalog",
    "AgentNotFoundError",
    "AgentResolutionError",
    "InvalidAgentError",
    "ResolvedAgent",
    "agent_search_path",
]

AGENTS_PATH_VARIABLE: Final = "MENTATLAB_AGENTS_PATH"
_FILE_SUFFIXES: Final = (".manifest.yaml", ".manifest.yml")


@dataclass(frozen=True, slots=True)
class ResolvedAgent:
    manifest: AgentManifest
    directory: Path
    manifest_path: Path


@dataclass(frozen=True, slots=True)
class _InvalidManifest:
    manifest_path: Path
    claimed_id: str | None
    claimed_version: str | None
    first_error: str


class AgentResolutionError(LookupError):
    """An agent reference could not be resolved; the message says why."""


class AgentNotFoundError(AgentResolutionError):
    pass


class InvalidAgentError(AgentResolutionError):
    """The referenced agent exists but its manifest is invalid."""


def agent_search_path(
    agent_dirs: Sequence[Path] = (),
    *,
    flow_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> list[Path]:
    """Directories searched for agents, in order: each ``--agents DIR``, then
    ``$MENTATLAB_AGENTS_PATH`` (colon-separated), then ``agents/`` beside the flow file, then
    ``./agents``. Missing directories are skipped and duplicates removed.
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    candidates = list(agent_dirs)
    candidates += [Path(part) for part in environ.get(AGENTS_PATH_VARIABLE, "").split(":") if part]
    if flow_file is not None:
        candidates.append(flow_file.parent / "agents")
    candidates.append(Path("agents"))
    result: list[Path] = []
    for candidate in candidates:
        directory = (cwd / candidate).resolve()
        if directory.is_dir() and directory not in result:
            result.append(directory)
    return result


class AgentCatalog:
    """Every valid agent found in ``directories`` (earlier directories win ties).

    ``agents`` are registered first, for agents that do not live in a directory (the
    ``Agent`` resources of a Kubernetes namespace).
    """

    def __init__(
        self,
        directories: Iterable[Path] = (),
        *,
        mode: Mode = Mode.STRICT,
        agents: Iterable[ResolvedAgent] = (),
    ) -> None:
        self.directories = tuple(directories)
        self._agents: dict[str, list[ResolvedAgent]] = {}
        self._invalid: list[_InvalidManifest] = []
        for agent in agents:
            self._add(agent)
        for directory in self.directories:
            for path in _manifest_files(directory):
                self._load(path, mode)
        for versions in self._agents.values():
            # Stable sort: for equal versions the first directory in the search order stays first.
            versions.sort(key=lambda agent: semver_key(agent.manifest.version), reverse=True)

    @property
    def agents(self) -> tuple[ResolvedAgent, ...]:
        return tuple(agent for versions in self._agents.values() for agent in versions)

    def resolve(self, reference: str) -> ResolvedAgent:
        """Resolve ``id`` (highest version), ``id:version`` or ``id@version``.

        Raises :class:`InvalidAgentError` if only an invalid manifest matches, and
        :class:`AgentNotFoundError` (naming close matches) if nothing does.
        """
        ref = AgentRef.parse(reference)
        versions = self._agents.get(ref.id, [])
        for agent in versions:
            if ref.version is None or agent.manifest.version == ref.version:
                return agent
        for invalid in self._invalid:
            if _claims(invalid, ref):
                raise InvalidAgentError(
                    f"agent {reference!r} at {invalid.manifest_path} has an invalid manifest: "
                    f"{invalid.first_error}"
                )
        if versions:
            found = ", ".join(agent.manifest.version for agent in versions)
            raise AgentNotFoundError(
                f"agent {ref.id!r} has no version {ref.version!r} (found: {found})"
            )
        raise AgentNotFoundError(self._not_found_message(reference, ref.id))

    def _add(self, agent: ResolvedAgent) -> None:
        versions = self._agents.setdefault(agent.manifest.id, [])
        if all(other.manifest.version != agent.manifest.version for other in versions):
            versions.append(agent)

    def _not_found_message(self, reference: str, agent_id: str) -> str:
        close = difflib.get_close_matches(agent_id, list(self._agents), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        where = ", ".join(map(str, self.directories)) or "no agent directories"
        return f"agent {reference!r} not found in {where}{hint}"

    def _load(self, path: Path, mode: Mode) -> None:
        document, findings = read_document(path)
        manifest = None
        if document is not None:
            manifest, findings = validate_manifest_document(
                document, mode=mode, load_findings=findings
            )
        if manifest is not None:
            self._add(ResolvedAgent(manifest, path.parent, path))
            return
        data = document.data if document is not None else {}
        claimed_id, claimed_version = data.get("id"), data.get("version")
        self._invalid.append(
            _InvalidManifest(
                manifest_path=path,
                claimed_id=claimed_id if isinstance(claimed_id, str) else None,
                claimed_version=claimed_version if isinstance(claimed_version, str) else None,
                first_error=_first_error(findings),
            )
        )


def _manifest_files(directory: Path) -> list[Path]:
    try:
        children = sorted(directory.iterdir())
    except OSError:
        return []
    found: list[Path] = []
    for child in children:
        if child.is_dir():
            found += [child / name for name in MANIFEST_FILENAMES if (child / name).is_file()][:1]
        elif child.is_file() and child.name.endswith(_FILE_SUFFIXES):
            found.append(child)
    return found


def _claims(invalid: _InvalidManifest, ref: AgentRef) -> bool:
    """Whether an invalid manifest is the one ``ref`` means (by its id, else its folder name)."""
    if invalid.claimed_id is not None:
        if invalid.claimed_id != ref.id:
            return False
        return ref.version is None or invalid.claimed_version in (None, ref.version)
    folder = invalid.manifest_path.parent.name
    return invalid.manifest_path.name in MANIFEST_FILENAMES and ref.id.split(".")[-1] == folder


def _first_error(findings: list[Finding]) -> str:
    errors = [finding for finding in findings if finding.severity is Severity.ERROR]
    if not errors:
        return "no usable manifest"
    first = errors[0]
    where = f"line {first.line}, " if first.line is not None else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}{first.path}: {first.message}{more}"
