"""Local engine: per-node scheduling overhead, fan-out and chain wall times, memory.

Every MentatLab figure comes from a real ``mentatctl run`` process running real agent
processes; the timestamps are the agent's own (``t0`` when its code starts, ``t1`` before it
writes its result) and the run store's event times. The same agent is also run by a bare
subprocess loop, the physical limit on this machine: "overhead" is what the engine adds
beyond that. The run store's own write rate on this machine (SQLite, the embedded default)
is the other limit: events appended one per transaction, and a hundred per transaction.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from bench.common import AGENT_DIR, AGENTS_DIR, Section, Sizes, envelope
from bench.flows import Dag, chain, fanout
from mentatlab.model.run import EventType, RunEvent
from mentatlab.store import NewEvent, open_store

__all__ = ["CliRun", "bare_chain", "bare_fanout", "default_parallelism", "run", "run_flow"]

_RSS_POLL_SECONDS = 0.05
_STORE_BATCH = 100


def default_parallelism() -> int:
    """The engine's default ``max_parallel`` (``FlowEngine``): one agent per CPU."""
    return os.cpu_count() or 1


@dataclass
class CliRun:
    record: dict[str, Any]
    events: list[RunEvent]
    cli_seconds: float
    peak_rss_bytes: int
    store_bytes: int

    @property
    def run_seconds(self) -> float:
        """From the run's ``running`` status to its final status, by the store's clock."""
        statuses = [e.ts for e in self.events if e.type is EventType.RUN_STATUS]
        return (statuses[-1] - statuses[0]).total_seconds()

    def stamps(self, node: str) -> tuple[float, float]:
        value = self.record["nodes"][node]["outputs"]["result"]
        return float(value["t0"]), float(value["t1"])

    def status_times(self, status: str) -> dict[str, float]:
        """When each node instance reported ``status`` (its first such event)."""
        times: dict[str, float] = {}
        for event in self.events:
            if event.type is EventType.NODE_STATUS and event.data.get("status") == status:
                times.setdefault(event.node or "", _epoch(event.ts))
        return times


def _epoch(ts: datetime) -> float:
    return ts.timestamp()


def run_flow(dag: Dag, workdir: Path) -> CliRun:
    """``mentatctl run`` of ``dag`` in a fresh store, watching the engine process's memory."""
    workdir.mkdir(parents=True, exist_ok=True)
    flow_file = workdir / f"{dag.name}.flow.json"
    flow_file.write_text(json.dumps(dag.flow()), encoding="utf-8")
    home = workdir / f"home-{dag.name}"
    command = [
        str(Path(sys.executable).with_name("mentatctl")),
        "run",
        str(flow_file),
        "--agents",
        str(AGENTS_DIR),
        "--output",
        "json",
    ]
    env = {**os.environ, "MENTATLAB_HOME": str(home)}
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = _PeakRss(process.pid)
    peak.start()
    stdout, stderr = process.communicate()
    cli_seconds = time.perf_counter() - start
    peak.stop()
    if process.returncode != 0:
        raise RuntimeError(
            f"mentatctl run {dag.name} exited {process.returncode}: {stderr.decode()[-2000:]}"
        )
    record = json.loads(stdout)
    with open_store(home) as store:
        events = store.read_events(record["id"])
    store_bytes = sum(path.stat().st_size for path in home.glob("store.db*"))
    return CliRun(record, events, cli_seconds, peak.value, store_bytes)


class _PeakRss(threading.Thread):
    """Polls a process's memory high-water mark (``VmHWM``, kept by the kernel) until stopped.

    ``VmHWM`` is the true peak even between polls; polling only has to catch the last value
    before the process exits.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self._pid = pid
        self._done = threading.Event()
        self.value = 0

    def run(self) -> None:
        while not self._done.is_set():
            self.value = max(self.value, _high_water_mark(self._pid))
            self._done.wait(_RSS_POLL_SECONDS)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _high_water_mark(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


@dataclass
class BareChain:
    spawn_ms: list[float]
    """Popen call → the agent's ``t0``: process start as this machine does it."""
    exit_ms: list[float]
    """The agent's ``t1`` → its exit reaped by the parent."""
    gap_ms: list[float]
    """One agent's ``t1`` → the next agent's ``t0``."""
    seconds: float

    def joined(self, other: BareChain) -> BareChain:
        return BareChain(
            self.spawn_ms + other.spawn_ms,
            self.exit_ms + other.exit_ms,
            self.gap_ms + other.gap_ms,
            self.seconds + other.seconds,
        )


