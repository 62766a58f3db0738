"""What the sync and async clients share: each API call as a request plus a parser, the
error type, and the Server-Sent Events decoding and resumption rules of ``follow_events``.

The two clients only move bytes (httpx ``Client`` or ``AsyncClient``); everything that
knows the API is here, once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, Protocol, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from mentatlab.model.api import (
    AgentInfo,
    AgentPage,
    AgentRegister,
    AuditEntryInfo,
    AuditPage,
    AuditVerification,
    Deleted,
    FlowInfo,
    FlowPage,
    FlowWrite,
    KeyCreate,
    KeyCreated,
    KeyInfo,
    KeyPage,
    KeyScope,
    Problem,
    RunCreate,
    RunPage,
    RunRef,
    ValidateRequest,
    ValidationMode,
    ValidationResult,
)
from mentatlab.model.kubernetes import KubernetesRunOptions
from mentatlab.model.run import TERMINAL_RUN_STATUSES, EventType, RunEvent, RunRecord, RunStatus

__all__ = [
    "API_KEY_ENV",
    "PREFIX",
    "SERVER_ENV",
    "ApiError",
    "Call",
    "EventFollower",
    "KubernetesOptions",
    "Page",
    "Pages",
    "ReconnectPolicy",
    "calls",
    "client_options",
    "parse",
]

SERVER_ENV = "MENTATLAB_SERVER"
API_KEY_ENV = "MENTATLAB_API_KEY"
PREFIX = "/api/v1"

KubernetesOptions = KubernetesRunOptions | Mapping[str, Any] | None
"""A run's ``kubernetes`` options (as in a FlowRun's spec): a model or a mapping by their
JSON names; given, the run's agents execute as pods on the server's Kubernetes executor."""

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """The server answered with an error; ``problem`` is its problem document."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}")
        self.problem = problem

    @property
    def status(self) -> int:
        return self.problem.status


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how to read its successful answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        params = {key: value for key, value in self.params.items() if value is not None}
        return http.build_request(self.method, self.path, params=params, json=self.json)


def client_options(
    base_url: str | None, api_key: str | None, timeout: float, headers: Mapping[str, str]
) -> dict[str, Any]:
    """httpx client arguments; the server and key default to ``$MENTATLAB_SERVER`` and
    ``$MENTATLAB_API_KEY``."""
    url = base_url or os.environ.get(SERVER_ENV)
    if not url:
        raise ValueError(f"no server URL: pass base_url or set {SERVER_ENV}")
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    all_headers = dict(headers)
    if key:
        all_headers["Authorization"] = f"Bearer {key}"
    return {"base_url": url, "headers": all_headers, "timeout": timeout}


