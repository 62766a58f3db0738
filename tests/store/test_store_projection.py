"""How appended events project onto run, node and attempt records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mentatlab.model.run import EventType, NodeError, NodeStatus, RunStatus
from mentatlab.store import (
    InvalidEventError,
    NewEvent,
    RunFinishedError,
    SqlRunStore,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def node_status(
    node: str, status: str, attempt: int | None = 1, ts: int = 0, **data: Any
) -> NewEvent:
    return NewEvent(
        EventType.NODE_STATUS,
        node=node,
        attempt=attempt,
        data={"status": status, **data},
        ts=at(ts),
    )


def run_status(status: str, ts: int = 0, **data: Any) -> NewEvent:
    return NewEvent(EventType.RUN_STATUS, data={"status": status, **data}, ts=at(ts))


@pytest.fixture
def run_id(store: SqlRunStore) -> str:
    return store.create_run(
        flow={}, inputs={}, node_ids=["a", "b"], flow_id=None, flow_name=None
    ).id


def test_run_status_sets_times_error_and_outputs(store: SqlRunStore, run_id: str) -> None:
    store.append_events(run_id, [run_status("running", ts=1)])
    run = store.get_run(run_id)
    assert (run.status, run.started_at, run.finished_at) == (RunStatus.RUNNING, at(1), None)

    outputs = {"b": {"answer": 42}}
    error = {"reason": "upstream_failed", "message": "a failed", "node": "a"}
    store.append_events(run_id, [run_status("running", ts=2)])
    store.append_events(run_id, [run_status("failed", ts=3, error=error, outputs=outputs)])
    run = store.get_run(run_id)
    assert run.status is RunStatus.FAILED
    assert run.started_at == at(1)  # the first running wins
    assert run.finished_at == at(3)
    assert run.error == NodeError(reason="upstream_failed", message="a failed", node="a")
    assert run.outputs == outputs


def test_node_status_projection_across_retries(store: SqlRunStore, run_id: str) -> None:
    boom = {"reason": "exit_code", "message": "exit 3", "exit_code": 3}
    store.append_events(
        run_id,
        [
            node_status("a", "running", attempt=1, ts=1),
            NewEvent(EventType.OUTPUT, node="a", attempt=1, data={"pin": "p", "value": 1}),
            NewEvent(EventType.PROGRESS, node="a", attempt=1, data={"percent": 40}),
            node_status("a", "failed", attempt=1, ts=2, error=boom),
        ],
    )
    node = store.get_run(run_id).nodes["a"]
    assert node.status is NodeStatus.FAILED
    assert node.attempts == 1
    assert (node.started_at, node.finished_at) == (at(1), at(2))
    assert node.error == NodeError(reason="exit_code", message="exit 3", exit_code=3)
    assert node.outputs == {"p": 1}
    assert node.progress == 40

    store.append_events(run_id, [node_status("a", "running", attempt=2, ts=3)])
    node = store.get_run(run_id).nodes["a"]
    assert node.status is NodeStatus.RUNNING
    assert node.attempts == 2
    assert node.started_at == at(1)
    assert node.finished_at is None
    assert node.error is None
    assert node.outputs == {}
    assert node.progress is None

    store.append_events(
        run_id, [node_status("a", "succeeded", attempt=2, ts=4, outputs={"p": 2, "q": 3})]
    )
    node = store.get_run(run_id).nodes["a"]
    assert (node.status, node.finished_at, node.outputs) == (
        NodeStatus.SUCCEEDED,
        at(4),
        {"p": 2, "q": 3},
    )
    assert store.get_run(run_id).nodes["b"].status is NodeStatus.PENDING

    first, second = store.get_attempts(run_id, "a")
    assert (first.attempt, first.status, first.started_at, first.finished_at) == (
        1,
        NodeStatus.FAILED,
        at(1),
        at(2),
    )
    assert (first.error_reason, first.error_message, first.exit_code) == ("exit_code", "exit 3", 3)
    assert (second.attempt, second.status, second.started_at, second.finished_at) == (
        2,
        NodeStatus.SUCCEEDED,
        at(3),
        at(4),
    )
    assert second.error_reason is None
    assert store.get_attempts(run_id, "b") == []


def test_node_status_without_attempt_records_no_attempt(store: SqlRunStore, run_id: str) -> None:
    store.append_events(run_id, [node_status("b", "skipped", attempt=None, ts=5)])
    node = store.get_run(run_id).nodes["b"]
    assert (node.status, node.attempts, node.started_at, node.finished_at) == (
        NodeStatus.SKIPPED,
        0,
        None,
        at(5),
    )
    assert store.get_attempts(run_id) == []


def test_output_last_write_wins_per_pin(store: SqlRunStore, run_id: str) -> None:
    store.append_events(
        run_id,
        [
            node_status("a", "running"),
            NewEvent(EventType.OUTPUT, node="a", attempt=1, data={"pin": "x", "value": "old"}),
            NewEvent(EventType.OUTPUT, node="a", attempt=1, data={"pin": "y", "value": [1]}),
        ],
    )
    store.append_events(
        run_id,
        [NewEvent(EventType.OUTPUT, node="a", attempt=1, data={"pin": "x", "value": {"n": 1}})],
    )
    assert store.get_run(run_id).nodes["a"].outputs == {"x": {"n": 1}, "y": [1]}


def test_log_metric_checkpoint_error_only_enter_the_log(store: SqlRunStore, run_id: str) -> None:
    store.append_events(run_id, [node_status("a", "running")])
    before = store.get_run(run_id)
    stored = store.append_events(
        run_id,
        [
            NewEvent(EventType.LOG, node="a", attempt=1, data={"level": "info", "message": "hi"}),
            NewEvent(EventType.METRIC, node="a", attempt=1, data={"name": "tokens", "value": 3}),
            NewEvent(EventType.CHECKPOINT, node="a", attempt=1, data={"state": {"page": 2}}),
            NewEvent(EventType.ERROR, node="a", attempt=1, data={"message": "bad", "code": "x"}),
            NewEvent(EventType.LOG, data={"level": "info", "message": "engine says hi"}),
        ],
    )
    assert [e.type for e in stored] == [
        EventType.LOG,
        EventType.METRIC,
        EventType.CHECKPOINT,
        EventType.ERROR,
        EventType.LOG,
    ]
    assert store.get_run(run_id) == before


def test_last_checkpoint_is_the_nodes_latest(store: SqlRunStore, run_id: str) -> None:
    assert store.last_checkpoint(run_id, "a") is None
    store.append_events(
        run_id,
        [
            NewEvent(EventType.CHECKPOINT, node="a", attempt=1, data={"state": {"page": 1}}),
            NewEvent(EventType.CHECKPOINT, node="b", attempt=1, data={"state": "b-state"}),
            NewEvent(EventType.CHECKPOINT, node="a", attempt=2, data={"state": {"page": 7}}),
            NewEvent(EventType.LOG, node="a", attempt=2, data={"message": "after"}),
        ],
    )
    assert store.last_checkpoint(run_id, "a") == {"page": 7}
    assert store.last_checkpoint(run_id, "b") == "b-state"


def test_terminal_run_rejects_live_state_changes(store: SqlRunStore, run_id: str) -> None:
    store.append_events(
        run_id, [run_status("running"), node_status("a", "running"), run_status("cancelled")]
    )
    rejected = [
        run_status("running"),
        run_status("failed"),
        node_status("b", "running"),
        node_status("a", "pending"),
        NewEvent(EventType.OUTPUT, node="a", attempt=1, data={"pin": "p", "value": 1}),
        NewEvent(EventType.PROGRESS, node="a", attempt=1, data={"percent": 5}),
    ]
    for event in rejected:
        with pytest.raises(RunFinishedError):
            store.append_events(run_id, [event])
    # A late terminal report of a node, and diagnostics, are still recorded.
    store.append_events(
        run_id,
        [
            node_status("a", "cancelled", ts=9),
            NewEvent(EventType.LOG, node="a", attempt=1, data={"message": "stopped"}),
        ],
    )
    run = store.get_run(run_id)
    assert run.status is RunStatus.CANCELLED
    assert run.nodes["a"].status is NodeStatus.CANCELLED
    assert [e.seq for e in store.read_events(run_id)] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "event",
    [
        NewEvent(EventType.NODE_STATUS, node="nope", data={"status": "running"}),
        NewEvent(EventType.LOG, node="nope", data={"message": "x"}),
        NewEvent(EventType.NODE_STATUS, data={"status": "running"}),
        NewEvent(EventType.OUTPUT, data={"pin": "p", "value": 1}),
        NewEvent(EventType.NODE_STATUS, node="a", data={"status": "exploded"}),
        NewEvent(EventType.RUN_STATUS, data={}),
        NewEvent(EventType.RUN_STATUS, data={"status": "failed", "error": {"message": "x"}}),
        NewEvent(EventType.RUN_STATUS, data={"status": "succeeded", "outputs": {"a": 1}}),
        NewEvent(EventType.OUTPUT, node="a", data={"value": 1}),
        NewEvent(EventType.PROGRESS, node="a", data={"percent": "half"}),
        NewEvent(EventType.LOG, data={"when": datetime.now(UTC)}),
        NewEvent(EventType.METRIC, node="a", data={"name": "x", "value": float("nan")}),
        NewEvent(EventType.LOG, data={"message": "naive"}, ts=datetime(2025, 1, 1)),
        NewEvent("bogus", data={}),  # type: ignore[arg-type]
    ],
    ids=lambda event: f"{event.type}-{event.node}-{sorted(event.data)}",
)
def test_invalid_event_rejects_the_whole_batch(
    store: SqlRunStore, run_id: str, event: NewEvent
) -> None:
    before = store.get_run(run_id)
    with pytest.raises(InvalidEventError):
        store.append_events(run_id, [run_status("running"), event])
    assert store.get_run(run_id) == before
    assert store.read_events(run_id) == []
    assert store.append_events(run_id, [run_status("running")])[0].seq == 1


def test_an_attempt_followed_by_a_retry_is_recorded_as_failed(store: SqlRunStore) -> None:
    run_id = store.create_run(flow={}, inputs={}, node_ids=["a"], flow_id=None, flow_name=None).id
    error = {"reason": "exit_code", "message": "exit code 3", "exit_code": 3}
    store.append_events(
        run_id,
        [
            NewEvent(EventType.RUN_STATUS, data={"status": "running"}),
            NewEvent(EventType.NODE_STATUS, node="a", attempt=1, data={"status": "running"}),
            NewEvent(
                EventType.NODE_STATUS,
                node="a",
                attempt=1,
                data={"status": "pending", "error": error, "retry_in_seconds": 1},
            ),
        ],
    )
    (attempt,) = store.get_attempts(run_id, "a")
    assert (attempt.status, attempt.exit_code) == (NodeStatus.FAILED, 3)
    assert attempt.finished_at is not None
    assert store.get_run(run_id).nodes["a"].status is NodeStatus.PENDING


def test_a_batch_projects_as_its_events_appended_one_by_one(store: SqlRunStore) -> None:
    """Many nodes, attempts and instances changed by one append (one transaction) end up as
    the same events appended one at a time leave them."""
    error = {"reason": "exit_code", "message": "exit code 3", "exit_code": 3}
    events = [
        run_status("running", ts=1),
        node_status("a", "running", ts=2),
        node_status("b", "running", ts=3),
        NewEvent(EventType.LOG, node="a", attempt=1, data={"message": "hi"}, ts=at(4)),
        NewEvent(EventType.PROGRESS, node="a", attempt=1, data={"percent": 50}, ts=at(5)),
        NewEvent(EventType.METRIC, node="b", attempt=1, data={"name": "m", "value": 1}, ts=at(6)),
        NewEvent(EventType.OUTPUT, node="a", attempt=1, data={"pin": "p", "value": 1}, ts=at(7)),
        node_status("a", "pending", ts=8, error=error),
        node_status("a", "running", attempt=2, ts=9),
        NewEvent(EventType.CHECKPOINT, node="b", attempt=1, data={"state": {"k": 1}}, ts=at(10)),
        node_status("b", "succeeded", ts=11, outputs={"q": 2}),
        node_status("a[1]", "running", ts=12),
        node_status("a[0]", "running", ts=13),
        NewEvent(EventType.LOG, node="a[1]", attempt=1, data={"message": "x"}, ts=at(14)),
        node_status("a[0]", "succeeded", ts=15),
        node_status("a[1]", "failed", ts=16, error=error),
        node_status("a", "succeeded", attempt=2, ts=17, outputs={"p": 3}),
        run_status("succeeded", ts=18, outputs={"a": {"p": 3}}),
    ]

    def new_run() -> str:
        return store.create_run(
            flow={}, inputs={}, node_ids=["a", "b"], flow_id=None, flow_name=None
        ).id

    batched, single = new_run(), new_run()
    store.append_events(batched, events)
    for event in events:
        store.append_events(single, [event])

    def state(run_id: str) -> tuple[Any, ...]:
        record = store.get_run(run_id).model_dump(exclude={"id", "created_at"})
        logged = [e.model_dump(exclude={"run_id"}) for e in store.read_events(run_id)]
        return record, store.get_attempts(run_id), logged

    assert state(batched) == state(single)
    record = store.get_run(batched)
    assert list(record.nodes) == ["a", "b", "a[1]", "a[0]"]
    assert [(n.status, n.attempts) for n in record.nodes.values()] == [
        (NodeStatus.SUCCEEDED, 2),
        (NodeStatus.SUCCEEDED, 1),
        (NodeStatus.FAILED, 1),
        (NodeStatus.SUCCEEDED, 1),
    ]
    assert [(a.node, a.attempt, a.status) for a in store.get_attempts(batched)] == [
        ("a", 1, NodeStatus.FAILED),
        ("a", 2, NodeStatus.SUCCEEDED),
        ("b", 1, NodeStatus.SUCCEEDED),
        ("a[1]", 1, NodeStatus.FAILED),
        ("a[0]", 1, NodeStatus.SUCCEEDED),
    ]
