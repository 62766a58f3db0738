"""The FastAPI application of a MentatLab server."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from mentatlab import __version__
from mentatlab.api.auth import actor_of
from mentatlab.api.kubernetes import KubernetesExecutor
from mentatlab.api.metrics import ServerMetrics
from mentatlab.api.middleware import RequestMiddleware
from mentatlab.api.notifier import EventNotifier
from mentatlab.api.pool import RunPool
from mentatlab.api.problems import ApiProblem, install_problem_handlers, problem_response
from mentatlab.api.routes import admin, agent_events, agents, flows, runs, system, validation
from mentatlab.api.settings import Settings
from mentatlab.api.state import ServerState
from mentatlab.engine.identity import LiveAttempts
from mentatlab.model.api import Problem
from mentatlab.service.agent_tokens import AGENT_TOKEN_KEY_FILE, AgentTokens, load_or_create_key
from mentatlab.service.execution import AgentAccess
from mentatlab.service.registry import InvalidDocumentError
from mentatlab.store import (
    AgentNotRegisteredError,
    ApiKeyExistsError,
    ApiKeyNotFoundError,
    ApiKeys,
    AuditLog,
    FlowNotFoundError,
    InvalidApiKeyError,
    InvalidRegistryEntryError,
    Outcome,
    Registry,
    RegistryConflictError,
    RunNotFoundError,
    StoreError,
)

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

# Store errors that are the client's doing, and the status that says so.
_CLIENT_ERRORS: dict[type[StoreError], tuple[int, str]] = {
    RunNotFoundError: (404, "run-not-found"),
    ApiKeyNotFoundError: (404, "key-not-found"),
    ApiKeyExistsError: (409, "key-exists"),
    InvalidApiKeyError: (422, "invalid-key"),
    AgentNotRegisteredError: (404, "agent-not-found"),
    FlowNotFoundError: (404, "flow-not-found"),
    RegistryConflictError: (409, "registry-conflict"),
    InvalidRegistryEntryError: (422, "invalid-registry-entry"),
}


def create_app(settings: Settings) -> FastAPI:
    """The server's application on ``settings.store``, which the caller keeps owning.

    Its lifespan registers ``settings.admin_key`` at startup and, at shutdown, cancels every
    run it executes and waits until each has reached a final status.
    """
    metrics = ServerMetrics()
    notifier = EventNotifier()
    agent_tokens = _agent_tokens(settings)
    kubernetes = None if settings.kubernetes is None else KubernetesExecutor(settings.kubernetes)
    server = ServerState(
        settings=settings,
        pool=RunPool(
            settings.store,
            workers=settings.workers,
            notifier=notifier,
            metrics=metrics,
            access=AgentAccess(
                secret_source=settings.secret_source,
                secret_policy=settings.policy.allows_secret,
                identities=agent_tokens,
                live=LiveAttempts(),
            ),
            kubernetes=kubernetes,
        ),
        notifier=notifier,
        metrics=metrics,
        keys=ApiKeys(settings.store),
        audit=AuditLog(settings.store),
        registry=Registry(settings.store),
        agent_tokens=agent_tokens,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.admin_key is not None:
            await run_in_threadpool(_bootstrap_admin_key, server, settings.admin_key)
        # In the background: a slow cluster does not delay the server's start.
        cleaning = (
            asyncio.create_task(kubernetes.clean_anchors(settings.store)) if kubernetes else None
        )
        try:
            yield
        finally:
            await server.pool.shutdown()
            if cleaning is not None:
                cleaning.cancel()
                await asyncio.gather(cleaning, return_exceptions=True)
            if kubernetes is not None:
                await kubernetes.close()

    app = FastAPI(
        title="MentatLab",
        version=__version__,
        summary="Run flows of AI agents and follow them live.",
        lifespan=lifespan,
        openapi_url=None,  # served by system.openapi_router, behind an API key
        docs_url=None,
        redoc_url=None,
    )
    app.state.mentatlab = server
    app.add_middleware(RequestMiddleware, server=server)
    install_problem_handlers(app)
    for error, (status, slug) in _CLIENT_ERRORS.items():
        app.add_exception_handler(error, _store_error_handler(status, slug))
    app.add_exception_handler(InvalidDocumentError, _on_invalid_document)  # type: ignore[arg-type]
    app.include_router(system.health_router)
    app.include_router(system.metrics_router(open_access=settings.metrics_open))
    app.include_router(system.openapi_router)
    for router in (
        runs.router,
        agent_events.router,
        flows.router,
        agents.router,
        validation.router,
        admin.router,
    ):
        # Routers carry their whole prefix: the route a request matched then names its
        # full path template (metrics, audit), which an include prefix would not be part of.
        app.include_router(router)
    _document_problems(app)
    return app


def _agent_tokens(settings: Settings) -> AgentTokens:
    key = (
        load_or_create_key(settings.home / AGENT_TOKEN_KEY_FILE)
        if settings.home is not None
        else secrets.token_bytes(32)
    )
    # Port 0 (any free port) is not known until uvicorn binds: agents then get no URL.
    base_url = f"http://{settings.host}:{settings.port}" if settings.port else None
    return AgentTokens(key, ttl_seconds=settings.agent_token_ttl_seconds, base_url=base_url)


def _store_error_handler(
    status: int, slug: str
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(request, ApiProblem(status, str(exc), slug=slug))

    return handler


async def _on_invalid_document(request: Request, exc: InvalidDocumentError) -> JSONResponse:
    problem = ApiProblem(
        422,
        str(exc),
        slug=f"invalid-{exc.kind}",
        title=f"Invalid {exc.kind}",
        extra={"report": exc.report.to_json()},
    )
    return problem_response(request, problem)


def _bootstrap_admin_key(server: ServerState, key: str) -> None:
    record, changed = server.keys.ensure_admin_key(key)
    if changed:
        server.audit.append(
            actor="server",
            action="apikey.bootstrap",
            resource=f"apikeys/{record.id}",
            outcome=Outcome.SUCCESS,
            details={"name": record.name, "from": "MENTATLAB_ADMIN_KEY"},
        )
        logger.info("registered the admin key %s from MENTATLAB_ADMIN_KEY", actor_of(record))


def _document_problems(app: FastAPI) -> None:
    """Add the Problem schema that every error response refers to."""
    generate = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = Problem.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
