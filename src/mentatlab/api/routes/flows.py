"""``/api/v1/flows``: stored flows, versioned by ``meta.version``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from mentatlab.api.auth import authorize
from mentatlab.api.paths import API_PREFIX, version_query
from mentatlab.api.problems import problem_responses
from mentatlab.api.schemas import flow_info
from mentatlab.api.state import ServerState, request_context, server_state
from mentatlab.model.api import MAX_REGISTRY_ID, Deleted, FlowInfo, FlowPage, FlowWrite
from mentatlab.service.registry import check_flow, registered_agents
from mentatlab.store import ApiKey, Scope

__all__ = ["router"]

router = APIRouter(prefix=f"{API_PREFIX}/flows", tags=["flows"])

FlowId = Annotated[str, Path(max_length=MAX_REGISTRY_ID, description="A flow's meta.id")]
Reader = Annotated[ApiKey, Depends(authorize(Scope.READ, "flow.read"))]


@router.post(
    "",
    status_code=201,
    responses={
        200: {"description": "This version was stored already, identically"},
        **problem_responses(401, 403, 409, 413, 422),
    },
    summary="Store a new flow",
)
def create_flow(
    body: FlowWrite,
    request: Request,
    response: Response,
    _: Annotated[ApiKey, Depends(authorize(Scope.WRITE, "flow.create"))],
) -> FlowInfo:
    """The flow needs `meta.version` and is validated as `mentatctl validate` does (strict:
    its agents must resolve, registered ones included); an invalid flow is a 422 problem with
    the `report`. A flow with this id exists already: 409 (PUT adds versions)."""
    server = server_state(request)
    stored, created = server.registry.create_flow(_checked(server, body))
    request_context(request).resource = f"flows/{stored.id}@{stored.version}"
    if created:
        response.headers["Location"] = f"{request.url.path}/{stored.id}"
    else:
        response.status_code = 200
    return flow_info(stored)


@router.get(
    "",
    responses=problem_responses(401, 403, 422),
    summary="List flows by id, each at its latest version",
)
def list_flows(
    request: Request,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None,
        Query(max_length=MAX_REGISTRY_ID, description="next_cursor of the previous page"),
    ] = None,
) -> FlowPage:
    stored = server_state(request).registry.list_flows(limit=limit + 1, after=cursor)
    more = len(stored) > limit
    return FlowPage(
        items=[flow_info(flow) for flow in stored[:limit]],
        next_cursor=stored[limit - 1].id if more else None,
    )


@router.get(
    "/{flow_id:path}",
    responses=problem_responses(401, 403, 404, 422),
    summary="A stored flow (the version stored last unless `version` is given)",
)
def get_flow(
    request: Request,
    flow_id: FlowId,
    _: Reader,
    version: Annotated[str | None, version_query("This version; default: the latest")] = None,
) -> FlowInfo:
    return flow_info(server_state(request).registry.get_flow(flow_id, version))


@router.put(
    "/{flow_id:path}",
    responses=problem_responses(401, 403, 404, 409, 413, 422),
    summary="Store a new version of a flow",
)
def update_flow(
    body: FlowWrite,
    request: Request,
    flow_id: FlowId,
    _: Annotated[ApiKey, Depends(authorize(Scope.WRITE, "flow.update"))],
) -> FlowInfo:
    """The document's `meta.id` must be `flow_id` and its `meta.version` new (it becomes the
    latest), or stored already with the same content (nothing changes); a stored version
    with other content is a 409: versions never change."""
    server = server_state(request)
    request_context(request).resource = f"flows/{flow_id}"  # also when refused
    stored, created = server.registry.update_flow(flow_id, _checked(server, body))
    request_context(request).resource = f"flows/{stored.id}@{stored.version}"
    request_context(request).details["new_version"] = created
    return flow_info(stored)


@router.delete(
    "/{flow_id:path}",
    responses=problem_responses(401, 403, 404, 422),
    summary="Delete a flow (every version unless `version` is given)",
)
def delete_flow(
    request: Request,
    flow_id: FlowId,
    _: Annotated[ApiKey, Depends(authorize(Scope.WRITE, "flow.delete"))],
    version: Annotated[
        str | None, version_query("Only this version; default: every version")
    ] = None,
) -> Deleted:
    """Runs of the flow keep the document they ran."""
    context = request_context(request)
    context.resource = f"flows/{flow_id}" + (f"@{version}" if version else "")
    deleted = server_state(request).registry.delete_flow(flow_id, version)
    context.details["versions"] = deleted
    return Deleted(id=flow_id, versions=deleted)


def _checked(server: ServerState, body: FlowWrite) -> dict[str, object]:
    return check_flow(
        body.flow,
        agent_dirs=server.settings.agent_dirs,
        agents=registered_agents(server.registry),
        policy=server.settings.policy,
    )
