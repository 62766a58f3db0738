"""Creating, reading, listing and cancelling runs."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from mentatlab.model.run import EventType, NodeStatus, RunStatus
from mentatlab.store import (
    NewEvent,
    RunNotFoundError,
    RunOwner,
    SqlRunStore,
)
from mentatlab.store.ids import new_run_id

FLOW = {"version": 1, "id": "demo", "nodes": [{"id": "a"}, {"id": "b"}]}


def _create(store: SqlRunStore, node_ids: tuple[str, ...] = ("a", "b")) -> str:
    run = store.create_run(
        flow=FLOW, inputs={"q": "hi"}, node_ids=node_ids, flow_id="demo", flow_name="Demo"
    )
    return run.id


def test_create_run_is_queued_with_pending_nodes_in_order(store: SqlRunStore) -> None:
    before = datetime.now(UTC)
    run = store.create_run(
        flow=FLOW, inputs={"q": "hi"}, node_ids=["z", "a", "m"], flow_id="demo", flow_name="Demo"
    )
    assert run.status is RunStatus.QUEUED
    assert list(run.nodes) == ["z", "a", "m"]
    assert all(node.status is NodeStatus.PENDING for node in run.nodes.values())
    assert all(node.attempts == 0 and node.outputs == {} for node in run.nodes.values())
    assert run.inputs == {"q": "hi"}
    assert (run.flow_id, run.flow_name) == ("demo", "Demo")
    assert run.created_at.tzinfo is not None
    assert before - timedelta(seconds=1) <= run.created_at <= datetime.now(UTC)
    assert run.started_at is None and run.finished_at is None and run.error is None
    assert store.get_run(run.id) == run


def test_get_flow_returns_the_flow_document(store: SqlRunStore) -> None:
    run_id = _create(store)
    assert store.get_flow(run_id) == FLOW


def test_run_ids_are_short_url_safe_unique_and_time_ordered() -> None:
    ids = [new_run_id() for _ in range(2000)]
    assert all(re.fullmatch(r"r[0-9a-hjkmnp-tv-z]{26}", run_id) for run_id in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_list_runs_newest_first_with_cursor_pagination(store: SqlRunStore) -> None:
    created = [_create(store) for _ in range(5)]
    first = store.list_runs(limit=2)
    assert [r.id for r in first] == [created[4], created[3]]
    second = store.list_runs(limit=2, before=first[-1].id)
    assert [r.id for r in second] == [created[2], created[1]]
    third = store.list_runs(limit=2, before=second[-1].id)
    assert [r.id for r in third] == [created[0]]
    assert store.list_runs(limit=2, before=third[-1].id) == []
    assert list(store.list_runs()[0].nodes) == ["a", "b"]


def test_list_runs_filters_by_status(store: SqlRunStore) -> None:
    queued = _create(store)
    running = _create(store)
    store.append_events(running, [NewEvent(EventType.RUN_STATUS, data={"status": "running"})])
    assert [r.id for r in store.list_runs(status=RunStatus.RUNNING)] == [running]
    assert [r.id for r in store.list_runs(status=RunStatus.QUEUED)] == [queued]
    assert store.list_runs(status=RunStatus.FAILED) == []


def test_create_run_records_the_calling_process_as_owner(store: SqlRunStore) -> None:
    # Visible through recovery: a run owned by this (live) process is never interrupted.
    run_id = _create(store)
    assert store.recover_interrupted() == []
    assert store.get_run(run_id).status is RunStatus.QUEUED
    dead = RunOwner(host=RunOwner.current().host, pid=RunOwner.current().pid, create_time=1.0)
    other = store.create_run(
        flow=FLOW, inputs={}, node_ids=["a"], flow_id=None, flow_name=None, owner=dead
    )
    assert store.recover_interrupted() == [other.id]


def test_cancel_request_sets_flag_until_run_finishes(store: SqlRunStore) -> None:
    run_id = _create(store)
    assert store.cancel_requested(run_id) is False
    assert store.request_cancel(run_id) is True
    assert store.cancel_requested(run_id) is True
    store.append_events(run_id, [NewEvent(EventType.RUN_STATUS, data={"status": "cancelled"})])
    assert store.request_cancel(run_id) is False

    finished = _create(store)
    store.append_events(finished, [NewEvent(EventType.RUN_STATUS, data={"status": "succeeded"})])
    assert store.request_cancel(finished) is False
    assert store.cancel_requested(finished) is False


def test_unknown_run_raises_run_not_found(store: SqlRunStore) -> None:
    missing = new_run_id()
    log = NewEvent(EventType.LOG, data={"message": "x"})
    calls: list[Callable[[], object]] = [
        lambda: store.get_run(missing),
        lambda: store.get_flow(missing),
        lambda: store.read_events(missing),
        lambda: store.append_events(missing, [log]),
        lambda: store.append_events(missing, []),
        lambda: store.request_cancel(missing),
        lambda: store.cancel_requested(missing),
        lambda: store.last_checkpoint(missing, "a"),
        lambda: store.get_attempts(missing),
    ]
    for call in calls:
        with pytest.raises(RunNotFoundError) as info:
            call()
        assert info.value.run_id == missing


def test_long_flow_ids_names_node_ids_and_owners_round_trip(store: SqlRunStore) -> None:
    """No text a user chooses has a length limit (PostgreSQL enforces varchar(n))."""
    flow_id, flow_name, node = "f" * 1000, "N" * 1000, "n" * 1000
    owner = RunOwner.kubernetes("ns-" + "a" * 60, "flowrun-" + "b" * 245)
    assert len(owner.host) > 320
    run = store.create_run(
        flow=FLOW, inputs={}, node_ids=[node], flow_id=flow_id, flow_name=flow_name, owner=owner
    )
    reason = "r" * 500
    store.append_events(
        run.id,
        [
            NewEvent(EventType.RUN_STATUS, data={"status": "running"}),
            NewEvent(EventType.NODE_STATUS, node=node, attempt=1, data={"status": "running"}),
            NewEvent(
                EventType.NODE_STATUS,
                node=node,
                attempt=1,
                data={"status": "failed", "error": {"reason": reason, "message": "m" * 5000}},
            ),
        ],
    )
    stored = store.get_run(run.id)
    assert (stored.flow_id, stored.flow_name) == (flow_id, flow_name)
    assert list(stored.nodes) == [node]
    assert [e.node for e in store.read_events(run.id)] == [None, node, node]
    [attempt] = store.get_attempts(run.id, node)
    assert (attempt.error_reason, attempt.error_message) == (reason, "m" * 5000)
    assert [r.id for r in store.list_runs()] == [run.id]
    # Crash recovery reads the owner back: a Kubernetes owner is never a local process.
    assert store.recover_interrupted() == []
