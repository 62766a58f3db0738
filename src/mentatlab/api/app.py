"""The FastAPI application of a MentatLab server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from mentatlab import __version__
from mentatlab.api.auth import actor_of
from mentatlab.api.metrics import ServerMetrics
from mentatlab.api.middleware import RequestMiddleware
from mentatlab.api.notifier import EventNotifier
from mentatlab.api.pool import RunPool
from mentatlab.api.problems import ApiProblem, install_problem_handlers, problem_response
from mentatlab.api.routes import admin, runs, system, validation
from mentatlab.api.settings import Settings
from mentatlab.api.state import ServerState
from mentatlab.model.api import Problem
from mentatlab.store import (
    ApiKeyExistsError,
    ApiKeyNotFoundError,
    ApiKeys,
    AuditLog,
    InvalidApiKeyError,
    Outcome,
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
}


def create_app(settings: Settings) -> FastAPI:
    """The server's application on ``settings.store``, which the caller keeps owning.

    Its lifespan registers ``settings.admin_key`` at startup and, at shutdown, cancels every
    run it executes and waits until each has reached a final status.
    """
    metrics = ServerMetrics()
    notifier = EventNotifier()
    server = ServerState(
        settings=settings,
        pool=RunPool(settings.store, workers=settings.workers, notifier=notifier, metrics=metrics),
        notifier=notifier,
        metrics=metrics,
        keys=ApiKeys(settings.store),
        audit=AuditLog(settings.store),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.admin_key is not None:
            await run_in_threadpool(_bootstrap_admin_key, server, settings.admin_key)
        try:
            yield
        finally:
            await server.pool.shutdown()

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
    app.include_router(system.health_router)
    app.include_router(system.metrics_router(open_access=settings.metrics_open))
    app.include_router(system.openapi_router)
    for router in (runs.router, validation.router, admin.router):
        # Routers carry their whole prefix: the route a request matched then names its
        # full path template (metrics, audit), which an include prefix would not be part of.
        app.include_router(router)
    _document_problems(app)
    return app


def _store_error_handler(
    status: int, slug: str
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(request, ApiProblem(status, str(exc), slug=slug))

    return handler


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
