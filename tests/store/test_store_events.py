"""The event log: gapless per-run seqs, atomic batches, replay from any seq."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from mentatlab.model.run import EventType, RunEvent
from mentatlab.store import NewEvent, SqlRunStore, open_store
from mentatlab.store.append import append_in_transaction
from mentatlab.store.schema import events


def _log(i: int) -> NewEvent:
    return NewEvent(EventType.LOG, data={"message": f"line {i}"})


def _new_run(store: SqlRunStore) -> str:
    return store.create_run(flow={}, inputs={}, node_ids=["a"], flow_id=None, flow_name=None).id


def test_seqs_start_at_one_and_continue_per_run(store: SqlRunStore) -> None:
    first, second = _new_run(store), _new_run(store)
    assert [e.seq for e in store.append_events(first, [_log(0), _log(1), _log(2)])] == [1, 2, 3]
    assert [e.seq for e in store.append_events(second, [_log(0)])] == [1]
    assert [e.seq for e in store.append_events(first, [_log(3)])] == [4]
    assert store.append_events(first, []) == []
    assert [e.seq for e in store.append_events(first, [_log(4)])] == [5]
    assert [e.data["message"] for e in store.read_events(first)] == [f"line {i}" for i in range(5)]


def test_appended_events_read_back_identically(store: SqlRunStore) -> None:
    run_id = _new_run(store)
    appended = store.append_events(
        run_id,
        [
            NewEvent(EventType.RUN_STATUS, data={"status": "running"}),
            NewEvent(EventType.METRIC, node="a", attempt=2, data={"name": "n", "value": 1.5}),
        ],
    )
    assert all(isinstance(e, RunEvent) for e in appended)
    assert appended[0].data == {"status": "running"}
    assert (appended[1].node, appended[1].attempt) == ("a", 2)
    assert store.read_events(run_id) == appended


def test_read_events_after_seq_and_limit(store: SqlRunStore) -> None:
    run_id = _new_run(store)
    store.append_events(run_id, [_log(i) for i in range(10)])
    assert [e.seq for e in store.read_events(run_id, after_seq=7)] == [8, 9, 10]
    assert [e.seq for e in store.read_events(run_id, after_seq=2, limit=3)] == [3, 4, 5]
    assert store.read_events(run_id, after_seq=10) == []
    assert len(store.read_events(run_id)) == 10


def test_concurrent_writer_waits_for_the_write_lock(store: SqlRunStore, store_url: str) -> None:
    """A second writer queues behind an open write transaction instead of failing."""
    run_id = _new_run(store)
    result: list[list[RunEvent]] = []
    failures: list[BaseException] = []

    with open_store(url=store_url) as other:

        def append_from_other_store() -> None:
            try:
                result.append(other.append_events(run_id, [_log(1)]))
            except BaseException as exc:
                failures.append(exc)

        writer = threading.Thread(target=append_from_other_store)
        with store.write_transaction() as conn:
            # Appending locks the run (on SQLite, the write transaction locked the database).
            append_in_transaction(conn, run_id, [_log(0)])
            writer.start()
            time.sleep(0.5)
            assert writer.is_alive(), "the second writer should wait for the write lock"
            assert result == []
        writer.join(timeout=30)
    assert failures == []
    assert [e.seq for e in result[0]] == [2]


def test_a_read_sees_one_snapshot(store: SqlRunStore) -> None:
    """Everything one read transaction reads comes from the moment of its first statement."""
    run_id = _new_run(store)
    store.append_events(run_id, [_log(0)])
    count = select(func.count()).select_from(events).where(events.c.run_id == run_id)
    with store.read_transaction() as conn:
        assert conn.scalar(count) == 1
        store.append_events(run_id, [_log(1)])
        assert conn.scalar(count) == 1
    assert len(store.read_events(run_id)) == 2


def test_nul_in_event_data_round_trips_exactly(store: SqlRunStore) -> None:
    """JSON keeps NUL (PostgreSQL's json type takes the \\u0000 escape; jsonb would not)."""
    run_id = _new_run(store)
    data = {"message": "a\x00b", "values": {"k\x00ey": ["\x00", {"deep": "x\x00"}]}}
    appended = store.append_events(run_id, [NewEvent(EventType.LOG, node="a", data=data)])
    assert appended[0].data == data
    assert store.read_events(run_id) == appended
    assert store.read_events(run_id)[0].data["message"] == "a\x00b"


def test_nul_in_text_columns_becomes_the_replacement_character(store: SqlRunStore) -> None:
    """PostgreSQL text cannot hold NUL: every text column stores U+FFFD instead, on both."""
    run = store.create_run(
        flow={"id": "f\x00"},
        inputs={"q": "\x00"},
        node_ids=["a", "b\x00"],
        flow_id="flow\x00id",
        flow_name="na\x00me",
    )
    assert (run.flow_id, run.flow_name) == ("flow\ufffdid", "na\ufffdme")
    assert list(run.nodes) == ["a", "b\ufffd"]
    assert run.inputs == {"q": "\x00"}  # JSON
    assert store.get_flow(run.id) == {"id": "f\x00"}
    error = {"reason": "agent\x00error", "message": "boom\x00!", "node": "a", "attempt": 1}
    appended = store.append_events(
        run.id,
        [
            NewEvent(EventType.NODE_STATUS, node="a", attempt=1, data={"status": "running"}),
            NewEvent(EventType.LOG, node="b\x00", data={"message": "log\x00line"}),
            NewEvent(
                EventType.NODE_STATUS,
                node="a",
                attempt=1,
                data={"status": "failed", "error": error},
            ),
        ],
    )
    assert store.read_events(run.id) == appended
    assert appended[1].node == "b\ufffd"
    assert appended[1].data == {"message": "log\x00line"}
    [attempt] = store.get_attempts(run.id, "a")
    assert (attempt.error_reason, attempt.error_message) == ("agent\ufffderror", "boom\ufffd!")
    node_error = store.get_run(run.id).nodes["a"].error
    assert node_error is not None and node_error.message == "boom\x00!"  # JSON again
    # Lookups with NUL find nothing, or the replaced value, instead of failing.
    assert store.get_attempts(run.id, "b\x00") == []
    assert store.last_checkpoint(run.id, "a\x00") is None
