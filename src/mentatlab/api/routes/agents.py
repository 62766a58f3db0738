"""``/api/v1/agents``: register agent manifests with where their Cog-Pak lives."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from mentatlab.api.auth import authorize
from mentatlab.api.paths import API_PREFIX, version_query
from mentatlab.api.problems import problem_responses
from mentatlab.api.schemas import agent_info
from mentatlab.api.state import request_context, server_state
from mentatlab.model.api import (
    MAX_REGISTRY_ID,
    MAX_SEQ,
    AgentInfo,
    AgentPage,
    AgentRegister,
    Deleted,
)
from mentatlab.service.registry import check_manifest
from mentatlab.store import ApiKey, Scope

__all__ = ["router"]

router = APIRouter(prefix=f"{API_PREFIX}/agents", tags=["agents"])

AgentId = Annotated[str, Path(max_length=MAX_REGISTRY_ID, description="An agent's id")]
Reader = Annotated[ApiKey, Depends(authorize(Scope.READ, "agent.read"))]


@router.post(
    "",
    status_code=201,
    responses={
        200: {"description": "Registered already, identically"},
        **problem_responses(401, 403, 409, 413, 422),
    },
    summary="Register an agent manifest and its Cog-Pak location",
)
def register_agent(
    body: AgentRegister,
    request: Request,
    response: Response,
    _: Annotated[ApiKey, Depends(authorize(Scope.WRITE, "agent.register"))],
) -> AgentInfo:
    """The manifest is validated as `mentatctl validate` does, with the server's security
    policy (a 422 problem with the `report` if it is invalid). A location that is a
    directory on the server must exist and hold the agent's program; flows run there resolve
    the agent from it. An `id@version` registered already is a 409 unless the registration
    is the same (then a 200)."""
    server = server_state(request)
    manifest = check_manifest(body.manifest, body.location, policy=server.settings.policy)
    record, created = server.registry.register_agent(manifest, body.location)
    request_context(request).resource = f"agents/{record.id}@{record.version}"
    if created:
        query = urlencode({"version": record.version})  # semver build metadata has "+"
        response.headers["Location"] = f"{request.url.path}/{record.id}?{query}"
    else:
        response.status_code = 200
    return agent_info(record)


@router.get(
    "", responses=problem_responses(401, 403, 422), summary="List registered agents, newest first"
)
def list_agents(
    request: Request,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        int | None, Query(ge=1, le=MAX_SEQ, description="next_cursor of the previous page")
    ] = None,
    agent_id: Annotated[
        str | None,
        Query(alias="id", max_length=MAX_REGISTRY_ID, description="Only this agent's versions"),
    ] = None,
) -> AgentPage:
    agents = server_state(request).registry.list_agents(
        limit=limit + 1, before=cursor, agent_id=agent_id
    )
    more = len(agents) > limit
    return AgentPage(
        items=[agent_info(agent) for agent in agents[:limit]],
        next_cursor=agents[limit - 1].seq if more else None,
    )


@router.get(
    "/{agent_id}",
    responses=problem_responses(401, 403, 404, 422),
    summary="A registered agent (its highest version unless `version` is given)",
)
def get_agent(
    request: Request,
    agent_id: AgentId,
    _: Reader,
    version: Annotated[str | None, version_query("This version; default: the highest")] = None,
) -> AgentInfo:
    return agent_info(server_state(request).registry.get_agent(agent_id, version))


@router.delete(
    "/{agent_id}",
    responses=problem_responses(401, 403, 404, 422),
    summary="Unregister an agent (every version unless `version` is given)",
)
def delete_agent(
    request: Request,
    agent_id: AgentId,
    _: Annotated[ApiKey, Depends(authorize(Scope.WRITE, "agent.delete"))],
    version: Annotated[
        str | None, version_query("Only this version; default: every version")
    ] = None,
) -> Deleted:
    """Flows stored with the agent stay; runs of them fail validation until it is back."""
    context = request_context(request)
    context.resource = f"agents/{agent_id}" + (f"@{version}" if version else "")
    deleted = server_state(request).registry.delete_agent(agent_id, version)
    context.details["versions"] = deleted
    return Deleted(id=agent_id, versions=deleted)