def bare_chain(length: int) -> BareChain:
    """The agent ``length`` times in a row with plain :mod:`subprocess`: the physical limit."""
    spawn, exits, gaps = [], [], []
    previous_t1: float | None = None
    start = time.perf_counter()
    for index in range(length):
        before = time.time()
        done = subprocess.run(
            [sys.executable, "main.py"],
            input=envelope(f"n{index}"),
            cwd=AGENT_DIR,
            capture_output=True,
            check=True,
        )
        after = time.time()
        t0, t1 = _result_stamps(done.stdout)
        spawn.append((t0 - before) * 1000)
        exits.append((after - t1) * 1000)
        if previous_t1 is not None:
            gaps.append((t0 - previous_t1) * 1000)
        previous_t1 = t1
    return BareChain(spawn, exits, gaps, time.perf_counter() - start)


def bare_fanout(width: int, parallelism: int) -> float:
    """Seconds to run the agent ``width`` times, ``parallelism`` at once, with plain asyncio."""

    async def main() -> None:
        gate = asyncio.Semaphore(parallelism)

        async def one(index: int) -> None:
            async with gate:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "main.py",
                    cwd=AGENT_DIR,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                await process.communicate(envelope(f"w{index}"))

        await asyncio.gather(*(one(i) for i in range(width)))

    start = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - start


def _result_stamps(stdout: bytes) -> tuple[float, float]:
    for line in stdout.decode().splitlines():
        event = json.loads(line)
        if event.get("type") == "output":
            return float(event["value"]["t0"]), float(event["value"]["t1"])
    raise RuntimeError(f"the agent wrote no result: {stdout[-500:]!r}")


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


def run(sizes: Sizes, workdir: Path) -> Section:
    section = Section("engine")
    parallelism = default_parallelism()
    section.details["parallelism"] = parallelism
    _measure_store(section, sizes, workdir)
    _measure_chain(section, sizes, workdir)
    _measure_fanout(section, sizes, workdir, parallelism)
    return section


