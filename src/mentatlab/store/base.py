"""The run store interface the CLI and viewers program against, and the event they append.

The store is a projection of each run's event log: state changes are written only as events,
and :meth:`RunStore.append_events` updates the run and node records in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol, Self

from mentatlab.model.run import EventType, Executor, NodeStatus, RunEvent, RunRecord, RunStatus
from mentatlab.store.owner import RunOwner

__all__ = ["AttemptRecord", "NewEvent", "RunStore"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NewEvent:
    """An event to append; the store assigns its ``seq``."""

    type: EventType
    node: str | None = None
    attempt: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    ts: datetime = field(default_factory=_utcnow)


@dataclass(frozen=True, kw_only=True)
class AttemptRecord:
    """One attempt of one node, as projected from its ``node.status`` events."""

    node: str
    attempt: int
    status: NodeStatus
    started_at: datetime | None
    finished_at: datetime | None
    error_reason: str | None
    error_message: str | None
    exit_code: int | None


class RunStore(Protocol):
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
        """Record a new ``queued`` run with every node ``pending``.

        ``owner`` defaults to the calling process (:meth:`RunOwner.current`); ``executor``
        says where its agents will execute.
        """
        ...

    def append_events(self, run_id: str, events: Sequence[NewEvent]) -> list[RunEvent]:
        """Append ``events`` atomically with consecutive seqs and project them onto the run.

        Raises :class:`RunNotFoundError` for an unknown run, :class:`InvalidEventError` for a
        malformed event, and :class:`RunFinishedError` once the run is terminal for anything
        but a terminal ``node.status`` or a log-only event (log, metric, checkpoint, error).
        Nothing of the batch is stored when any event is rejected.
        """
        ...

    def get_run(self, run_id: str) -> RunRecord: ...

    def list_runs(
        self, *, limit: int = 50, status: RunStatus | None = None, before: str | None = None
    ) -> list[RunRecord]:
        """Runs newest first; pass the last id of a page as ``before`` to get the next one."""
        ...

    def read_events(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[RunEvent]: ...

    def get_attempts(self, run_id: str, node_id: str | None = None) -> list[AttemptRecord]:
        """Attempts of one node (or all nodes), by node order then attempt number."""
        ...

    def get_flow(self, run_id: str) -> dict[str, Any]:
        """The flow document the run executed."""
        ...

    def last_checkpoint(self, run_id: str, node_id: str) -> Any | None:
        """State of the node's latest ``checkpoint`` event, or ``None`` if it has none."""
        ...

    def request_cancel(self, run_id: str) -> bool:
        """Ask the engine running this run to cancel it; ``False`` if it already finished."""
        ...

    def cancel_requested(self, run_id: str) -> bool: ...

    def recover_interrupted(self) -> list[str]:
        """Fail unfinished runs whose owner on this host died; return their ids."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
