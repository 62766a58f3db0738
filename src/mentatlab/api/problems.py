"""Errors as RFC 9457 problem documents (``application/problem+json``).

Every error response of the server is one of these: the handlers below turn FastAPI's and
Starlette's own errors (unknown routes, request validation) into problems as well.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from mentatlab.model.api import Problem

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "ApiProblem",
    "install_problem_handlers",
    "problem_response",
    "problem_responses",
]

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_PREFIX = "urn:mentatlab:problem:"


class ApiProblem(Exception):
    """Raised by endpoints and dependencies; rendered as a problem document.

    ``slug`` names MentatLab's own kinds of error (``type`` becomes
    ``urn:mentatlab:problem:<slug>``); extra members (``report``, ``errors``) go in ``extra``.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = _TYPE_PREFIX + slug if slug else "about:blank"
        self.title = title or HTTPStatus(status).phrase
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def problem_response(request: Request, problem: ApiProblem) -> JSONResponse:
    body = Problem(
        type=problem.type,
        title=problem.title,
        status=problem.status,
        detail=problem.detail,
        instance=request.url.path,
        **problem.extra,
    )
    return JSONResponse(
        jsonable_encoder(body),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem answers with these statuses."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiProblem, _on_api_problem)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _on_http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]


async def _on_api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
    return problem_response(request, exc)


async def _on_http_exception(request: Request, exc: HTTPException) -> JSONResponse:
    # Starlette's own errors: no route (404), a route without this method (405, with Allow).
    detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else None
    if exc.status_code == 404 and detail is None:
        detail = f"no resource at {request.url.path}"
    elif exc.status_code == 405 and detail is None:
        detail = f"{request.method} is not allowed on {request.url.path}"
    problem = ApiProblem(exc.status_code, detail or HTTPStatus(exc.status_code).phrase)
    problem.headers = dict(exc.headers or {})
    return problem_response(request, problem)


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type")}
        for error in exc.errors()
    ]
    where = ", ".join(".".join(str(part) for part in error["loc"]) for error in errors[:3])
    problem = ApiProblem(
        422,
        f"the request is invalid at {where}" if where else "the request is invalid",
        slug="invalid-request",
        title="Invalid request",
        extra={"errors": errors},
    )
    return problem_response(request, problem)
