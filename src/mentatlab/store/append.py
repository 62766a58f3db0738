"""Appending to a run's event log inside an open write transaction.

Seqs come from ``runs.last_seq``, read with the run row locked and bumped in the same
transaction, so concurrent appenders queue and seqs stay gapless; the (run_id, seq) primary
key of ``events`` turns any bug in that into an error instead of a duplicate.

One append reads only what its events change: the node records of status, output and progress
events, the attempt records of status events with an attempt, and for the other events of a
node (log, metric, checkpoint, error) only that the node exists. The statements are built once
(at import) with bound parameters, so an execution builds neither the statement nor its
SQLAlchemy cache key again; rows of one kind are written with one executemany.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC
from typing import Any, Final

from pydantic import ValidationError
from sqlalchemy import BindParameter, Connection, bindparam, func, insert, select, update

from mentatlab.model.run import EventType, RunEvent, RunStatus
from mentatlab.store.base import NewEvent
from mentatlab.store.errors import InvalidEventError, RunNotFoundError
from mentatlab.store.projection import (
    NODE_RECORD_EVENTS,
    AttemptState,
    NodeState,
    Projection,
    RunState,
)
from mentatlab.store.schema import (
    ATTEMPT_STATE_COLUMNS,
    NODE_STATE_COLUMNS,
    attempts,
    events,
    nodes,
    runs,
    state_of,
    values_of,
    without_nul,
)

__all__ = ["append_in_transaction"]

# Bound parameter names differ from column names: UPDATE ... SET takes the column names.
_RUN: Final[BindParameter[str]] = bindparam("b_run_id")
_NODE: Final[BindParameter[str]] = bindparam("b_node_id")
_NODE_IDS: Final[BindParameter[list[str]]] = bindparam("b_node_ids", expanding=True)

_LOCK_RUN: Final = (
    select(
        runs.c.status,
        runs.c.started_at,
        runs.c.finished_at,
        runs.c.error,
        runs.c.outputs,
        runs.c.last_seq,
    )
    .where(runs.c.id == _RUN)
    .with_for_update()
)
_LOAD_NODES: Final = select(nodes.c.node_id, *(nodes.c[c] for c in NODE_STATE_COLUMNS)).where(
    nodes.c.run_id == _RUN, nodes.c.node_id.in_(_NODE_IDS)
)
_EXISTING_NODES: Final = select(nodes.c.node_id).where(
    nodes.c.run_id == _RUN, nodes.c.node_id.in_(_NODE_IDS)
)
_LOAD_ATTEMPTS: Final = select(
    attempts.c.node_id, attempts.c.attempt, *(attempts.c[c] for c in ATTEMPT_STATE_COLUMNS)
).where(attempts.c.run_id == _RUN, attempts.c.node_id.in_(_NODE_IDS))
_LAST_POSITION: Final = select(func.max(nodes.c.position)).where(nodes.c.run_id == _RUN)
_INSERT_EVENTS: Final = insert(events)
_INSERT_NODES: Final = insert(nodes)
_INSERT_ATTEMPTS: Final = insert(attempts)
# SET takes the columns named by the parameters of each execution.
_UPDATE_RUN: Final = update(runs).where(runs.c.id == _RUN)
_UPDATE_NODES: Final = update(nodes).where(nodes.c.run_id == _RUN, nodes.c.node_id == _NODE)
_UPDATE_ATTEMPTS: Final = update(attempts).where(
    attempts.c.run_id == _RUN,
    attempts.c.node_id == _NODE,
    attempts.c.attempt == bindparam("b_attempt"),
)


def append_in_transaction(
    conn: Connection, run_id: str, new_events: Sequence[NewEvent]
) -> list[RunEvent]:
    """Append ``new_events`` to the run's log and project them; the caller commits."""
    row = conn.execute(_LOCK_RUN, {"b_run_id": run_id}).one_or_none()
    if row is None:
        raise RunNotFoundError(run_id)
    if not new_events:
        return []
    stored = [_stored_event(run_id, row.last_seq + i, ev) for i, ev in enumerate(new_events, 1)]
    named = {ev.node for ev in stored if ev.node is not None}
    changing = {ev.node for ev in stored if ev.node is not None and ev.type in NODE_RECORD_EVENTS}
    with_attempts = {
        ev.node
        for ev in stored
        if ev.node is not None and ev.type is EventType.NODE_STATUS and ev.attempt is not None
    }
    projection = Projection(
        run=RunState(
            id=run_id,
            status=RunStatus(row.status),
            started_at=row.started_at,
            finished_at=row.finished_at,
            error=row.error,
            outputs=row.outputs,
        ),
        nodes=_load_nodes(conn, run_id, changing),
        attempts=_load_attempts(conn, run_id, with_attempts),
        unchanged_nodes=_existing_nodes(conn, run_id, named - changing),
    )
    for ev in stored:
        projection.apply(ev)
    conn.execute(
        _INSERT_EVENTS,
        [
            {
                "run_id": run_id,
                "seq": ev.seq,
                "ts": ev.ts,
                "type": ev.type.value,
                "node": ev.node,
                "attempt": ev.attempt,
                "data": ev.data,
            }
            for ev in stored
        ],
    )
    _save(conn, projection, last_seq=stored[-1].seq)
    return stored


