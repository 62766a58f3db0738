"""Agent tokens: short-lived JWTs naming exactly one attempt of one node of one run.

A server gives each attempt it starts a token (HS256, RFC 7519) signed with a key only the
server holds, kept in its home directory with mode 0600. The token's audience is the agent
events endpoint and nothing else; its claims name the run, node and attempt it may report
for, and it expires. Whether the attempt is still running is checked on every use
(:class:`~mentatlab.engine.identity.LiveAttempts`), so a token dies with its attempt.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import jwt

from mentatlab.model.protocol import AgentIdentity

__all__ = [
    "AGENT_TOKEN_AUDIENCE",
    "AGENT_TOKEN_KEY_FILE",
    "DEFAULT_TOKEN_TTL_SECONDS",
    "AgentTokenError",
    "AgentTokens",
    "AttemptClaims",
    "load_or_create_key",
]

AGENT_TOKEN_AUDIENCE: Final = "mentatlab:agent-events"  # noqa: S105 - a JWT "aud" claim
"""The only thing an agent token is good for: a token for another audience is refused."""
DEFAULT_TOKEN_TTL_SECONDS: Final = 3600.0
AGENT_TOKEN_KEY_FILE: Final = "agent-token.key"  # noqa: S105 - a file name
"""The signing key's file in the server's home directory."""
_ISSUER: Final = "mentatlab"
_ALGORITHM: Final = "HS256"
_KEY_BYTES: Final = 32  # 256 bits, the HS256 key size RFC 7518 asks for


class AgentTokenError(Exception):
    """A token that is not a valid, unexpired agent token of this server. The message says
    why without quoting the token."""


@dataclass(frozen=True)
class AttemptClaims:
    run_id: str
    node_id: str
    attempt: int


class AgentTokens:
    """Issues and verifies agent tokens; implements the engine's ``IdentityIssuer``."""

    def __init__(
        self,
        key: bytes,
        *,
        ttl_seconds: float = DEFAULT_TOKEN_TTL_SECONDS,
        base_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``base_url`` (``http://host:port``) makes the envelope carry the events URL."""
        if len(key) < _KEY_BYTES:
            raise ValueError(f"an agent token key needs at least {_KEY_BYTES} bytes")
        self._key = key
        self._ttl = ttl_seconds
        self._base_url = base_url.rstrip("/") if base_url else None
        self._clock = clock

    def issue(self, *, run_id: str, node_id: str, attempt: int) -> AgentIdentity:
        now = self._clock()
        expires = int(now + self._ttl)
        claims = {
            "iss": _ISSUER,
            "aud": AGENT_TOKEN_AUDIENCE,
            "sub": f"{run_id}/{node_id}/{attempt}",
            "run": run_id,
            "node": node_id,
            "attempt": attempt,
            "iat": int(now),
            "exp": expires,
            "jti": secrets.token_hex(8),
        }
        token = jwt.encode(claims, self._key, algorithm=_ALGORITHM)
        events_url = None
        if self._base_url is not None:
            events_url = (
                f"{self._base_url}/api/v1/runs/{quote(run_id, safe='')}"
                f"/nodes/{quote(node_id, safe='')}/events"
            )
        return AgentIdentity(
            token=token,
            expires_at=datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            events_url=events_url,
        )

    def verify(self, token: str) -> AttemptClaims:
        """The attempt ``token`` names; raises :class:`AgentTokenError` if it is not one."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],  # pinned: no "none", no algorithm confusion
                audience=AGENT_TOKEN_AUDIENCE,
                issuer=_ISSUER,
                # Expiry is checked below against this object's clock (the one it issues by).
                options={
                    "require": ["exp", "iat", "aud", "iss", "sub"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidTokenError:
            raise AgentTokenError("not a valid agent token of this server") from None
        run, node, attempt = claims.get("run"), claims.get("node"), claims.get("attempt")
        expires = claims.get("exp")
        if not (
            isinstance(run, str)
            and isinstance(node, str)
            and type(attempt) is int
            and type(expires) is int
        ):
            raise AgentTokenError("not a valid agent token of this server")
        if expires <= self._clock():
            raise AgentTokenError("the agent token has expired")
        return AttemptClaims(run, node, attempt)


def load_or_create_key(path: Path) -> bytes:
    """The signing key in ``path``, created (random, mode 0600) when it does not exist."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(_KEY_BYTES)
        # O_EXCL: two servers starting at once keep one key, the loser reads the winner's.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as file:
            file.write(key)
        return key
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # a key others could read would let them forge tokens
    return key
