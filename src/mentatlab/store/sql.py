"""The run store on SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

Write transactions are opened with the :data:`WRITE_TRANSACTION` execution option so a dialect
module can take the write lock up front (SQLite: ``BEGIN IMMEDIATE``, see
:mod:`mentatlab.store.sqlite`); every write that depends on a run's state also selects the run
row ``FOR UPDATE``, which is what serialises appenders on PostgreSQL (no-op on SQLite).
Reads on PostgreSQL run at REPEATABLE READ, so one read sees one snapshot as on SQLite.

A lock wait that gives up (SQLite's busy timeout, PostgreSQL's ``lock_timeout``, both 30 s by
default) raises :class:`~mentatlab.store.errors.StoreBusyError` from every transaction.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Connection, Engine, Row, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from mentatlab.model.run import (
    TERMINAL_RUN_STATUSES,
    EventType,
    Executor,
    NodeError,
    NodeRecord,
    NodeStatus,
    RunEvent,
    RunRecord,
    RunStatus,
)
from mentatlab.store.append import append_in_transaction
from mentatlab.store.base import AttemptRecord, NewEvent
from mentatlab.store.errors import RunNotFoundError, StoreBusyError
from mentatlab.store.ids import new_run_id
from mentatlab.store.owner import RunOwner
from mentatlab.store.recovery import interrupted_events
from mentatlab.store.schema import (
    ATTEMPT_STATE_COLUMNS,
    NODE_STATE_COLUMNS,
    attempts,
    events,
    nodes,
    runs,
    state_of,
)

__all__ = ["WRITE_TRANSACTION", "SqlRunStore", "busy_as_store_error", "driver_message"]

WRITE_TRANSACTION = "mentatlab_write_transaction"
"""Execution option set on connections that will write; see the module docstring."""

_UNFINISHED = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)
_SQLITE_BUSY = 5  # the primary result code (the low byte of extended codes like BUSY_SNAPSHOT)
_PG_LOCK_NOT_AVAILABLE = "55P03"  # what a lock wait longer than lock_timeout fails with
# Polled by every running engine: built once, not rebuilt (nor its cache key) per poll.
_CANCEL_REQUESTED = select(runs.c.cancel_requested).where(runs.c.id == bindparam("b_run_id"))


@contextmanager
def busy_as_store_error() -> Iterator[None]:
    """Turn a lock wait that timed out, on either backend, into :class:`StoreBusyError`."""
    try:
        yield
    except OperationalError as exc:
        orig = exc.orig
        sqlite_code = getattr(orig, "sqlite_errorcode", None)
        if (isinstance(sqlite_code, int) and sqlite_code & 0xFF == _SQLITE_BUSY) or (
            getattr(orig, "sqlstate", None) == _PG_LOCK_NOT_AVAILABLE
        ):
            raise StoreBusyError(
                "the run store is busy: a lock stayed held too long "
                f"({driver_message(exc)}); try again"
            ) from exc
        raise


def driver_message(exc: DBAPIError) -> str:
    """The database driver's message of ``exc`` on one line (without SQLAlchemy's SQL)."""
    lines = [line.strip() for line in str(exc.orig).splitlines() if line.strip()]
    return "; ".join(lines) or type(exc.orig).__name__


class SqlRunStore:
    """:class:`~mentatlab.store.base.RunStore` over a migrated SQLAlchemy engine it owns."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_TRANSACTION: True})
        # READ COMMITTED (the writers' level) takes a snapshot per statement; a run and its
        # nodes read in two statements must come from one. (SQLite transactions have one.)
        self._reader = (
            engine.execution_options(isolation_level="REPEATABLE READ")
            if engine.dialect.name == "postgresql"
            else engine
        )

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        # One transaction per read, so a run and its nodes come from the same snapshot.
        with busy_as_store_error(), self._reader.begin() as conn:
            yield conn

    @contextmanager
    def write_transaction(self) -> Iterator[Connection]:
        """A transaction holding the write lock from its start; commits unless it raises.

        Raises :class:`StoreBusyError` when waiting for a lock times out.
        """
        with busy_as_store_error(), self._writer.begin() as conn:
            yield conn

    @contextmanager
    def read_transaction(self) -> Iterator[Connection]:
        """A transaction that only reads (one snapshot, no write lock), for store extensions."""
        with self._read() as conn:
            yield conn

    def create_run(
        self,
        *,
        flow: Mapping[str, Any],
        inputs: Mapping[str, Any],
        node_ids: Sequence[str],
        flow_id: str | None,
        flow_name: str | None,
        owner: RunOwner | None = None,
        executor: Executor = Executor.LOCAL,
    ) -> RunRecord:
        owner = owner or RunOwner.current()
        run_id = new_run_id()
        with self.write_transaction() as conn:
            conn.execute(
                insert(runs).values(
                    id=run_id,
                    status=RunStatus.QUEUED.value,
                    flow_id=flow_id,
                    flow_name=flow_name,
                    flow=dict(flow),
                    inputs=dict(inputs),
                    outputs={},
                    error=None,
                    created_at=datetime.now(UTC),
                    last_seq=0,
                    cancel_requested=False,
                    owner_host=owner.host,
                    owner_pid=owner.pid,
                    owner_create_time=owner.create_time,
                    executor=executor.value,
                )
            )
            if node_ids:
                conn.execute(
                    insert(nodes),
                    [
                        {
                            "run_id": run_id,
                            "node_id": node_id,
                            "position": position,
                            "status": NodeStatus.PENDING.value,
                            "attempts": 0,
                            "outputs": {},
                            "error": None,
                        }
                        for position, node_id in enumerate(node_ids)
                    ],
                )
            return self._load_run(conn, run_id)

    def append_events(self, run_id: str, events: Sequence[NewEvent]) -> list[RunEvent]:
        with self.write_transaction() as conn:
            return append_in_transaction(conn, run_id, events)

    def get_run(self, run_id: str) -> RunRecord:
        with self._read() as conn:
            return self._load_run(conn, run_id)

    def list_runs(
        self, *, limit: int = 50, status: RunStatus | None = None, before: str | None = None
    ) -> list[RunRecord]:
        query = select(runs).order_by(runs.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(runs.c.status == RunStatus(status).value)
        if before is not None:
            query = query.where(runs.c.id < before)
        with self._read() as conn:
            run_rows = conn.execute(query).all()
            node_rows = conn.execute(
                select(nodes)
                .where(nodes.c.run_id.in_([r.id for r in run_rows]))
                .order_by(nodes.c.run_id, nodes.c.position)
            ).all()
        by_run: dict[str, list[Row[Any]]] = {}
        for node_row in node_rows:
            by_run.setdefault(node_row.run_id, []).append(node_row)
        return [_run_record(r, by_run.get(r.id, [])) for r in run_rows]

    def read_events(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[RunEvent]:
        query = (
            select(events)
            .where(events.c.run_id == run_id, events.c.seq > after_seq)
            .order_by(events.c.seq)
            .limit(limit)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
            if not rows:
                self._require_run(conn, run_id)
        return [
            RunEvent(
                run_id=r.run_id,
                seq=r.seq,
                ts=r.ts,
                type=EventType(r.type),
                node=r.node,
                attempt=r.attempt,
                data=r.data,
            )
            for r in rows
        ]

    def get_attempts(self, run_id: str, node_id: str | None = None) -> list[AttemptRecord]:
        query = (
            select(attempts)
            .join(
                nodes,
                (nodes.c.run_id == attempts.c.run_id) & (nodes.c.node_id == attempts.c.node_id),
            )
            .where(attempts.c.run_id == run_id)
            .order_by(nodes.c.position, attempts.c.attempt)
        )
        if node_id is not None:
            query = query.where(attempts.c.node_id == node_id)
        with self._read() as conn:
            rows = conn.execute(query).all()
            if not rows:
                self._require_run(conn, run_id)
        return [
            AttemptRecord(node=r.node_id, attempt=r.attempt, **state_of(r, ATTEMPT_STATE_COLUMNS))
            for r in rows
        ]

    def get_flow(self, run_id: str) -> dict[str, Any]:
        with self._read() as conn:
            flow: dict[str, Any] | None = conn.scalar(
                select(runs.c.flow).where(runs.c.id == run_id)
            )
        if flow is None:
            raise RunNotFoundError(run_id)
        return flow

    def last_checkpoint(self, run_id: str, node_id: str) -> Any | None:
        with self._read() as conn:
            data = conn.scalar(
                select(events.c.data)
                .where(
                    events.c.run_id == run_id,
                    events.c.node == node_id,
                    events.c.type == EventType.CHECKPOINT.value,
                )
                .order_by(events.c.seq.desc())
                .limit(1)
            )
            if data is None:
                self._require_run(conn, run_id)
                return None
        return data.get("state")

    def request_cancel(self, run_id: str) -> bool:
        with self.write_transaction() as conn:
            status = conn.scalar(select(runs.c.status).where(runs.c.id == run_id).with_for_update())
            if status is None:
                raise RunNotFoundError(run_id)
            if RunStatus(status) in TERMINAL_RUN_STATUSES:
                return False
            conn.execute(update(runs).where(runs.c.id == run_id).values(cancel_requested=True))
            return True

    def cancel_requested(self, run_id: str) -> bool:
        with self._read() as conn:
            flag = conn.scalar(_CANCEL_REQUESTED, {"b_run_id": run_id})
        if flag is None:
            raise RunNotFoundError(run_id)
        return bool(flag)

    def recover_interrupted(self) -> list[str]:
        host = socket.gethostname()
        with self._read() as conn:
            candidates = conn.execute(
                select(runs.c.id, runs.c.owner_pid, runs.c.owner_create_time).where(
                    runs.c.status.in_(_UNFINISHED), runs.c.owner_host == host
                )
            ).all()
        recovered = []
        for run_id, pid, create_time in candidates:
            owner = RunOwner(host=host, pid=pid, create_time=create_time)
            if not owner.is_alive() and self._fail_interrupted(run_id, owner):
                recovered.append(run_id)
        return recovered

    def _fail_interrupted(self, run_id: str, owner: RunOwner) -> bool:
        with self.write_transaction() as conn:
            # Re-read under the run's lock: another process opening the store may have won.
            status = conn.scalar(select(runs.c.status).where(runs.c.id == run_id).with_for_update())
            if status not in _UNFINISHED:
                return False
            node_rows = conn.execute(
                select(nodes.c.node_id, nodes.c.status, nodes.c.attempts)
                .where(nodes.c.run_id == run_id)
                .order_by(nodes.c.position)
            ).all()
            states = [(r.node_id, NodeStatus(r.status), r.attempts) for r in node_rows]
            append_in_transaction(conn, run_id, interrupted_events(states, owner))
            return True

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _require_run(self, conn: Connection, run_id: str) -> None:
        if conn.scalar(select(runs.c.id).where(runs.c.id == run_id)) is None:
            raise RunNotFoundError(run_id)

    def _load_run(self, conn: Connection, run_id: str) -> RunRecord:
        run_row = conn.execute(select(runs).where(runs.c.id == run_id)).one_or_none()
        if run_row is None:
            raise RunNotFoundError(run_id)
        node_rows = conn.execute(
            select(nodes).where(nodes.c.run_id == run_id).order_by(nodes.c.position)
        ).all()
        return _run_record(run_row, node_rows)


def _run_record(run: Row[Any], node_rows: Sequence[Row[Any]]) -> RunRecord:
    return RunRecord(
        id=run.id,
        status=RunStatus(run.status),
        flow_id=run.flow_id,
        flow_name=run.flow_name,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        inputs=run.inputs,
        outputs=run.outputs,
        error=_error(run.error),
        executor=None if run.executor is None else Executor(run.executor),
        nodes={
            n.node_id: NodeRecord.model_validate(state_of(n, NODE_STATE_COLUMNS)) for n in node_rows
        },
    )


def _error(value: dict[str, Any] | None) -> NodeError | None:
    return None if value is None else NodeError.model_validate(value)
