"""``/api/v1/keys`` and ``/api/v1/audit``: API keys and the audit log, for ``admin`` keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from mentatlab.api.auth import authorize
from mentatlab.api.paths import API_PREFIX
from mentatlab.api.problems import problem_responses
from mentatlab.api.schemas import audit_entry_info, key_info, verification_info
from mentatlab.api.state import request_context, server_state
from mentatlab.model.api import (
    MAX_SEQ,
    AuditPage,
    AuditVerification,
    KeyCreate,
    KeyCreated,
    KeyInfo,
    KeyPage,
)
from mentatlab.store import ApiKey, Scope

__all__ = ["router"]

router = APIRouter(prefix=API_PREFIX, tags=["admin"])

KeyRef = Annotated[str, Path(max_length=64, description="A key's name or id")]


def _admin(action: str) -> object:
    return Depends(authorize(Scope.ADMIN, action))


@router.post(
    "/keys",
    status_code=201,
    responses=problem_responses(401, 403, 409, 413, 422),
    summary="Create an API key",
)
def create_key(
    body: KeyCreate, request: Request, _: Annotated[ApiKey, _admin("apikey.create")]
) -> KeyCreated:
    """The answer holds the key itself, which no later request shows again."""
    scopes = [Scope(scope.value) for scope in body.scopes]
    record, key = server_state(request).keys.create(body.name, scopes)
    request_context(request).resource = f"apikeys/{record.id}"
    request_context(request).details.update(name=record.name, scopes=sorted(scopes))
    return KeyCreated(**key_info(record).model_dump(), key=key)


@router.get("/keys", responses=problem_responses(401, 403), summary="List API keys")
def list_keys(request: Request, _: Annotated[ApiKey, _admin("apikey.list")]) -> KeyPage:
    return KeyPage(items=[key_info(key) for key in server_state(request).keys.list_keys()])


@router.delete(
    "/keys/{key}",
    responses=problem_responses(401, 403, 404, 422),
    summary="Revoke an API key (it stays listed, revoked)",
)
def revoke_key(
    request: Request, key: KeyRef, _: Annotated[ApiKey, _admin("apikey.revoke")]
) -> KeyInfo:
    record, changed = server_state(request).keys.revoke(key)
    request_context(request).resource = f"apikeys/{record.id}"
    request_context(request).details["already_revoked"] = not changed
    return key_info(record)


@router.get(
    "/audit", responses=problem_responses(401, 403, 422), summary="Audit entries, newest first"
)
def list_audit(
    request: Request,
    _: Annotated[ApiKey, _admin("audit.list")],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[
        int | None, Query(ge=1, le=MAX_SEQ, description="next_cursor of the previous page")
    ] = None,
) -> AuditPage:
    entries = server_state(request).audit.list_entries(limit=limit + 1, before_seq=cursor)
    more = len(entries) > limit
    return AuditPage(
        items=[audit_entry_info(entry) for entry in entries[:limit]],
        next_cursor=entries[limit - 1].seq if more else None,
    )


@router.get(
    "/audit/verify",
    responses=problem_responses(401, 403),
    summary="Check the audit log's hash chain",
)
def verify_audit(
    request: Request, _: Annotated[ApiKey, _admin("audit.verify")]
) -> AuditVerification:
    return verification_info(server_state(request).audit.verify())
