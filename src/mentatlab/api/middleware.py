"""What happens around every request: its id, the body size limit, latency metrics, the
audit entry, and a problem document instead of a bare 500 when a bug escapes an endpoint."""

from __future__ import annotations

import logging
import re
import time
import uuid

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mentatlab.api.problems import ApiProblem, problem_response
from mentatlab.api.state import SAFE_METHODS, RequestContext, ServerState, attach_context
from mentatlab.store import Outcome

__all__ = ["REQUEST_ID_HEADER", "RequestMiddleware"]

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_UNMATCHED_ROUTE = "<unmatched>"


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit; FastAPI re-raises
    HTTPExceptions from body reading, so it becomes a 413 problem."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class RequestMiddleware:
    def __init__(self, app: ASGIApp, *, server: ServerState) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        given_id = headers.get(REQUEST_ID_HEADER, "")
        context = RequestContext(
            request_id=given_id if _REQUEST_ID.fullmatch(given_id) else uuid.uuid4().hex
        )
        attach_context(scope, context)
        started_at = time.perf_counter()
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = context.request_id
                # Before the response leaves: a client that saw it finds the entry.
                await self._audit(scope, context, status)
            await send(message)

        try:
            limit = self.server.settings.max_body_bytes
            if _content_length(headers) > limit:
                raise BodyTooLargeError(limit)
            await self.app(scope, _limited(receive, limit), send_wrapper)
        except BodyTooLargeError as exc:
            # Declared too large up front: answered without reading the body or routing.
            await self._respond(scope, send_wrapper, ApiProblem(413, str(exc.detail)))
        except Exception:
            logger.exception("%s %s failed", scope["method"], scope["path"])
            if response_started:
                raise
            problem = ApiProblem(500, "the server failed; see its log", slug="internal")
            problem.extra["request_id"] = context.request_id
            await self._respond(scope, send_wrapper, problem)
        finally:
            route = scope.get("route")
            self.server.metrics.http_duration.labels(
                method=scope["method"],
                route=getattr(route, "path", _UNMATCHED_ROUTE),
                status=str(status),
            ).observe(time.perf_counter() - started_at)

    async def _respond(self, scope: Scope, send: Send, problem: ApiProblem) -> None:
        response = problem_response(Request(scope), problem)
        await response(scope, _no_body, send)

    async def _audit(self, scope: Scope, context: RequestContext, status: int) -> None:
        """Audit every mutating request and every failed authentication or authorisation."""
        denied = status in {401, 403}
        # A request refused before its route's auth dependency ran (a body that is too
        # large or not JSON) is judged by its method.
        mutating = context.mutating if context.action else scope["method"] not in SAFE_METHODS
        if not (mutating or denied):
            return
        route = scope.get("route")
        action = context.action or f"{scope['method']} {getattr(route, 'path', scope['path'])}"
        if denied:
            outcome = Outcome.DENIED
        elif status < 400:
            outcome = Outcome.SUCCESS
        else:
            outcome = Outcome.FAILURE
        client = scope.get("client")
        try:
            await run_in_threadpool(
                lambda: self.server.audit.append(
                    actor=context.actor or "anonymous",
                    action=action,
                    resource=context.resource or scope["path"],
                    outcome=outcome,
                    request_id=context.request_id,
                    client=client[0] if client else None,
                    details={**context.details, "status": status},
                )
            )
        except Exception:
            # The answer is already decided; a broken audit log must be loud, not a 500.
            logger.exception("could not append to the audit log")


def _content_length(headers: Headers) -> int:
    try:
        return int(headers.get("content-length", "0"))
    except ValueError:
        return 0


def _limited(receive: Receive, limit: int) -> Receive:
    received = 0

    async def receive_with_limit() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLargeError(limit)
        return message

    return receive_with_limit


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