def _stored_event(run_id: str, seq: int, ev: NewEvent) -> RunEvent:
    if ev.ts.tzinfo is None:
        raise InvalidEventError("event timestamps must be timezone-aware")
    try:
        # A JSON round trip stores strict JSON (portable to PostgreSQL) and makes the returned
        # event equal to what read_events() later returns (enums become plain strings).
        data = json.loads(json.dumps(dict(ev.data), allow_nan=False))
        return RunEvent(
            run_id=run_id,
            seq=seq,
            ts=ev.ts.astimezone(UTC),
            type=EventType(ev.type),
            # As the events table stores it (NUL in text columns becomes U+FFFD).
            node=None if ev.node is None else without_nul(ev.node),
            attempt=ev.attempt,
            data=data,
        )
    except (TypeError, ValueError, ValidationError) as exc:
        raise InvalidEventError(f"invalid {ev.type!r} event: {exc}") from None


def _load_nodes(conn: Connection, run_id: str, node_ids: set[str]) -> dict[str, NodeState]:
    if not node_ids:
        return {}
    rows = conn.execute(_LOAD_NODES, {"b_run_id": run_id, "b_node_ids": sorted(node_ids)})
    return {r.node_id: NodeState(**state_of(r, NODE_STATE_COLUMNS)) for r in rows}


def _existing_nodes(conn: Connection, run_id: str, node_ids: set[str]) -> set[str]:
    if not node_ids:
        return set()
    rows = conn.execute(_EXISTING_NODES, {"b_run_id": run_id, "b_node_ids": sorted(node_ids)})
    return {r.node_id for r in rows}


def _load_attempts(
    conn: Connection, run_id: str, node_ids: set[str]
) -> dict[tuple[str, int], AttemptState]:
    if not node_ids:
        return {}
    rows = conn.execute(_LOAD_ATTEMPTS, {"b_run_id": run_id, "b_node_ids": sorted(node_ids)})
    return {
        (r.node_id, r.attempt): AttemptState(
            **state_of(r, ATTEMPT_STATE_COLUMNS), is_new=False, changed=False
        )
        for r in rows
    }


def _save(conn: Connection, projection: Projection, *, last_seq: int) -> None:
    run = projection.run
    run_values: dict[str, Any] = {"b_run_id": run.id, "last_seq": last_seq}
    if run.changed:
        run_values |= {
            "status": run.status.value,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "error": run.error,
            "outputs": run.outputs,
        }
    conn.execute(_UPDATE_RUN, run_values)
    new_nodes = [(i, n) for i, n in projection.nodes.items() if n.is_new]
    if new_nodes:
        last = conn.execute(_LAST_POSITION, {"b_run_id": run.id}).scalar_one()
        conn.execute(
            _INSERT_NODES,
            [
                {
                    "run_id": run.id,
                    "node_id": node_id,
                    "position": position,
                    **values_of(node, NODE_STATE_COLUMNS),
                }
                for position, (node_id, node) in enumerate(new_nodes, (last or 0) + 1)
            ],
        )
    changed_nodes = [
        {"b_run_id": run.id, "b_node_id": node_id, **values_of(node, NODE_STATE_COLUMNS)}
        for node_id, node in projection.nodes.items()
        if node.changed and not node.is_new
    ]
    if changed_nodes:
        conn.execute(_UPDATE_NODES, changed_nodes)
    new_attempts: list[dict[str, Any]] = []
    changed_attempts: list[dict[str, Any]] = []
    for (node_id, number), attempt in projection.attempts.items():
        if not attempt.changed:
            continue
        values = values_of(attempt, ATTEMPT_STATE_COLUMNS)
        if attempt.is_new:
            new_attempts.append({"run_id": run.id, "node_id": node_id, "attempt": number, **values})
        else:
            changed_attempts.append(
                {"b_run_id": run.id, "b_node_id": node_id, "b_attempt": number, **values}
            )
    if new_attempts:
        conn.execute(_INSERT_ATTEMPTS, new_attempts)
    if changed_attempts:
        conn.execute(_UPDATE_ATTEMPTS, changed_attempts)
