"""What the store appends to a run whose ``mentatctl`` process died before it finished.

Running nodes fail with reason ``interrupted``, pending nodes are skipped, then the run fails.
Finished nodes keep their state, so the log still tells what completed before the crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mentatlab.model.run import EventType, NodeStatus, RunStatus
from mentatlab.store.base import NewEvent
from mentatlab.store.owner import RunOwner

__all__ = ["INTERRUPTED", "interrupted_events"]

INTERRUPTED = "interrupted"


def interrupted_events(
    nodes: Sequence[tuple[str, NodeStatus, int]], owner: RunOwner
) -> list[NewEvent]:
    """Events that close an interrupted run, given its ``(node, status, attempts)`` states."""
    message = (
        "the mentatctl process running this run exited before it finished "
        f"(pid {owner.pid} on {owner.host})"
    )
    result = []
    for node_id, status, attempts in nodes:
        if status is NodeStatus.RUNNING:
            attempt = attempts or None
            error: dict[str, Any] = {"reason": INTERRUPTED, "message": message, "node": node_id}
            if attempt is not None:
                error["attempt"] = attempt
            result.append(
                NewEvent(
                    EventType.NODE_STATUS,
                    node=node_id,
                    attempt=attempt,
                    data={"status": NodeStatus.FAILED.value, "error": error},
                )
            )
        elif status is NodeStatus.PENDING:
            result.append(
                NewEvent(
                    EventType.NODE_STATUS, node=node_id, data={"status": NodeStatus.SKIPPED.value}
                )
            )
    result.append(
        NewEvent(
            EventType.RUN_STATUS,
            data={
                "status": RunStatus.FAILED.value,
                "error": {"reason": INTERRUPTED, "message": message},
            },
        )
    )
    return result
