"""The process census: every agent of a driver counted in shared rounds, each against its own
limit, with real process trees and sessions."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Iterator

import pytest

from mentatlab.engine.drivers import census
from mentatlab.engine.drivers.census import ProcessCensus, ProcessCensusRounds

THREE_SLEEPERS = "sleep 30 & sleep 30 & sleep 30 & wait"  # the shell and three children
# The first sleep's parent (a subshell) exits at once; `; true` keeps the shell waiting.
ORPHANED_SLEEPER = "(sleep 30 &); sleep 30; true"

Start = Callable[[str], subprocess.Popen[bytes]]


@pytest.fixture
def start_agent() -> Iterator[Start]:
    """Start a shell script as an agent is started: leader of its own session."""
    started: list[subprocess.Popen[bytes]] = []

    def start(script: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(["sh", "-c", script], start_new_session=True)
        started.append(process)
        return process

    yield start
    for process in started:
        ProcessCensus(process.pid, limit=100).kill_all()
        process.wait()


async def _settle(*processes: subprocess.Popen[bytes], trees: list[int], totals: list[int]) -> None:
    """Wait until each agent's process tree has ``trees`` processes and, with the other
    members of its session, ``totals``."""
    for _ in range(200):
        sessions = census.session_members([p.pid for p in processes])
        counted = [ProcessCensus(p.pid, limit=100) for p in processes]
        now = ([c.count() for c in counted], [c.count(sessions[c.leader]) for c in counted])
        if now == (trees, totals):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"processes never settled: {now} != {(trees, totals)}")


def test_one_round_counts_every_agent_and_flags_only_the_one_over_its_limit(
    start_agent: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    count_all = census._count_all

    def counted(censuses: list[ProcessCensus], scan_sessions: bool) -> list[int]:
        calls.append(len(censuses))
        return count_all(censuses, scan_sessions)

    monkeypatch.setattr(census, "_count_all", counted)

    async def main() -> None:
        busy, quiet = start_agent(THREE_SLEEPERS), start_agent("sleep 30")
        await _settle(busy, quiet, trees=[4, 2], totals=[4, 2])  # each shell and its sleeps
        rounds = ProcessCensusRounds(interval=0.02)
        with (
            rounds.watch(ProcessCensus(busy.pid, limit=2)) as busy_over,
            rounds.watch(ProcessCensus(quiet.pid, limit=2)) as quiet_over,
        ):
            assert await asyncio.wait_for(busy_over, timeout=10) == 3  # counted up to limit + 1
            await asyncio.sleep(0.2)
            assert not quiet_over.done()

    asyncio.run(main())
    assert calls[0] == 2  # both agents in one pass: one worker thread call per round


def test_a_process_whose_parent_exited_is_found_by_the_session_scan(start_agent: Start) -> None:
    async def main() -> None:
        agent = start_agent(ORPHANED_SLEEPER)
        # The tree: the shell and its own sleep; the orphan is in the session only.
        await _settle(agent, trees=[2], totals=[3])
        rounds = ProcessCensusRounds(interval=0.02, session_every=3)
        with rounds.watch(ProcessCensus(agent.pid, limit=2)) as over_limit:
            assert await asyncio.wait_for(over_limit, timeout=10) == 3

    asyncio.run(main())


def test_kill_all_kills_what_left_the_process_tree(start_agent: Start) -> None:
    agent = start_agent(ORPHANED_SLEEPER)
    asyncio.run(_settle(agent, trees=[2], totals=[3]))
    orphans = census.session_members([agent.pid])[agent.pid] - {agent.pid}
    assert len(orphans) == 2  # the orphaned sleep and the shell's own

    ProcessCensus(agent.pid, limit=100).kill_all()

    agent.wait(timeout=10)
    assert census.session_members([agent.pid])[agent.pid] == set()  # at most zombies left


def test_the_rounds_end_with_the_last_agent_and_start_again_with_the_next(
    start_agent: Start,
) -> None:
    async def main() -> None:
        agent = start_agent("sleep 30")
        rounds = ProcessCensusRounds(interval=0.01)
        tasks_before = asyncio.all_tasks()
        with rounds.watch(ProcessCensus(agent.pid, limit=5)):
            await asyncio.sleep(0.05)
            [round_task] = asyncio.all_tasks() - tasks_before
        await asyncio.wait_for(round_task, timeout=5)  # nothing left to count: it ended
        with rounds.watch(ProcessCensus(agent.pid, limit=0)) as over_limit:
            assert await asyncio.wait_for(over_limit, timeout=5) == 1

    asyncio.run(main())
