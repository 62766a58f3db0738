"""``/api/v1/runs``: submit, list, get and cancel runs, and follow their events live."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from mentatlab.api.auth import authorize
from mentatlab.api.paths import API_PREFIX
from mentatlab.api.pool import PoolClosedError
from mentatlab.api.problems import ApiProblem, problem_responses
from mentatlab.api.state import request_context, server_state
from mentatlab.api.streaming import event_stream
from mentatlab.model.api import MAX_SEQ, RunCreate, RunPage, RunRef
from mentatlab.model.run import RunRecord, RunStatus
from mentatlab.service.preparation import prepare_flow_data
from mentatlab.store import ApiKey, Scope
from mentatlab.validation import ValidationReport

__all__ = ["router"]

router = APIRouter(prefix=f"{API_PREFIX}/runs", tags=["runs"])

RunId = Annotated[str, Path(max_length=64, description="A run id, as POST /runs returned it")]
Reader = Annotated[ApiKey, Depends(authorize(Scope.READ, "run.read"))]


@router.post(
    "",
    status_code=201,
    responses=problem_responses(401, 403, 413, 422, 503),
    summary="Submit a run of a flow",
)
async def create_run(
    body: RunCreate,
    request: Request,
    response: Response,
    _: Annotated[ApiKey, Depends(authorize(Scope.WRITE, "run.create"))],
) -> RunRef:
    """Validate the flow exactly as `mentatctl validate` does and queue a run of it.

    An invalid flow is a 422 problem whose `report` is the validation report. The run
    executes on the server's engine when a worker is free; until then it is `queued`.
    """
    server = server_state(request)
    prepared, findings = await run_in_threadpool(
        prepare_flow_data, body.flow, agent_dirs=server.settings.agent_dirs, inputs=body.inputs
    )
    if prepared is None:
        report = ValidationReport.of(findings)
        first = report.errors[0]
        more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
        raise ApiProblem(
            422,
            f"the flow is invalid: {first.rule} at {first.path}: {first.message}{more}",
            slug="invalid-flow",
            title="Invalid flow",
            extra={"report": report.to_json()},
        )
    try:
        record = await server.pool.submit(prepared)
    except PoolClosedError:
        raise ApiProblem(503, "the server is shutting down", slug="shutting-down") from None
    request_context(request).resource = f"runs/{record.id}"
    response.headers["Location"] = f"{request.url.path}/{record.id}"
    return RunRef(id=record.id, status=record.status)


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
                "run event as JSON; `: ping` comments while idle; ends after the final event"
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
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
