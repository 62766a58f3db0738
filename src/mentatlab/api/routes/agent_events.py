"""``POST /api/v1/runs/{run}/nodes/{node}/events``: an agent reports its own events over HTTP.

The alternative to stdout for long-running and remote agents (``docs/protocol.md``, "Reporting
over HTTP"). Authenticated by the attempt's agent token from its input envelope, never by an
API key; the token admits this endpoint only, for its own run, node and attempt, until it
expires or the attempt ends. Accepted events take the path stdout events take: redaction, the
run's event log, the node's outputs.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mentatlab.api.paths import API_PREFIX
from mentatlab.api.problems import ApiProblem, problem_responses
from mentatlab.api.state import request_context, server_state
from mentatlab.model.protocol import AgentEvent, agent_event_adapter
from mentatlab.service.agent_tokens import AgentTokenError, AttemptClaims

__all__ = ["MAX_EVENTS_PER_REQUEST", "EventBatch", "EventsAccepted", "router"]

MAX_EVENTS_PER_REQUEST = 1000

router = APIRouter(prefix=f"{API_PREFIX}/runs", tags=["agents"])

_agent_bearer = HTTPBearer(
    scheme_name="AgentToken",
    auto_error=False,
    bearerFormat="JWT",
    description="The attempt's agent token (input envelope `identity.token`); not an API key",
)


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_EVENTS_PER_REQUEST,
        description="Agent protocol v1 events, in the order the agent emitted them",
    )


class EventsAccepted(BaseModel):
    accepted: int


async def _attempt(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_agent_bearer)],
) -> AttemptClaims:
    context = request_context(request)
    context.action = "agent.events"
    context.mutating = True
    if credentials is None:
        raise _unauthenticated("send the attempt's agent token: Authorization: Bearer <token>")
    try:
        claims = server_state(request).agent_tokens.verify(credentials.credentials)
    except AgentTokenError as exc:
        raise _unauthenticated(str(exc), error="invalid_token") from None
    # The audit log names the attempt, never the token.
    context.actor = f"agent:{claims.run_id}/{claims.node_id}#{claims.attempt}"
    return claims


@router.post(
    "/{run_id}/nodes/{node_id}/events",
    status_code=202,
    responses=problem_responses(401, 403, 413, 422),
    summary="Report events of a running attempt (agent token)",
)
async def report_events(
    request: Request,
    run_id: Annotated[str, Path(max_length=64)],
    node_id: Annotated[str, Path(max_length=256, description="The node instance")],
    body: EventBatch,
    claims: Annotated[AttemptClaims, Depends(_attempt)],
) -> EventsAccepted:
    """Relay `events` as the attempt's own, exactly as if it had written them on stdout.

    401 without a valid, unexpired agent token; 403 when the token is for another run or node,
    or its attempt is no longer running; 422 for an event that is not protocol v1.
    """
    request_context(request).resource = f"runs/{run_id}/nodes/{node_id}"
    if (claims.run_id, claims.node_id) != (run_id, node_id):
        raise ApiProblem(403, "the agent token is for another run or node", slug="wrong-attempt")
    events = _parse(body.events)
    live = server_state(request).pool.live
    key = (claims.run_id, claims.node_id, claims.attempt)
    if live is None or not await live.report(key, events):
        raise ApiProblem(
            403,
            f"attempt {claims.attempt} of node {node_id!r} is not running",
            slug="attempt-ended",
        )
    return EventsAccepted(accepted=len(events))


def _parse(raw: list[dict[str, Any]]) -> list[AgentEvent]:
    events = []
    for index, event in enumerate(raw):
        try:
            events.append(agent_event_adapter.validate_python(event))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in exc.errors(include_url=False, include_input=False)
            )
            raise ApiProblem(
                422,
                f"events[{index}] is not a protocol v1 event ({problems})",
                slug="invalid-event",
            ) from None
    return events


def _unauthenticated(detail: str, *, error: str | None = None) -> ApiProblem:
    challenge = 'Bearer realm="mentatlab-agents"' + (f', error="{error}"' if error else "")
    return ApiProblem(401, detail, slug="unauthenticated", headers={"WWW-Authenticate": challenge})
