"""Health, readiness, metrics and the OpenAPI document of the server itself."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from mentatlab.api.auth import authorize
from mentatlab.api.problems import ApiProblem, problem_responses
from mentatlab.api.state import server_state
from mentatlab.store import ApiKey, Scope, SqlRunStore

__all__ = ["health_router", "metrics_router", "openapi_router"]

health_router = APIRouter(tags=["system"])


@health_router.get("/healthz", summary="The server process answers (no key needed)")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health_router.get(
    "/readyz",
    responses=problem_responses(503),
    summary="The server can take work: its store answers (no key needed)",
)
async def readyz(request: Request) -> dict[str, str]:
    server = server_state(request)
    if server.pool.closing:
        raise ApiProblem(503, "the server is shutting down", slug="shutting-down")
    try:
        await run_in_threadpool(_ping, server.store)
    except Exception as exc:
        raise ApiProblem(
            503, f"the store does not answer: {type(exc).__name__}", slug="store-unavailable"
        ) from None
    return {"status": "ready"}


def _ping(store: SqlRunStore) -> None:
    with store.read_transaction() as conn:
        conn.execute(text("SELECT 1"))


def metrics_router(*, open_access: bool) -> APIRouter:
    """``/metrics`` in the Prometheus text format; ``open_access`` serves it without a key."""
    dependencies = [] if open_access else [Depends(authorize(Scope.READ, "metrics.read"))]
    router = APIRouter(tags=["system"], dependencies=dependencies)

    @router.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
            **problem_responses(401, 403),
        },
        summary="Prometheus metrics",
    )
    def metrics(request: Request) -> Response:
        registry = server_state(request).metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


openapi_router = APIRouter(tags=["system"])


@openapi_router.get(
    "/openapi.json",
    responses=problem_responses(401, 403),
    summary="This API's OpenAPI document",
)
def openapi(
    request: Request, _: Annotated[ApiKey, Depends(authorize(Scope.READ, "openapi.read"))]
) -> dict[str, Any]:
    app: FastAPI = request.app
    return app.openapi()
