"""What a server is configured with; ``mentatctl serve`` fills it in from its options."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mentatlab.store import SqlRunStore

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
