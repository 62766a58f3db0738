"""Run secrets: where their values come from and which nodes receive them.

A flow names the secrets its run needs (``runConfig.secrets``). Before any node starts, each
name is resolved from a :class:`SecretSource`: locally the environment
(``MENTATLAB_SECRET_<NAME>``) or a secrets file, in a cluster a Kubernetes Secret the operator
reads. A name that resolves to nothing fails the run at once, so no agent starts half
configured. Values then reach only agents whose manifest declares the ``secrets`` capability
(and that a :data:`SecretPolicy` allows), inside their input envelope, never in argv or the
environment. ``docs/security.md`` describes the whole control.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Final, Protocol

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from mentatlab.model.manifest import LEGACY_PROTOCOL, AgentManifest

__all__ = [
    "SECRETS_FILE_ENV",
    "SECRET_ENV_PREFIX",
    "EnvironmentSecrets",
    "MappingSecrets",
    "MissingSecretsError",
    "RunSecrets",
    "SecretPolicy",
    "SecretSource",
    "SecretsFileError",
    "chain_sources",
    "is_secret_name",
    "load_secrets_file",
    "resolve_secrets",
]

SECRET_ENV_PREFIX: Final = "MENTATLAB_SECRET_"  # noqa: S105 - a variable name prefix
"""``MENTATLAB_SECRET_API_KEY`` holds secret ``API_KEY``: a prefix, so that a flow can never
ask for an unrelated variable of the process (``PATH``, a cloud credential) by its name."""
SECRETS_FILE_ENV: Final = "MENTATLAB_SECRETS_FILE"
"""A secrets file used when no ``--secrets-file`` is given."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DOTENV_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)\Z")


def is_secret_name(name: str) -> bool:
    """Whether ``name`` can name a secret: a letter or ``_``, then letters, digits, ``_``
    (what an environment variable and a Kubernetes Secret key can both hold)."""
    return _NAME.match(name) is not None


class SecretSource(Protocol):
    def lookup(self, name: str) -> str | None:
        """The value of secret ``name``, or ``None`` when this source does not have it."""
        ...

    def where(self, name: str) -> str:
        """Where this source looks for ``name``, for an error message (never a value)."""
        ...


class EnvironmentSecrets:
    """Secrets from environment variables ``MENTATLAB_SECRET_<NAME>``; an empty one is unset."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def lookup(self, name: str) -> str | None:
        return self._environ.get(SECRET_ENV_PREFIX + name) or None

    def where(self, name: str) -> str:
        return f"${SECRET_ENV_PREFIX}{name}"


@dataclass(frozen=True)
class MappingSecrets:
    """Secrets already read into memory: a secrets file, or a Kubernetes Secret's data."""

    values: Mapping[str, str] = field(repr=False)
    description: str
    """Where the values came from, e.g. ``secrets file ./dev.secrets``."""

    def lookup(self, name: str) -> str | None:
        return self.values.get(name) or None

    def where(self, name: str) -> str:
        return f"key {name} of {self.description}"


@dataclass(frozen=True)
class _Chain:
    sources: tuple[SecretSource, ...]

    def lookup(self, name: str) -> str | None:
        return next((v for s in self.sources if (v := s.lookup(name)) is not None), None)

    def where(self, name: str) -> str:
        return " or ".join(source.where(name) for source in self.sources)


def chain_sources(*sources: SecretSource) -> SecretSource:
    """The first of ``sources`` that has a name wins."""
    return sources[0] if len(sources) == 1 else _Chain(sources)


class SecretsFileError(Exception):
    """A secrets file cannot be read or is not a mapping of names to strings."""


class MissingSecretsError(Exception):
    """Secrets the run needs that no source has; the message says where each was looked for."""

    def __init__(self, names: Iterable[str], source: SecretSource) -> None:
        self.names = tuple(names)
        listed = "; ".join(f"{name!r} (looked in {source.where(name)})" for name in self.names)
        noun = "secret" if len(self.names) == 1 else "secrets"
        super().__init__(f"the run needs {noun} that are not set: {listed}")


