"""Several OS processes sharing one store (spawned, like separate mentatctl invocations)."""

from __future__ import annotations

import itertools
import multiprocessing
import time
from collections import Counter
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

from mentatlab.model.run import EventType
from mentatlab.store import NewEvent, open_store

WORKERS = 4
BATCHES = 25
BATCH_SIZE = 4
_spawn = multiprocessing.get_context("spawn")


def _append_worker(home: str, run_id: str, worker: int, start: Barrier) -> None:
    with open_store(Path(home)) as store:
        start.wait(timeout=60)
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


def _open_worker(home: str, start: Barrier, results: Queue[str]) -> None:
    start.wait(timeout=60)
    with open_store(Path(home)) as store:
        run = store.create_run(flow={}, inputs={}, node_ids=["a"], flow_id=None, flow_name=None)
        results.put(run.id)


def test_processes_appending_to_one_run_get_gapless_unique_seqs(home: Path) -> None:
    with open_store(home) as store:
        run_id = store.create_run(
            flow={}, inputs={}, node_ids=["a"], flow_id=None, flow_name=None
        ).id
    start = _spawn.Barrier(WORKERS)
    processes = [
        _spawn.Process(target=_append_worker, args=(str(home), run_id, w, start))
        for w in range(WORKERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
    assert [p.exitcode for p in processes] == [0] * WORKERS

    with open_store(home) as store:
        log = store.read_events(run_id)
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


def test_processes_opening_a_brand_new_store_at_once(home: Path) -> None:
    assert not home.exists()
    start = _spawn.Barrier(WORKERS)
    results: Queue[str] = _spawn.Queue()
    processes = [
        _spawn.Process(target=_open_worker, args=(str(home), start, results))
        for _ in range(WORKERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
    assert [p.exitcode for p in processes] == [0] * WORKERS
    created = {results.get(timeout=10) for _ in range(WORKERS)}
    with open_store(home) as store:
        assert {r.id for r in store.list_runs()} == created
    assert len(created) == WORKERS