def raise_for_problem(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        problem = Problem.model_validate(response.json())
    except (ValueError, ValidationError):
        # Not from MentatLab (a proxy, a wrong URL): make the same kind of error of it.
        problem = Problem(
            title=response.reason_phrase or "Error",
            status=response.status_code,
            detail=response.text[:500] or response.reason_phrase,
            instance=response.request.url.path,
        )
    raise ApiError(problem)


def parse(model: type[M]) -> Callable[[httpx.Response], M]:
    def parser(response: httpx.Response) -> M:
        raise_for_problem(response)
        return model.model_validate_json(response.content)

    return parser


Item = TypeVar("Item")
Cursor = TypeVar("Cursor")


class Page(NamedTuple, Generic[Item, Cursor]):
    """The items of one page of a listing, and the cursor of the next (``None``: last)."""

    items: list[Item]
    next_cursor: Cursor | None


class Pages(Protocol[Item, Cursor]):
    """The call for the page at ``cursor`` (``None``: the first page)."""

    def __call__(self, cursor: Cursor | None, /) -> Call[Page[Item, Cursor]]: ...


def _paged(
    model: type[M], split: Callable[[M], Page[Item, Cursor]]
) -> Callable[[httpx.Response], Page[Item, Cursor]]:
    read = parse(model)
    return lambda response: split(read(response))


class calls:
    """The API's calls, one builder each: ``calls.get_run(run_id)``."""

    @staticmethod
    def create_run(
        flow: Mapping[str, Any],
        inputs: Mapping[str, Any] | None,
        kubernetes: KubernetesOptions = None,
    ) -> Call[RunRef]:
        return _run_call(
            RunCreate(flow=dict(flow), inputs=dict(inputs or {}), kubernetes=_options(kubernetes))
        )

    @staticmethod
    def run_stored_flow(
        flow_id: str,
        version: str | None,
        inputs: Mapping[str, Any] | None,
        kubernetes: KubernetesOptions = None,
    ) -> Call[RunRef]:
        body = RunCreate(
            flow_id=flow_id,
            version=version,
            inputs=dict(inputs or {}),
            kubernetes=_options(kubernetes),
        )
        return _run_call(body)

    @staticmethod
    def get_run(run_id: str) -> Call[RunRecord]:
        return Call("GET", f"{PREFIX}/runs/{run_id}", parse(RunRecord))

    @staticmethod
    def run_pages(*, page_size: int, status: RunStatus | None) -> Pages[RunRecord, str]:
        def page(cursor: str | None) -> Call[Page[RunRecord, str]]:
            params = {"limit": page_size, "cursor": cursor, "status": status}
            read = _paged(RunPage, lambda p: Page(p.items, p.next_cursor))
            return Call("GET", f"{PREFIX}/runs", read, params=params)

        return page

    @staticmethod
    def cancel_run(run_id: str) -> Call[RunRef]:
        return Call("POST", f"{PREFIX}/runs/{run_id}/cancel", parse(RunRef))

    @staticmethod
    def validate(document: Mapping[str, Any], mode: ValidationMode) -> Call[ValidationResult]:
        body = ValidateRequest(document=dict(document), mode=mode)
        return Call(
            "POST", f"{PREFIX}/validate", parse(ValidationResult), json=body.model_dump(mode="json")
        )

    @staticmethod
    def register_agent(manifest: Mapping[str, Any], location: str) -> Call[AgentInfo]:
        body = AgentRegister(manifest=dict(manifest), location=location)
        return Call("POST", f"{PREFIX}/agents", parse(AgentInfo), json=body.model_dump(mode="json"))

    @staticmethod
    def agent_pages(*, page_size: int, agent_id: str | None) -> Pages[AgentInfo, int]:
        def page(cursor: int | None) -> Call[Page[AgentInfo, int]]:
            params = {"limit": page_size, "cursor": cursor, "id": agent_id}
            read = _paged(AgentPage, lambda p: Page(p.items, p.next_cursor))
            return Call("GET", f"{PREFIX}/agents", read, params=params)

        return page

    @staticmethod
    def get_agent(agent_id: str, version: str | None) -> Call[AgentInfo]:
        path = f"{PREFIX}/agents/{quote(agent_id, safe='')}"
        return Call("GET", path, parse(AgentInfo), params={"version": version})

    @staticmethod
    def delete_agent(agent_id: str, version: str | None) -> Call[Deleted]:
        path = f"{PREFIX}/agents/{quote(agent_id, safe='')}"
        return Call("DELETE", path, parse(Deleted), params={"version": version})

    @staticmethod
    def create_flow(flow: Mapping[str, Any]) -> Call[FlowInfo]:
        body = FlowWrite(flow=dict(flow)).model_dump(mode="json")
        return Call("POST", f"{PREFIX}/flows", parse(FlowInfo), json=body)

    @staticmethod
    def flow_pages(*, page_size: int) -> Pages[FlowInfo, str]:
        def page(cursor: str | None) -> Call[Page[FlowInfo, str]]:
            read = _paged(FlowPage, lambda p: Page(p.items, p.next_cursor))
            params = {"limit": page_size, "cursor": cursor}
            return Call("GET", f"{PREFIX}/flows", read, params=params)

        return page

    @staticmethod
    def get_flow(flow_id: str, version: str | None) -> Call[FlowInfo]:
        return Call("GET", _flow_path(flow_id), parse(FlowInfo), params={"version": version})

    @staticmethod
    def update_flow(flow_id: str, flow: Mapping[str, Any]) -> Call[FlowInfo]:
        body = FlowWrite(flow=dict(flow)).model_dump(mode="json")
        return Call("PUT", _flow_path(flow_id), parse(FlowInfo), json=body)

    @staticmethod
    def delete_flow(flow_id: str, version: str | None) -> Call[Deleted]:
        return Call("DELETE", _flow_path(flow_id), parse(Deleted), params={"version": version})

    @staticmethod
    def create_key(name: str, scopes: Iterable[KeyScope | str]) -> Call[KeyCreated]:
        body = KeyCreate(name=name, scopes=[KeyScope(scope) for scope in scopes])
        return Call("POST", f"{PREFIX}/keys", parse(KeyCreated), json=body.model_dump(mode="json"))

    @staticmethod
    def list_keys() -> Call[KeyPage]:
        return Call("GET", f"{PREFIX}/keys", parse(KeyPage))

    @staticmethod
    def revoke_key(name_or_id: str) -> Call[KeyInfo]:
        return Call("DELETE", f"{PREFIX}/keys/{name_or_id}", parse(KeyInfo))

    @staticmethod
    def audit_pages(*, page_size: int) -> Pages[AuditEntryInfo, int]:
        def page(cursor: int | None) -> Call[Page[AuditEntryInfo, int]]:
            params = {"limit": page_size, "cursor": cursor}
            read = _paged(AuditPage, lambda p: Page(p.items, p.next_cursor))
            return Call("GET", f"{PREFIX}/audit", read, params=params)

        return page

    @staticmethod
    def verify_audit() -> Call[AuditVerification]:
        return Call("GET", f"{PREFIX}/audit/verify", parse(AuditVerification))


def _options(kubernetes: KubernetesOptions) -> KubernetesRunOptions | None:
    if kubernetes is None or isinstance(kubernetes, KubernetesRunOptions):
        return kubernetes
    return KubernetesRunOptions.model_validate(kubernetes)


def _run_call(body: RunCreate) -> Call[RunRef]:
    # By alias: the Kubernetes options travel under their FlowRun spec names (nodeSelector).
    json_body = body.model_dump(mode="json", exclude_none=True, by_alias=True)
    return Call("POST", f"{PREFIX}/runs", parse(RunRef), json=json_body)


def _flow_path(flow_id: str) -> str:
    # Flow ids are free text: "/" stays a separator (the route takes the rest of the path).
    return f"{PREFIX}/flows/{quote(flow_id, safe='/')}"


@dataclass(frozen=True)
class ReconnectPolicy:
    """How ``follow_events`` waits between attempts after a dropped connection; the count
    of attempts starts over whenever a stream delivers an event."""

    max_attempts: int = 10
    initial_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reconnect ``attempt`` (1-based)."""
        return float(min(self.max_delay, self.initial_delay * 2 ** (attempt - 1)))


_RETRYABLE_STATUSES = frozenset({502, 503, 504})


@dataclass
class EventFollower:
    """The state of ``follow_events``: decodes Server-Sent Events, remembers the last seq,
    and decides when to reconnect (with ``Last-Event-ID``) and when the run has ended.

    Events a resumed stream repeats (at or before the last seq) are dropped, so the caller
    sees every event once, in order.
    """

    run_id: str
    policy: ReconnectPolicy
    last_seq: int = 0
    live: bool = True
    """``False``: only the events stored when the stream is read, even of a running run."""
    finished: bool = False
    _failures: int = 0
    _drained: bool = False
    _fields: dict[str, str] = field(default_factory=dict)

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        self._fields = {}  # a stream that broke off may have left half an event
        headers = {"Accept": "text/event-stream"}
        if self.last_seq:
            headers["Last-Event-ID"] = str(self.last_seq)
        params = {} if self.live else {"follow": "false"}
        return http.build_request(
            "GET", f"{PREFIX}/runs/{self.run_id}/events", headers=headers, params=params
        )

    def status_call(self) -> Call[RunRecord]:
        """Asked after a stream ended without the run's final event."""
        return calls.get_run(self.run_id)

    def feed(self, line: str) -> Iterator[RunEvent]:
        """Decode one line of the stream; a blank line completes an event."""
        if line == "":
            fields, self._fields = self._fields, {}
            if "data" in fields:
                yield from self._accept(fields["data"])
            return
        if line.startswith(":"):
            return  # a comment: the server's heartbeat
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data" and "data" in self._fields:
            value = self._fields["data"] + "\n" + value
        self._fields[name] = value

    def retry_delay(self, error: Exception) -> float:
        """Seconds to wait before reconnecting after ``error``; re-raises it when it is not
        a dropped connection or the attempts are used up."""
        retryable = isinstance(error, httpx.TransportError) or (
            isinstance(error, ApiError) and error.status in _RETRYABLE_STATUSES
        )
        return self._backoff(error, retryable=retryable)

    def ended(self, record: RunRecord) -> float | None:
        """After a stream ended without the final event (the caller resumed after it, or the
        server was shutting down): the delay before reconnecting, or ``None`` when done.

        A finished run gets one more stream, which sends whatever was stored after the last
        seq; when that one brings nothing new, every event has been seen.
        """
        if not self.live:  # the server sent every event stored when the stream began
            self.finished = True
            return None
        if record.status in TERMINAL_RUN_STATUSES:
            if self._drained:
                self.finished = True
                return None
            self._drained = True
            return 0.0
        error = ConnectionError(f"the event stream of run {self.run_id} kept ending early")
        return self._backoff(error, retryable=True)

    def _backoff(self, error: Exception, *, retryable: bool) -> float:
        self._failures += 1
        if not retryable or self._failures > self.policy.max_attempts:
            raise error
        return self.policy.delay(self._failures)

    def _accept(self, data: str) -> Iterator[RunEvent]:
        event = RunEvent.model_validate(json.loads(data))
        if event.seq <= self.last_seq:
            return
        self.last_seq, self._failures, self._drained = event.seq, 0, False
        if event.type is EventType.RUN_STATUS and event.data.get("status") in TERMINAL_RUN_STATUSES:
            self.finished = True
        yield event
