"""Appending to a run's event log inside an open write transaction.

Seqs come from ``runs.last_seq``, read with the run row locked and bumped in the same
transaction, so concurrent appenders queue and seqs stay gapless; the (run_id, seq) primary
key of ``events`` turns any bug in that into an error instead of a duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, func, insert, select, update

from mentatlab.model.run import EventType, RunEvent, RunStatus
from mentatlab.store.base import NewEvent
from mentatlab.store.errors import InvalidEventError, RunNotFoundError
from mentatlab.store.projection import AttemptState, NodeState, Projection, RunState
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


def append_in_transaction(
    conn: Connection, run_id: str, new_events: Sequence[NewEvent]
) -> list[RunEvent]:
    """Append ``new_events`` to the run's log and project them; the caller commits."""
    row = conn.execute(
        select(
            runs.c.status,
            runs.c.started_at,
            runs.c.finished_at,
            runs.c.error,
            runs.c.outputs,
            runs.c.last_seq,
        )
        .where(runs.c.id == run_id)
        .with_for_update()
    ).one_or_none()
    if row is None:
        raise RunNotFoundError(run_id)
    if not new_events:
        return []
    stored = [_stored_event(run_id, row.last_seq + i, ev) for i, ev in enumerate(new_events, 1)]
    node_ids = {ev.node for ev in stored if ev.node is not None}
    projection = Projection(
        run=RunState(
            id=run_id,
            status=RunStatus(row.status),
            started_at=row.started_at,
            finished_at=row.finished_at,
            error=row.error,
            outputs=row.outputs,
        ),
        nodes=_load_nodes(conn, run_id, node_ids),
        attempts=_load_attempts(conn, run_id, node_ids),
    )
    for ev in stored:
        projection.apply(ev)
    conn.execute(
        insert(events),
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
    rows = conn.execute(
        select(nodes).where(nodes.c.run_id == run_id, nodes.c.node_id.in_(sorted(node_ids)))
    )
    return {r.node_id: NodeState(**state_of(r, NODE_STATE_COLUMNS)) for r in rows}


def _load_attempts(
    conn: Connection, run_id: str, node_ids: set[str]
) -> dict[tuple[str, int], AttemptState]:
    if not node_ids:
        return {}
    rows = conn.execute(
        select(attempts).where(
            attempts.c.run_id == run_id, attempts.c.node_id.in_(sorted(node_ids))
        )
    )
    return {
        (r.node_id, r.attempt): AttemptState(
            **state_of(r, ATTEMPT_STATE_COLUMNS), is_new=False, changed=False
        )
        for r in rows
    }


def _save(conn: Connection, projection: Projection, *, last_seq: int) -> None:
    run = projection.run
    run_values: dict[str, Any] = {"last_seq": last_seq}
    if run.changed:
        run_values |= {
            "status": run.status.value,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "error": run.error,
            "outputs": run.outputs,
        }
    conn.execute(update(runs).where(runs.c.id == run.id).values(run_values))
    next_position: int | None = None
    for node_id, node in projection.nodes.items():
        if node.is_new:
            if next_position is None:
                highest = conn.execute(
                    select(func.max(nodes.c.position)).where(nodes.c.run_id == run.id)
                ).scalar_one()
                next_position = (highest or 0) + 1
            conn.execute(
                insert(nodes).values(
                    run_id=run.id,
                    node_id=node_id,
                    position=next_position,
                    **values_of(node, NODE_STATE_COLUMNS),
                )
            )
            next_position += 1
            continue
        if not node.changed:
            continue
        conn.execute(
            update(nodes)
            .where(nodes.c.run_id == run.id, nodes.c.node_id == node_id)
            .values(values_of(node, NODE_STATE_COLUMNS))
        )
    for (node_id, number), attempt in projection.attempts.items():
        if not attempt.changed:
            continue
        values = values_of(attempt, ATTEMPT_STATE_COLUMNS)
        if attempt.is_new:
            conn.execute(
                insert(attempts).values(run_id=run.id, node_id=node_id, attempt=number, **values)
            )
        else:
            conn.execute(
                update(attempts)
                .where(
                    attempts.c.run_id == run.id,
                    attempts.c.node_id == node_id,
                    attempts.c.attempt == number,
                )
                .values(values)
            )
