"""``FlowRun.status`` as a projection of the run record the engine keeps in the store.

The store holds everything (every event, every output); the status is what ``kubectl``
shows: phases, attempts, pod names, reasons, conditions, and outputs only while they are
small, so a FlowRun stays far below etcd's object size limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mentatlab.k8s.status import NODE_OUTPUTS_LIMIT_BYTES, FlowRunPhase
from mentatlab.model.run import (
    TERMINAL_NODE_STATUSES,
    NodeRecord,
    NodeStatus,
    RunRecord,
    RunStatus,
)

__all__ = [
    "PHASES",
    "STATUS_OUTPUTS_BUDGET_BYTES",
    "flowrun_status",
    "invalid_status",
    "ready_condition",
]

STATUS_OUTPUTS_BUDGET_BYTES = 256 * 1024
"""All nodes' outputs in one status together: a for_each of thousands of items must not
approach etcd's 1.5 MiB object limit, so past this every further node's outputs stay in
the store (``outputsTruncated``)."""

PHASES = {
    RunStatus.QUEUED: FlowRunPhase.PENDING,
    RunStatus.RUNNING: FlowRunPhase.RUNNING,
    RunStatus.SUCCEEDED: FlowRunPhase.SUCCEEDED,
    RunStatus.FAILED: FlowRunPhase.FAILED,
    RunStatus.CANCELLED: FlowRunPhase.CANCELLED,
}
_MESSAGE_LIMIT = 1024  # far below the schema's MESSAGE_MAX_LENGTH: statuses stay small

PodNamer = Callable[[str, int], str]
"""(node instance, attempt) -> the name of that attempt's pod."""


def flowrun_status(
    record: RunRecord,
    *,
    generation: int,
    pod_name: PodNamer,
    now: datetime,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The status for ``record``; ``previous`` (the current status) keeps the transition
    times of conditions whose status did not change."""
    phase = PHASES[record.status].value
    budget = [STATUS_OUTPUTS_BUDGET_BYTES]
    done = sum(1 for node in record.nodes.values() if node.status in TERMINAL_NODE_STATUSES)
    status: dict[str, Any] = {
        "phase": phase,
        "runId": record.id,
        "progress": f"{done}/{len(record.nodes)}",
        "observedGeneration": generation,
        "startedAt": _time(record.started_at),
        "finishedAt": _time(record.finished_at),
        "nodes": {
            node_id: _node_status(node_id, node, pod_name, budget)
            for node_id, node in record.nodes.items()
        },
        "conditions": _keep_transition_times(
            _conditions(record, generation, now), (previous or {}).get("conditions", [])
        ),
    }
    if record.error is not None:
        status["message"] = record.error.message[:_MESSAGE_LIMIT]
    return status


def invalid_status(
    message: str, *, generation: int, now: datetime, reason: str = "Invalid"
) -> dict[str, Any]:
    """Status of a FlowRun refused before it started: ``Invalid`` (invalid flow, unknown
    agent) or ``PolicyViolation`` (the security policy forbids it)."""
    stamp = _Stamp(message, generation, now)
    return {
        "phase": "Failed",
        "finishedAt": _time(now),  # refusing it finishes it: ttlSecondsAfterFinished counts
        "message": message,
        "observedGeneration": generation,
        "conditions": [
            stamp.condition("Ready", True, reason),
            stamp.condition("Succeeded", False, reason),
            stamp.condition("Failed", True, reason),
        ],
    }


def _node_status(
    node_id: str, node: NodeRecord, pod_name: PodNamer, budget: list[int]
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "phase": node.status.value.capitalize(),
        "attempts": node.attempts,
        "startedAt": _time(node.started_at),
        "finishedAt": _time(node.finished_at),
    }
    if node.attempts and node.status is not NodeStatus.SKIPPED:
        entry["podName"] = pod_name(node_id, node.attempts)
    if node.error is not None:
        entry["exitReason"] = node.error.reason
        entry["message"] = node.error.message[:_MESSAGE_LIMIT]
    if node.outputs:
        size = len(json.dumps(node.outputs, separators=(",", ":"), default=str).encode())
        if size <= min(NODE_OUTPUTS_LIMIT_BYTES, budget[0]):
            entry["outputs"] = node.outputs
            budget[0] -= size
        else:
            entry["outputsTruncated"] = True
    return {key: value for key, value in entry.items() if value is not None}


def _conditions(record: RunRecord, generation: int, now: datetime) -> list[dict[str, Any]]:
    stamp = _Stamp(record.error.message if record.error else "", generation, now)
    reason = record.error.reason if record.error else record.status.value
    finished = record.status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
    succeeded = record.status is RunStatus.SUCCEEDED
    failed = finished and not succeeded
    return [
        stamp.condition("Ready", finished, "Finished" if finished else PHASES[record.status].value),
        stamp.condition("Succeeded", succeeded, "Succeeded" if succeeded else reason),
        stamp.condition("Failed", failed, reason if failed else "NotFailed"),
    ]


def ready_condition(
    ready: bool,
    reason: str,
    message: str,
    *,
    generation: int,
    now: datetime,
    previous: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The ``Ready`` condition of an Agent, Flow or AgentDeployment; its transition time is
    kept from ``previous`` (the current conditions) while its status does not change."""
    condition = _Stamp(message, generation, now).condition("Ready", ready, reason)
    return _keep_transition_times([condition], previous)[0]


def _keep_transition_times(
    conditions: list[dict[str, Any]], previous: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    before = {c.get("type"): c for c in previous}
    for condition in conditions:
        old = before.get(condition["type"])
        if old is not None and old.get("status") == condition["status"]:
            condition["lastTransitionTime"] = old.get("lastTransitionTime")
    return conditions


@dataclass(frozen=True)
class _Stamp:
    message: str
    generation: int
    now: datetime

    def condition(self, kind: str, true: bool, reason: str) -> dict[str, Any]:
        # metav1.Condition: reason is CamelCase letters; messages are capped for etcd.
        camel = "".join(part[:1].upper() + part[1:] for part in reason.replace("-", "_").split("_"))
        return {
            "type": kind,
            "status": "True" if true else "False",
            "reason": camel or "Unknown",
            "message": self.message[:_MESSAGE_LIMIT],
            "observedGeneration": self.generation,
            "lastTransitionTime": _time(self.now),
        }


def _time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None
