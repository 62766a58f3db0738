"""What a server is configured with; ``mentatctl serve`` fills it in from its options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mentatlab.api.kubernetes import KubernetesTarget
from mentatlab.engine.secrets import EnvironmentSecrets, SecretSource
from mentatlab.model.policy import Policy
from mentatlab.store import SqlRunStore
from mentatlab.validation import default_policy

__all__ = ["DEFAULT_MAX_BODY_BYTES", "Settings"]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class Settings:
    store: SqlRunStore
    """The run store, used from the server's threads; the caller keeps owning (closing) it."""
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    workers: int = 4
    """Runs executing at once; more wait ``queued`` for a free worker."""
    metrics_open: bool = False
    """Serve ``/metrics`` without an API key (for a scraper inside a trusted network)."""
    heartbeat_seconds: float = 15.0
    """Idle time after which an event stream sends a ``: ping`` comment."""
    agent_dirs: tuple[Path, ...] = ()
    """Where agents of submitted flows are found, before ``$MENTATLAB_AGENTS_PATH``."""
    admin_key: str | None = None
    """A key to register with the ``admin`` scope at startup (``MENTATLAB_ADMIN_KEY``)."""
    policy: Policy = field(default_factory=default_policy)
    """The security policy every validation, registration and run of this server enforces."""
    secret_source: SecretSource = field(default_factory=EnvironmentSecrets)
    """Where runs find ``runConfig.secrets`` (``mentatctl serve --secrets-file``)."""
    home: Path | None = None
    """The server's home directory, which keeps the agent token key; ``None``: a key that
    lives as long as the process (tokens never outlive their attempt anyway)."""
    agent_token_ttl_seconds: float = 3600.0
    """How long an attempt's agent token is valid at most (it dies with the attempt)."""
    kubernetes: KubernetesTarget | None = None
    """Where runs asking for Kubernetes run their pods; ``None``: such runs are refused."""
