"""The blocking client of the MentatLab HTTP API."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from mentatlab.client._calls import (
    ApiError,
    Call,
    EventFollower,
    KubernetesOptions,
    Pages,
    ReconnectPolicy,
    calls,
    client_options,
    raise_for_problem,
)
from mentatlab.model.api import (
    AgentInfo,
    AuditEntryInfo,
    AuditVerification,
    Deleted,
    FlowInfo,
    KeyCreated,
    KeyInfo,
    KeyScope,
    RunRef,
    ValidationMode,
    ValidationResult,
)
from mentatlab.model.run import RunEvent, RunRecord, RunStatus

__all__ = ["Client"]

T = TypeVar("T")
Item = TypeVar("Item")
Cursor = TypeVar("Cursor")


class Client:
    """``Client("http://127.0.0.1:8000", api_key="mlk_…")``; both default to
    ``$MENTATLAB_SERVER`` and ``$MENTATLAB_API_KEY``. Errors raise :class:`ApiError`."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        reconnect: ReconnectPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        options = client_options(base_url, api_key, timeout, headers or {})
        self._http = httpx.Client(transport=transport, **options)
        self._reconnect = reconnect or ReconnectPolicy()

    def create_run(
        self,
        flow: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        *,
        kubernetes: KubernetesOptions = None,
    ) -> RunRef:
        """Submit a run of ``flow``; with ``kubernetes`` options its agents run as pods."""
        return self._call(calls.create_run(flow, inputs, kubernetes))

    def run_stored_flow(
        self,
        flow_id: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        version: str | None = None,
        kubernetes: KubernetesOptions = None,
    ) -> RunRef:
        """Run a stored flow (POST /flows), at ``version`` or the one stored last."""
        return self._call(calls.run_stored_flow(flow_id, version, inputs, kubernetes))

    def get_run(self, run_id: str) -> RunRecord:
        return self._call(calls.get_run(run_id))

    def list_runs(
        self, *, status: RunStatus | None = None, page_size: int = 50
    ) -> Iterator[RunRecord]:
        """Every run, newest first, fetched a page at a time."""
        return self._items(calls.run_pages(page_size=page_size, status=status))

    def cancel_run(self, run_id: str) -> RunRef:
        return self._call(calls.cancel_run(run_id))

    def validate(
        self, document: Mapping[str, Any], *, mode: ValidationMode = ValidationMode.STRICT
    ) -> ValidationResult:
        return self._call(calls.validate(document, mode))

    def follow_events(
        self, run_id: str, last_event_id: int | None = None, *, live: bool = True
    ) -> Iterator[RunEvent]:
        """The run's events after ``last_event_id``, live until its final event (without
        ``live``: the events stored so far, even of a run still going).

        A dropped connection is resumed with ``Last-Event-ID``: every event comes once, in
        order.
        """
        follower = EventFollower(run_id, self._reconnect, last_seq=last_event_id or 0, live=live)
        while not follower.finished:
            try:
                response = self._http.send(follower.request(self._http), stream=True)
                try:
                    if not response.is_success:
                        response.read()
                        raise_for_problem(response)
                    for line in response.iter_lines():
                        yield from follower.feed(line)
                finally:
                    response.close()
                delay = None if follower.finished else follower.ended(self.get_run(run_id))
            except (httpx.TransportError, ApiError) as error:
                delay = follower.retry_delay(error)
            if delay is not None:
                time.sleep(delay)

    def register_agent(self, manifest: Mapping[str, Any], location: str) -> AgentInfo:
        """Register a manifest with where its Cog-Pak lives (a directory on the server or a URI)."""
        return self._call(calls.register_agent(manifest, location))

    def list_agents(
        self, *, agent_id: str | None = None, page_size: int = 50
    ) -> Iterator[AgentInfo]:
        """Every registered agent (or every version of ``agent_id``), newest first."""
        return self._items(calls.agent_pages(page_size=page_size, agent_id=agent_id))

    def get_agent(self, agent_id: str, version: str | None = None) -> AgentInfo:
        """``agent_id`` at ``version``, or its highest version."""
        return self._call(calls.get_agent(agent_id, version))

    def delete_agent(self, agent_id: str, version: str | None = None) -> Deleted:
        """Unregister ``version``, or every version."""
        return self._call(calls.delete_agent(agent_id, version))

    def create_flow(self, flow: Mapping[str, Any]) -> FlowInfo:
        return self._call(calls.create_flow(flow))

    def list_flows(self, *, page_size: int = 50) -> Iterator[FlowInfo]:
        """Every stored flow at its latest version, by id."""
        return self._items(calls.flow_pages(page_size=page_size))

    def get_flow(self, flow_id: str, version: str | None = None) -> FlowInfo:
        """``flow_id`` at ``version``, or the version stored last."""
        return self._call(calls.get_flow(flow_id, version))

    def update_flow(self, flow_id: str, flow: Mapping[str, Any]) -> FlowInfo:
        """Store a new version (``meta.version``) of ``flow_id``."""
        return self._call(calls.update_flow(flow_id, flow))

    def delete_flow(self, flow_id: str, version: str | None = None) -> Deleted:
        """Delete ``version``, or every version."""
        return self._call(calls.delete_flow(flow_id, version))

    def create_key(self, name: str, scopes: Iterable[KeyScope | str]) -> KeyCreated:
        return self._call(calls.create_key(name, scopes))

    def list_keys(self) -> list[KeyInfo]:
        return self._call(calls.list_keys()).items

    def revoke_key(self, name_or_id: str) -> KeyInfo:
        return self._call(calls.revoke_key(name_or_id))

    def audit_entries(self, *, page_size: int = 100) -> Iterator[AuditEntryInfo]:
        """Every audit entry, newest first, fetched a page at a time."""
        return self._items(calls.audit_pages(page_size=page_size))

    def verify_audit(self) -> AuditVerification:
        return self._call(calls.verify_audit())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, call: Call[T]) -> T:
        return call.parse(self._http.send(call.request(self._http)))

    def _items(self, pages: Pages[Item, Cursor]) -> Iterator[Item]:
        cursor: Cursor | None = None
        while True:
            page = self._call(pages(cursor))
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
