"""Projection rules: how each event of a run's log changes the run, node and attempt records.

Pure in-memory logic; :mod:`mentatlab.store.append` loads the records an event batch touches,
applies the batch here and writes back whatever changed, all in one transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, TypeVar

from pydantic import ValidationError

from mentatlab.model.run import (
    TERMINAL_NODE_STATUSES,
    TERMINAL_RUN_STATUSES,
    EventType,
    NodeError,
    NodeStatus,
    RunEvent,
    RunStatus,
)
from mentatlab.store.errors import InvalidEventError, RunFinishedError

__all__ = ["NODE_RECORD_EVENTS", "AttemptState", "NodeState", "Projection", "RunState"]

NODE_RECORD_EVENTS: Final = frozenset({EventType.NODE_STATUS, EventType.OUTPUT, EventType.PROGRESS})
"""The events that change their node's record; the others of a node only need it to exist."""

_S = TypeVar("_S", bound=StrEnum)
_INSTANCE = re.compile(r"[^\[\]]+(\[[0-9]+\])+")


@dataclass
class RunState:
    id: str
    status: RunStatus
    started_at: datetime | None
    finished_at: datetime | None
    error: dict[str, Any] | None
    outputs: dict[str, Any]
    changed: bool = False


@dataclass
class NodeState:
    status: NodeStatus
    attempts: int
    outputs: dict[str, Any]
    error: dict[str, Any] | None
    progress: float | None
    started_at: datetime | None
    finished_at: datetime | None
    changed: bool = False
    is_new: bool = False


@dataclass
class AttemptState:
    status: NodeStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error_reason: str | None = None
    error_message: str | None = None
    exit_code: int | None = None
    is_new: bool = True
    changed: bool = True


