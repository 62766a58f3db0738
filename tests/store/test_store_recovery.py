"""Runs whose mentatctl process died are failed as ``interrupted`` on the next open."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.queues import Queue

import psutil

from mentatlab.model.run import EventType, NodeStatus, RunStatus
from mentatlab.store import NewEvent, RunOwner, SqlRunStore, open_store
from mentatlab.store.append import append_in_transaction
from mentatlab.store.recovery import interrupted_events

_spawn = multiprocessing.get_context("spawn")
BOOM = {"reason": "exit_code", "message": "exit 1", "exit_code": 1}


def _running_events() -> list[NewEvent]:
    def node(node_id: str, status: str, attempt: int, **data: object) -> NewEvent:
        return NewEvent(
            EventType.NODE_STATUS, node=node_id, attempt=attempt, data={"status": status, **data}
        )

    return [
        NewEvent(EventType.RUN_STATUS, data={"status": "running"}),
        node("done", "running", 1),
        node("done", "succeeded", 1, outputs={"x": 1}),
        node("busy", "running", 1),
        node("busy", "failed", 1, error=BOOM),
        node("busy", "running", 2),
    ]


def _crashing_worker(url: str, ready: Queue[str]) -> None:
    store = open_store(url=url)
    run = store.create_run(
        flow={}, inputs={}, node_ids=["done", "busy", "later"], flow_id=None, flow_name=None
    )
    store.append_events(run.id, _running_events())
    ready.put(run.id)
    time.sleep(600)  # the test kills this process with SIGKILL


def _start_own_run(store: SqlRunStore) -> str:
    run_id = store.create_run(
        flow={}, inputs={}, node_ids=["only"], flow_id=None, flow_name=None
    ).id
    store.append_events(
        run_id,
        [
            NewEvent(EventType.RUN_STATUS, data={"status": "running"}),
            NewEvent(EventType.NODE_STATUS, node="only", attempt=1, data={"status": "running"}),
        ],
    )
    return run_id


def test_killed_process_run_is_failed_as_interrupted(store_url: str) -> None:
    ready: Queue[str] = _spawn.Queue()
    child = _spawn.Process(target=_crashing_worker, args=(store_url, ready))
    child.start()
    try:
        run_id = ready.get(timeout=120)
        # While its process lives, opening the store leaves the child's run alone.
        with open_store(url=store_url) as store:
            assert store.get_run(run_id).status is RunStatus.RUNNING
            own_run = _start_own_run(store)
    finally:
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=30)
    assert child.exitcode == -signal.SIGKILL

    with open_store(url=store_url) as store:
        run = store.get_run(run_id)
        assert run.status is RunStatus.FAILED
        assert run.finished_at is not None
        assert run.error is not None
        assert run.error.reason == "interrupted"
        assert f"pid {child.pid} on " in run.error.message
        assert run.nodes["done"].status is NodeStatus.SUCCEEDED
        assert run.nodes["done"].outputs == {"x": 1}
        busy = run.nodes["busy"]
        assert (busy.status, busy.attempts) == (NodeStatus.FAILED, 2)
        assert busy.error is not None
        assert (busy.error.reason, busy.error.node, busy.error.attempt) == (
            "interrupted",
            "busy",
            2,
        )
        assert run.nodes["later"].status is NodeStatus.SKIPPED
        assert [(a.attempt, a.status, a.error_reason) for a in store.get_attempts(run_id)] == [
            (1, NodeStatus.SUCCEEDED, None),
            (1, NodeStatus.FAILED, "exit_code"),
            (2, NodeStatus.FAILED, "interrupted"),
        ]
        tail = store.read_events(run_id, after_seq=len(_running_events()))
        assert [(e.type, e.node, e.data["status"]) for e in tail] == [
            (EventType.NODE_STATUS, "busy", "failed"),
            (EventType.NODE_STATUS, "later", "skipped"),
            (EventType.RUN_STATUS, None, "failed"),
        ]
        # The test process is alive, so its own run keeps running.
        mine = store.get_run(own_run)
        assert mine.status is RunStatus.RUNNING
        assert mine.nodes["only"].status is NodeStatus.RUNNING
        assert store.recover_interrupted() == []


def test_queued_run_of_dead_owner_fails_with_all_nodes_skipped(store: SqlRunStore) -> None:
    here = RunOwner.current()
    reused_pid = RunOwner(host=here.host, pid=here.pid, create_time=here.create_time - 3600)
    run_id = store.create_run(
        flow={}, inputs={}, node_ids=["a", "b"], flow_id=None, flow_name=None, owner=reused_pid
    ).id
    assert store.recover_interrupted() == [run_id]
    run = store.get_run(run_id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None and run.error.reason == "interrupted"
    assert run.started_at is None
    assert {n: r.status for n, r in run.nodes.items()} == {
        "a": NodeStatus.SKIPPED,
        "b": NodeStatus.SKIPPED,
    }


def test_runs_of_other_hosts_and_finished_runs_are_left_alone(store: SqlRunStore) -> None:
    elsewhere = RunOwner(host="some-other-host.invalid", pid=1, create_time=0.0)
    remote = store.create_run(
        flow={}, inputs={}, node_ids=[], flow_id=None, flow_name=None, owner=elsewhere
    ).id
    here = RunOwner.current()
    dead_here = RunOwner(host=here.host, pid=here.pid, create_time=0.0)
    finished = store.create_run(
        flow={}, inputs={}, node_ids=[], flow_id=None, flow_name=None, owner=dead_here
    ).id
    store.append_events(finished, [NewEvent(EventType.RUN_STATUS, data={"status": "succeeded"})])
    assert store.recover_interrupted() == []
    assert store.get_run(remote).status is RunStatus.QUEUED
    assert store.get_run(finished).status is RunStatus.SUCCEEDED


def test_owner_liveness() -> None:
    here = RunOwner.current()
    assert here.is_local()
    assert here.is_alive()
    assert not RunOwner(host=here.host, pid=here.pid, create_time=here.create_time + 60).is_alive()
    assert not RunOwner(host="elsewhere.invalid", pid=1, create_time=0.0).is_local()

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    owner = RunOwner(
        host=here.host, pid=child.pid, create_time=psutil.Process(child.pid).create_time()
    )
    assert owner.is_alive()
    child.kill()
    child.wait()
    assert not owner.is_alive()


def test_unreaped_killed_process_counts_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        owner = RunOwner(
            host=RunOwner.current().host,
            pid=child.pid,
            create_time=psutil.Process(child.pid).create_time(),
        )
        assert owner.is_alive()
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert not owner.is_alive()
    finally:
        child.kill()
        child.wait()


def test_runs_of_kubernetes_flowruns_are_left_for_the_operator(store: SqlRunStore) -> None:
    owner = RunOwner.kubernetes("team-a", "nightly")
    assert not owner.is_local()
    run_id = store.create_run(
        flow={}, inputs={}, node_ids=["a"], flow_id=None, flow_name=None, owner=owner
    ).id
    store.append_events(run_id, [NewEvent(EventType.RUN_STATUS, data={"status": "running"})])
    assert store.recover_interrupted() == []
    assert store.get_run(run_id).status is RunStatus.RUNNING


def test_recovery_racing_another_recovery_fails_the_run_once(
    store: SqlRunStore, store_url: str
) -> None:
    here = RunOwner.current()
    dead = RunOwner(host=here.host, pid=here.pid, create_time=here.create_time - 3600)
    recovered: list[list[str]] = []
    with open_store(url=store_url) as other:  # opened first: opening recovers too
        run_id = store.create_run(
            flow={}, inputs={}, node_ids=["a"], flow_id=None, flow_name=None, owner=dead
        ).id
        racer = threading.Thread(target=lambda: recovered.append(other.recover_interrupted()))
        with store.write_transaction() as conn:
            # This transaction wins: the racer saw the run unfinished and waits to fail it.
            append_in_transaction(
                conn, run_id, interrupted_events([("a", NodeStatus.PENDING, 0)], dead)
            )
            racer.start()
            time.sleep(0.5)
            assert racer.is_alive()
        racer.join(timeout=30)
    assert recovered == [[]]
    log = store.read_events(run_id)
    assert [e.type for e in log] == [EventType.NODE_STATUS, EventType.RUN_STATUS]
    assert store.get_run(run_id).status is RunStatus.FAILED
