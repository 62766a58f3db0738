"""API key authentication and scope checks, as a FastAPI dependency per route.

``Authorization: Bearer <key>``: no key or an unknown/revoked one is a 401 (with
``WWW-Authenticate``), a key without the route's scope a 403. Scopes nest (``admin`` ⊃
``write`` ⊃ ``read``). The dependency also names the route's action for the audit entry the
request middleware writes (every mutating request, every 401 and 403).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from mentatlab.api.problems import ApiProblem
from mentatlab.api.state import SAFE_METHODS, request_context, server_state
from mentatlab.store import ApiKey, Scope, key_id_of

__all__ = ["actor_of", "authorize"]

_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="mlk_<id>_<secret>",
    description="An API key (mentatctl apikey create)",
)

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def actor_of(key: ApiKey) -> str:
    """How the audit log names a key: by name and id, never by the key."""
    return f"key:{key.name} ({key.id})"


def authorize(required: Scope, action: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency admitting keys that allow ``required``; ``action`` names the route in
    the audit log (``run.create``), where its requests go unless they only read."""

    async def dependency(request: Request, credentials: Credentials) -> ApiKey:
        context = request_context(request)
        context.action = action
        # What only needs `read` changes nothing, even when posted (validation).
        context.mutating = required is not Scope.READ and request.method not in SAFE_METHODS
        if credentials is None:
            raise _unauthenticated("send an API key: Authorization: Bearer <key>")
        key = await run_in_threadpool(
            server_state(request).keys.authenticate, credentials.credentials
        )
        if key is None:
            presented = key_id_of(credentials.credentials)
            if presented is not None:
                context.details["key_id"] = presented
            raise _unauthenticated("the API key is unknown or revoked", error="invalid_token")
        context.actor = actor_of(key)
        if not key.allows(required):
            raise ApiProblem(
                403,
                f"the API key {key.name!r} lacks the {required.value!r} scope",
                slug="insufficient-scope",
                headers={
                    "WWW-Authenticate": (
                        f'Bearer realm="mentatlab", error="insufficient_scope", '
                        f'scope="{required.value}"'
                    )
                },
            )
        return key

    return dependency


def _unauthenticated(detail: str, *, error: str | None = None) -> ApiProblem:
    challenge = 'Bearer realm="mentatlab"' + (f', error="{error}"' if error else "")
    return ApiProblem(401, detail, slug="unauthenticated", headers={"WWW-Authenticate": challenge})