@dataclass
class Projection:
    """The records one event batch touches; :meth:`apply` mutates them and flags changes.

    ``nodes`` holds the records of the nodes named by the batch's :data:`NODE_RECORD_EVENTS`;
    ``unchanged_nodes`` the other nodes it names (only in log, metric, checkpoint or error
    events), known to exist. ``attempts`` holds the stored attempt rows of the (node, attempt)
    pairs the batch names; a pair missing from it becomes a new row.
    """

    run: RunState
    nodes: dict[str, NodeState]
    attempts: dict[tuple[str, int], AttemptState] = field(default_factory=dict)
    unchanged_nodes: set[str] = field(default_factory=set)

    def apply(self, event: RunEvent) -> None:
        if (
            event.node is not None
            and event.node not in self.nodes
            and event.type is EventType.NODE_STATUS
            and _INSTANCE.fullmatch(event.node)
        ):
            # for_each bodies run as instances NODE[i] that exist once their loop starts.
            self.nodes[event.node] = NodeState(
                status=NodeStatus.PENDING,
                attempts=0,
                outputs={},
                error=None,
                progress=None,
                started_at=None,
                finished_at=None,
                is_new=True,
            )
        if (
            event.node is not None
            and event.node not in self.nodes
            and event.node not in self.unchanged_nodes
        ):
            raise InvalidEventError(
                f"run {self.run.id!r} has no node {event.node!r} ({event.type.value} event)"
            )
        match event.type:
            case EventType.RUN_STATUS:
                self._check_live(event)
                self._run_status(event)
            case EventType.NODE_STATUS:
                node_id = _node_id(event)
                status = _parse_status(NodeStatus, event.data)
                if status not in TERMINAL_NODE_STATUSES:
                    self._check_live(event)
                self._node_status(event, node_id, status)
            case EventType.OUTPUT:
                node = self.nodes[_node_id(event)]
                self._check_live(event)
                pin = event.data.get("pin")
                if not isinstance(pin, str) or "value" not in event.data:
                    raise InvalidEventError("an output event needs data {'pin': str, 'value': ...}")
                node.outputs = {**node.outputs, pin: event.data["value"]}
                node.changed = True
            case EventType.PROGRESS:
                node = self.nodes[_node_id(event)]
                self._check_live(event)
                percent = event.data.get("percent")
                if not isinstance(percent, int | float) or isinstance(percent, bool):
                    raise InvalidEventError("a progress event needs a numeric data['percent']")
                node.progress = float(percent)
                node.changed = True
            case _:
                pass  # log, metric, checkpoint, error: kept in the log only

    def _check_live(self, event: RunEvent) -> None:
        if self.run.status in TERMINAL_RUN_STATUSES:
            raise RunFinishedError(self.run.id, self.run.status.value, event.type.value)

    def _run_status(self, event: RunEvent) -> None:
        run = self.run
        run.status = _parse_status(RunStatus, event.data)
        if run.status is RunStatus.RUNNING and run.started_at is None:
            run.started_at = event.ts
        if run.status in TERMINAL_RUN_STATUSES:
            run.finished_at = event.ts
        if "error" in event.data:
            run.error = _parse_error(event.data["error"])
        if "outputs" in event.data:
            outputs = event.data["outputs"]
            if not isinstance(outputs, dict) or not all(
                isinstance(pins, dict) for pins in outputs.values()
            ):
                raise InvalidEventError("run outputs must be {node: {pin: value}}")
            run.outputs = outputs
        run.changed = True

    def _node_status(self, event: RunEvent, node_id: str, status: NodeStatus) -> None:
        node = self.nodes[node_id]
        attempt = event.attempt or 0
        if status is NodeStatus.RUNNING:
            if node.status is not NodeStatus.RUNNING or attempt > node.attempts:
                # A new attempt starts clean: nothing a failed attempt left behind stays visible.
                node.error = None
                node.outputs = {}
                node.progress = None
                node.finished_at = None
            if node.started_at is None:
                node.started_at = event.ts
        elif status in TERMINAL_NODE_STATUSES:
            node.finished_at = event.ts
        node.status = status
        node.attempts = max(node.attempts, attempt)
        error = _parse_error(event.data["error"]) if "error" in event.data else None
        if "error" in event.data:
            node.error = error
        if "outputs" in event.data:
            outputs = event.data["outputs"]
            if not isinstance(outputs, dict):
                raise InvalidEventError("node outputs must be {pin: value}")
            node.outputs = outputs
        node.changed = True
        if event.attempt is not None:
            self._attempt((node_id, event.attempt), event.ts, status, error)

    def _attempt(
        self,
        key: tuple[str, int],
        ts: datetime,
        status: NodeStatus,
        error: dict[str, Any] | None,
    ) -> None:
        if status is NodeStatus.PENDING and error is not None:
            # A node back to pending with an error waits to retry: this attempt failed.
            status = NodeStatus.FAILED
        row = self.attempts.setdefault(key, AttemptState(status=status))
        row.status = status
        if status is NodeStatus.RUNNING and row.started_at is None:
            row.started_at = ts
        if status in TERMINAL_NODE_STATUSES:
            row.finished_at = ts
        if error is not None:
            row.error_reason = error["reason"]
            row.error_message = error["message"]
            row.exit_code = error.get("exit_code")
        row.changed = True


def _node_id(event: RunEvent) -> str:
    if event.node is None:
        raise InvalidEventError(f"a {event.type.value!r} event needs a node")
    return event.node


def _parse_status(enum: type[_S], data: dict[str, Any]) -> _S:
    try:
        return enum(data["status"])
    except (KeyError, ValueError):
        allowed = ", ".join(member.value for member in enum)
        raise InvalidEventError(
            f"status event data needs 'status' (one of {allowed}); got {data.get('status')!r}"
        ) from None


def _parse_error(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        return NodeError.model_validate(value).model_dump(mode="json", exclude_none=True)
    except ValidationError as exc:
        raise InvalidEventError(f"invalid error in event data: {exc}") from None
