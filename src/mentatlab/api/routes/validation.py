"""``POST /api/v1/validate``: the report of ``mentatctl validate --output json``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from mentatlab.api.auth import authorize
from mentatlab.api.paths import API_PREFIX
from mentatlab.api.problems import problem_responses
from mentatlab.api.schemas import validation_result
from mentatlab.api.state import server_state
from mentatlab.model.api import ValidateRequest, ValidationResult
from mentatlab.service.registry import registered_agents
from mentatlab.store import ApiKey, Scope
from mentatlab.validation import Mode, validate_data

__all__ = ["router"]

router = APIRouter(prefix=API_PREFIX, tags=["validation"])


@router.post(
    "/validate",
    responses=problem_responses(401, 403, 413, 422),
    summary="Validate an agent manifest or a flow",
)
def validate(
    body: ValidateRequest,
    request: Request,
    _: Annotated[ApiKey, Depends(authorize(Scope.READ, "validate"))],
) -> ValidationResult:
    """The kind of document is told by its content, as `mentatctl validate` does; flows
    resolve agents where the server finds them (registered agents included). The server's
    security policy is enforced (`policy.*` rules). An invalid document is a 200 whose report
    says `valid: false`."""
    server = server_state(request)
    report = validate_data(
        body.document,
        agent_dirs=server.settings.agent_dirs,
        mode=Mode(body.mode.value),
        agents=registered_agents(server.registry),
        policy=server.settings.policy,
    )
    return validation_result(report)