def resolve_secrets(names: Iterable[str], source: SecretSource) -> dict[str, str]:
    """The value of every name; raises :class:`MissingSecretsError` naming each one missing
    (and each invalid name) at once, so a user fixes them in one go."""
    values: dict[str, str] = {}
    missing: list[str] = []
    for name in dict.fromkeys(names):
        value = source.lookup(name) if is_secret_name(name) else None
        if value is None:
            missing.append(name)
        else:
            values[name] = value
    if missing:
        raise MissingSecretsError(missing, source)
    return values


def load_secrets_file(path: Path) -> tuple[MappingSecrets, list[str]]:
    """Read a secrets file: a YAML mapping ``NAME: value`` or dotenv lines ``NAME=value``.

    Returns the secrets and warnings (a file others may read). Raises
    :class:`SecretsFileError` for an unreadable or malformed file; the message never quotes
    the file's content, which holds secrets.
    """
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SecretsFileError(f"cannot read secrets file {path}: {reason}") from None
    warnings = []
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(
            f"secrets file {path} is accessible to other users (mode {stat.S_IMODE(mode):04o}); "
            f"restrict it with: chmod 600 {path}"
        )
    values = _dotenv(text) if _looks_like_dotenv(text) else _yaml_mapping(text, path)
    for name in values:
        if not is_secret_name(name):
            raise SecretsFileError(
                f"secrets file {path}: {name!r} is not a secret name "
                "(letters, digits and _, not starting with a digit)"
            )
    return MappingSecrets(values, f"secrets file {path}"), warnings


def _significant_lines(text: str) -> list[str]:
    return [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def _looks_like_dotenv(text: str) -> bool:
    lines = _significant_lines(text)
    return bool(lines) and all(_DOTENV_LINE.match(line) for line in lines)


def _dotenv(text: str) -> dict[str, str]:
    values = {}
    for match in filter(None, map(_DOTENV_LINE.match, _significant_lines(text))):
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[match.group(1)] = value
    return values


def _yaml_mapping(text: str, path: Path) -> dict[str, str]:
    try:
        data = YAML(typ="safe").load(StringIO(text))
    except YAMLError:
        # The parser's message quotes the offending line, which may be a secret.
        raise SecretsFileError(
            f"secrets file {path} is neither a YAML mapping nor NAME=value lines"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SecretsFileError(f"secrets file {path} must map secret names to values")
    values = {}
    for name, value in data.items():
        if not isinstance(value, str):
            raise SecretsFileError(
                f"secrets file {path}: the value of {name!r} must be a string (quote it)"
            )
        values[str(name)] = value
    return values


SecretPolicy = Callable[[AgentManifest, str], bool]
"""Whether an agent may receive a secret (agent manifest, secret name). The security policy
plugs its "which secrets an agent may receive" rule in here."""


@dataclass(frozen=True)
class RunSecrets:
    """The resolved secrets of one run and the rule deciding which node receives which."""

    values: Mapping[str, str] = field(default_factory=dict, repr=False)
    allow: SecretPolicy | None = None

    def for_agent(self, manifest: AgentManifest) -> tuple[dict[str, str], tuple[str, ...]]:
        """The secrets an agent receives, and the names withheld from an agent that declares
        the ``secrets`` capability (by the policy, or because a legacy agent has no envelope
        to carry them). An agent without the capability receives none and is not told."""
        if not manifest.capabilities.secrets or not self.values:
            return {}, ()
        if manifest.protocol == LEGACY_PROTOCOL:
            return {}, tuple(self.values)
        allowed = {
            name: value
            for name, value in self.values.items()
            if self.allow is None or self.allow(manifest, name)
        }
        return allowed, tuple(name for name in self.values if name not in allowed)
