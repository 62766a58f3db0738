"""``/api/v1/runs``: submit, list, get and cancel runs, and follow their events live."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from mentatlab.api.auth import authorize
from mentatlab.api.paths import API_PREFIX
from mentatlab.api.pool import NoKubernetesError, PoolClosedError
from mentatlab.api.problems import ApiProblem, problem_responses
from mentatlab.api.state import ServerState, request_context, server_state
from mentatlab.api.streaming import event_stream
from mentatlab.model.api import MAX_SEQ, RunCreate, RunPage, RunRef
from mentatlab.model.kubernetes import KubernetesRunOptions
from mentatlab.model.run import RunRecord, RunStatus
from mentatlab.service.preparation import PreparedRun, prepare_flow_data
from mentatlab.service.registry import InvalidDocumentError, registered_agents
from mentatlab.store import ApiKey, Scope

__all__ = ["router"]

router = APIRouter(prefix=f"{API_PREFIX}/runs", tags=["runs"])

RunId = Annotated[str, Path(max_length=64, description="A run id, as POST /runs returned it")]
Reader = Annotated[ApiKey, Depends(authorize(Scope.READ, "run.read"))]


@router.post(
    "",
    status_code=201,
    responses=problem_responses(401, 403, 404, 413, 422, 503),
    summary="Submit a run of a flow",
)
async def create_run(
    body: RunCreate,
    request: Request,
    response: Response,
    _: Annotated[ApiKey, Depends(authorize(Scope.WRITE, "run.create"))],
) -> RunRef:
    """Validate the flow exactly as `mentatctl validate` does and queue a run of it.

    The flow is `flow`, or the stored flow `flow_id` (at `version`, by default the one
    stored last; 404 if there is none). Its agents resolve among the registered agents whose
    Cog-Pak is a directory on the server, then in the server's agent directories. An invalid
    flow is a 422 problem whose `report` is the validation report. The run executes on the
    server's engine when a worker is free; until then it is `queued`. With `kubernetes`, its
    agents run as pods (each agent's manifest `image`), which needs a server started with a
    Kubernetes executor (`mentatctl serve --namespace`): a 422 problem otherwise.
    """
    server = server_state(request)
    prepared = await run_in_threadpool(_prepare, server, body)
    if body.kubernetes is not None:
        _check_kubernetes(server, prepared, body.kubernetes)
    try:
        record = await server.pool.submit(prepared, kubernetes=body.kubernetes)
    except PoolClosedError:
        raise ApiProblem(503, "the server is shutting down", slug="shutting-down") from None
    except NoKubernetesError:
        raise _no_kubernetes() from None
    request_context(request).resource = f"runs/{record.id}"
    response.headers["Location"] = f"{request.url.path}/{record.id}"
    return RunRef(id=record.id, status=record.status)


def _prepare(server: ServerState, body: RunCreate) -> PreparedRun:
    registry = server.registry
    document = body.flow  # RunCreate holds either a flow or a flow_id
    if body.flow_id is not None:
        document = registry.get_flow(body.flow_id, body.version).document
    prepared, findings = prepare_flow_data(
        document,
        agent_dirs=server.settings.agent_dirs,
        inputs=body.inputs,
        agents=registered_agents(registry),
        policy=server.settings.policy,
    )
    if prepared is None:
        raise InvalidDocumentError("flow", findings)
    return prepared


def _check_kubernetes(
    server: ServerState, prepared: PreparedRun, options: KubernetesRunOptions
) -> None:
    executor = server.pool.kubernetes
    if executor is None:
        raise _no_kubernetes()
    problems = executor.problems(prepared.plan, options, server.settings.policy)
    if problems:
        raise ApiProblem(
            422,
            "the run cannot execute on Kubernetes: " + "; ".join(problems),
            slug="not-runnable-on-kubernetes",
        )


def _no_kubernetes() -> ApiProblem:
    return ApiProblem(
        422,
        "this server has no Kubernetes executor (start it with mentatctl serve --namespace); "
        "leave out `kubernetes` to run on the server's own engine",
        slug="no-kubernetes-executor",
    )


@router.get("", responses=problem_responses(401, 403, 422), summary="List runs, newest first")
def list_runs(
    request: Request,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=64, description="next_cursor of the previous page")
    ] = None,
    status: RunStatus | None = None,
) -> RunPage:
    records = server_state(request).store.list_runs(limit=limit + 1, status=status, before=cursor)
    more = len(records) > limit
    return RunPage(items=records[:limit], next_cursor=records[limit - 1].id if more else None)


@router.get(
    "/{run_id}",
    responses=problem_responses(401, 403, 404, 422),
    summary="A run record, as `mentatctl run --output json` prints it",
)
def get_run(request: Request, run_id: RunId, _: Reader) -> RunRecord:
    return server_state(request).store.get_run(run_id)


@router.post(
    "/{run_id}/cancel",
    status_code=202,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Ask for a run to be cancelled",
)
def cancel_run(
    request: Request,
    run_id: RunId,
    _: Annotated[ApiKey, Depends(authorize(Scope.WRITE, "run.cancel"))],
) -> RunRef:
    """The run ends `cancelled` shortly after (a 409 problem if it had already finished)."""
    server = server_state(request)
    request_context(request).resource = f"runs/{run_id}"
    if not server.store.request_cancel(run_id):
        status = server.store.get_run(run_id).status
        raise ApiProblem(
            409, f"run {run_id} already finished ({status.value})", slug="run-finished"
        )
    # Runs of this server stop at once; a run of another process sees the flag it polls.
    server.pool.cancel(run_id)
    return RunRef(id=run_id, status=server.store.get_run(run_id).status)


@router.get(
    "/{run_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": (
                "Server-Sent Events: `id` is the event's seq, `event` its type, `data` the "
                "run event as JSON; `: ping` comments while idle; ends after the final event "
                "(with `follow=false`: once the events stored so far are sent)"
            ),
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problem_responses(401, 403, 404, 422),
    },
    summary="Follow a run's events (Server-Sent Events)",
)
async def run_events(
    request: Request,
    run_id: RunId,
    _: Reader,
    last_event_id: Annotated[
        int | None, Query(ge=0, le=MAX_SEQ, description="Resume after this seq")
    ] = None,
    last_event_id_header: Annotated[
        int | None,
        Header(alias="Last-Event-ID", ge=0, le=MAX_SEQ, description="Resume after this seq"),
    ] = None,
    follow: Annotated[
        bool, Query(description="false: end once the events stored so far are sent")
    ] = True,
) -> StreamingResponse:
    """Replays the events after `Last-Event-ID` (the header wins over the query parameter,
    as a reconnecting browser sends the header), then streams new ones as they happen."""
    server = server_state(request)
    await run_in_threadpool(server.store.get_run, run_id)  # 404 before the stream starts
    after = next((v for v in (last_event_id_header, last_event_id) if v is not None), 0)
    return StreamingResponse(
        event_stream(
            server.store,
            server.notifier,
            server.metrics,
            server.pool,
            run_id,
            after_seq=after,
            heartbeat_seconds=server.settings.heartbeat_seconds,
            follow=follow,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