def _measure_store(section: Section, sizes: Sizes, workdir: Path) -> None:
    """Metric events appended to a fresh store one per ``append_events`` call (a transaction
    each), then ``_STORE_BATCH`` per call: ``store_appends_per_second``,
    ``store_batched_events_per_second``."""
    with open_store(workdir / "store-probe") as store:
        run_id = store.create_run(
            flow={}, inputs={}, node_ids=["a"], flow_id=None, flow_name=None
        ).id

        def metric(value: int) -> NewEvent:
            return NewEvent(
                type=EventType.METRIC, node="a", attempt=1, data={"name": "i", "value": value}
            )

        start = time.perf_counter()
        for value in range(sizes.write_probe):
            store.append_events(run_id, [metric(value)])
        section.figures["store_appends_per_second"] = round(
            sizes.write_probe / (time.perf_counter() - start), 1
        )
        batches = max(1, sizes.write_probe // 10)
        start = time.perf_counter()
        for batch in range(batches):
            store.append_events(
                run_id, [metric(batch * _STORE_BATCH + i) for i in range(_STORE_BATCH)]
            )
        section.figures["store_batched_events_per_second"] = round(
            batches * _STORE_BATCH / (time.perf_counter() - start), 1
        )


def _measure_chain(section: Section, sizes: Sizes, workdir: Path) -> None:
    # The physical limit: the same agent in a bare subprocess loop, half before and half after
    # the engine's chain, so that a change in the machine's load hits both sides alike.
    length = max(sizes.chain, 4)
    before = bare_chain(length // 2)
    chained = run_flow(chain(sizes.chain), workdir)
    bare = before.joined(bare_chain(length - length // 2))
    section.samples["bare_spawn_ms"] = [round(v, 3) for v in bare.spawn_ms]
    section.samples["bare_exit_ms"] = [round(v, 3) for v in bare.exit_ms]
    section.samples["bare_gap_ms"] = [round(v, 3) for v in bare.gap_ms]
    spawn_floor, exit_floor = _median(bare.spawn_ms), _median(bare.exit_ms)
    gap_floor = _median(bare.gap_ms)
    section.figures["process_start_ms_p50"] = round(spawn_floor, 3)
    section.figures["bare_gap_ms_p50"] = round(gap_floor, 3)

    nodes = [f"n{i}" for i in range(sizes.chain)]
    succeeded = chained.status_times("succeeded")
    running = chained.status_times("running")
    gaps, overhead, ready_to_start, exit_to_done, scheduling = [], [], [], [], []
    for upstream, downstream in itertools.pairwise(nodes):
        _, up_t1 = chained.stamps(upstream)
        down_t0, _ = chained.stamps(downstream)
        gaps.append((down_t0 - up_t1) * 1000)
        # Exit → dependant started, beyond what a bare subprocess loop needs for the same.
        overhead.append((down_t0 - up_t1) * 1000 - gap_floor)
        # Ready (the upstream is finished in the store) → the dependant's code runs.
        ready_to_start.append((down_t0 - succeeded[upstream]) * 1000 - spawn_floor)
        # The upstream's exit → the engine has recorded it as finished.
        exit_to_done.append((succeeded[upstream] - up_t1) * 1000 - exit_floor)
        # Pure scheduling, no process involved: finished recorded → dependant's running.
        scheduling.append((running[downstream] - succeeded[upstream]) * 1000)
    section.set_percentiles("engine_overhead_ms", overhead, sample_key="engine_overhead_ms")
    section.set_percentiles("chain_gap_ms", gaps, sample_key="chain_gap_ms")
    section.set_percentiles("ready_to_start_ms", ready_to_start, sample_key="ready_to_start_ms")
    section.set_percentiles("exit_to_finished_ms", exit_to_done, sample_key="exit_to_finished_ms")
    section.set_percentiles("scheduling_ms", scheduling, sample_key="scheduling_ms")
    section.samples["running_to_start_ms"] = [
        round((chained.stamps(n)[0] - running[n]) * 1000, 3) for n in nodes
    ]
    section.figures["chain_nodes"] = sizes.chain
    section.figures["chain_seconds"] = round(chained.run_seconds, 3)
    section.figures["chain_nodes_per_second"] = round(sizes.chain / chained.run_seconds, 3)
    section.figures["chain_bare_seconds"] = round(bare.seconds * sizes.chain / length, 3)
    section.details["chain_cli_seconds"] = round(chained.cli_seconds, 3)
    section.figures["chain_engine_peak_rss_mb"] = round(chained.peak_rss_bytes / 2**20, 1)


def _measure_fanout(section: Section, sizes: Sizes, workdir: Path, parallelism: int) -> None:
    fanned = run_flow(fanout(sizes.fanout), workdir)
    bare_seconds = bare_fanout(sizes.bare_fanout, parallelism)
    per_node_floor = bare_seconds / sizes.bare_fanout
    total_nodes = sizes.fanout + 2
    section.figures["fanout_nodes"] = sizes.fanout
    section.figures["fanout_seconds"] = round(fanned.run_seconds, 3)
    section.figures["fanout_nodes_per_second"] = round(total_nodes / fanned.run_seconds, 3)
    section.figures["fanout_bare_seconds"] = round(per_node_floor * total_nodes, 3)
    # Wall time per node beyond the bare loop, times the slots: each slot's own overhead.
    section.figures["fanout_overhead_ms_per_node"] = round(
        (fanned.run_seconds / total_nodes - per_node_floor) * parallelism * 1000, 3
    )
    section.figures["fanout_engine_peak_rss_mb"] = round(fanned.peak_rss_bytes / 2**20, 1)
    section.figures["fanout_store_mb"] = round(fanned.store_bytes / 2**20, 2)
    section.details["fanout_cli_seconds"] = round(fanned.cli_seconds, 3)
    section.details["fanout_events"] = len(fanned.events)
    section.samples["fanout_node_seconds"] = [
        round(t1 - t0, 4) for t0, t1 in (fanned.stamps(f"w{i}") for i in range(sizes.fanout))
    ]
