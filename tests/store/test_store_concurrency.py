"""Several OS processes (spawned, like separate mentatctl invocations) or threads on one store."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from collections import Counter
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

import pytest
from sqlalchemy import select

from mentatlab.model.run import EventType, RunEvent
from mentatlab.store import NewEvent, SqlRunStore, StoreBusyError, open_store
from mentatlab.store.schema import runs

WORKERS = 4
BATCHES = 25
BATCH_SIZE = 4
_spawn = multiprocessing.get_context("spawn")


def _append_batches(store: SqlRunStore, run_id: str, worker: int) -> None:
    for batch in range(BATCHES):
        store.append_events(
            run_id,
            [
                NewEvent(EventType.LOG, data={"worker": worker, "batch": batch, "i": i})
                for i in range(BATCH_SIZE)
            ],
        )
        # Engines append as agent events arrive; a pause lets the other writers in.
        time.sleep(0.002)


def _append_worker(url: str, run_id: str, worker: int, start: Barrier) -> None:
    with open_store(url=url) as store:
        start.wait(timeout=60)
        _append_batches(store, run_id, worker)


def _open_worker(url: str, start: Barrier, results: Queue[str]) -> None:
    start.wait(timeout=60)
    with open_store(url=url) as store:
        run = store.create_run(flow={}, inputs={}, node_ids=["a"], flow_id=None, flow_name=None)
        results.put(run.id)


def test_processes_appending_to_one_run_get_gapless_unique_seqs(store_url: str) -> None:
    with open_store(url=store_url) as store:
        run_id = store.create_run(
            flow={}, inputs={}, node_ids=["a"], flow_id=None, flow_name=None
        ).id
    start = _spawn.Barrier(WORKERS)
    processes = [
        _spawn.Process(target=_append_worker, args=(store_url, run_id, w, start))
        for w in range(WORKERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
    assert [p.exitcode for p in processes] == [0] * WORKERS

    with open_store(url=store_url) as store:
        _assert_interleaved_gapless_batches(store.read_events(run_id))


def test_threads_appending_to_one_run_get_gapless_unique_seqs(store: SqlRunStore) -> None:
    """Threads share the store's connection pool, as a server's request handlers do."""
    run_id = store.create_run(flow={}, inputs={}, node_ids=["a"], flow_id=None, flow_name=None).id
    failures: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            _append_batches(store, run_id, worker)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert failures == []
    _assert_interleaved_gapless_batches(store.read_events(run_id))


def _assert_interleaved_gapless_batches(log: list[RunEvent]) -> None:
    total = WORKERS * BATCHES * BATCH_SIZE
    assert [e.seq for e in log] == list(range(1, total + 1))
    keys = Counter((e.data["worker"], e.data["batch"], e.data["i"]) for e in log)
    assert len(keys) == total and set(keys.values()) == {1}
    # Each batch is appended atomically: its events hold consecutive seqs, in order.
    for worker in range(WORKERS):
        for batch in range(BATCHES):
            seqs = [e.seq for e in log if (e.data["worker"], e.data["batch"]) == (worker, batch)]
            assert seqs == list(range(seqs[0], seqs[0] + BATCH_SIZE))
    # Run one after another, the workers would switch WORKERS - 1 times; they interleaved.
    workers_in_order = [e.data["worker"] for e in log]
    switches = sum(a != b for a, b in itertools.pairwise(workers_in_order))
    assert switches >= WORKERS


def test_processes_opening_a_brand_new_store_at_once(store_url: str) -> None:
    start = _spawn.Barrier(WORKERS)
    results: Queue[str] = _spawn.Queue()
    processes = [
        _spawn.Process(target=_open_worker, args=(store_url, start, results))
        for _ in range(WORKERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
    assert [p.exitcode for p in processes] == [0] * WORKERS
    created = {results.get(timeout=10) for _ in range(WORKERS)}
    with open_store(url=store_url) as store:
        assert {r.id for r in store.list_runs()} == created
    assert len(created) == WORKERS


def test_a_lock_held_too_long_makes_the_store_busy(store_url: str) -> None:
    """SQLite's busy timeout and PostgreSQL's lock_timeout end the same way: StoreBusyError."""
    log = [NewEvent(EventType.LOG, data={"message": "x"})]
    with (
        open_store(url=store_url, lock_timeout_ms=300) as store,
        open_store(url=store_url) as other,
    ):
        run_id = store.create_run(flow={}, inputs={}, node_ids=[], flow_id=None, flow_name=None).id
        with other.write_transaction() as conn:
            # SQLite: the write transaction locks the file; PostgreSQL: the run row is locked.
            conn.execute(select(runs.c.id).where(runs.c.id == run_id).with_for_update())
            started = time.monotonic()
            with pytest.raises(StoreBusyError, match="busy"):
                store.append_events(run_id, log)
            assert 0.25 < time.monotonic() - started < 10
            with pytest.raises(StoreBusyError):
                store.request_cancel(run_id)
            assert store.get_run(run_id).status == "queued"  # readers do not wait
        assert [e.seq for e in store.append_events(run_id, log)] == [1]
