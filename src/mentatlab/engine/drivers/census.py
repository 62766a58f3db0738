"""The local driver's process limit: counting, and killing, the processes each agent runs.

``RLIMIT_NPROC`` cannot do this: it counts every process of the user, and does not bind root
at all (CI, containers). The census reads Linux's ``/proc`` instead: an agent's processes are
its process tree (``/proc/PID/task/TID/children``: cheap to walk) and the members of its
session, which also finds descendants whose parent has exited (a scan of every process). A
process that calls ``setsid()`` *and* loses its parent escapes both; containing that takes a
cgroup (the Kubernetes driver's pods). Without ``/proc`` nothing is counted.

One :class:`ProcessCensusRounds` counts every running agent of a driver in one pass, in one
worker thread: with a hundred agents at once, a census per agent would keep the event loop
handing work to threads and waiting for the GIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Collection, Iterator
from pathlib import Path

from mentatlab.engine.drivers.process import signal_group

__all__ = ["CENSUS_SECONDS", "SESSION_SCAN_EVERY", "ProcessCensus", "ProcessCensusRounds"]

CENSUS_SECONDS = 0.1
"""How often the agents' processes are counted against their limits."""
SESSION_SCAN_EVERY = 10
"""Every this many rounds, the census also scans every process for members of the agents'
sessions (the tree walk of the other rounds misses those whose parent has exited)."""

_PROC = Path("/proc")


class ProcessCensus:
    """The processes of one agent: the leader of its own session and process group."""

    def __init__(self, leader: int, *, limit: int) -> None:
        self.leader = leader
        self.limit = limit
        self.available = (_PROC / str(leader)).is_dir()

    def count(self, session: Collection[int] = ()) -> int:
        """The agent's processes (itself included), counted up to ``limit + 1`` at most:
        its process tree and ``session``, the members of its session found by a scan."""
        if not self.available:
            return 0
        found = self._tree(self.limit)
        if len(found) <= self.limit:
            found.update(session)
        return min(len(found), self.limit + 1)

    def kill_all(self, rounds: int = 5) -> None:
        """SIGKILL the agent's process group, then whatever else of its tree and session is
        left (a process that changed its group), until nothing is."""
        for _ in range(rounds):
            signal_group(self.leader, signal.SIGKILL)  # atomic for the group, forks included
            if not self.available:
                return
            # Uncapped: a capped walk could list only the first processes found, every round.
            session = session_members([self.leader])[self.leader]
            rest = (self._tree(None) | session) - {self.leader}
            if not rest:
                return
            for pid in rest:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def _tree(self, cap: int | None) -> set[int]:
        """The leader and its descendants; stops past ``cap`` processes."""
        found, stack = {self.leader}, [self.leader]
        while stack and (cap is None or len(found) <= cap):
            pid = stack.pop()
            try:
                tasks = list((_PROC / str(pid) / "task").iterdir())
            except OSError:
                continue  # gone meanwhile
            for task in tasks:
                try:
                    children = (task / "children").read_bytes()
                except OSError:
                    continue
                for child in map(int, children.split()):
                    if child not in found:
                        found.add(child)
                        stack.append(child)
        return found


def session_members(leaders: Collection[int]) -> dict[int, set[int]]:
    """The live (not zombie) processes of each session led by one of ``leaders``: one scan of
    every process."""
    members: dict[int, set[int]] = {leader: set() for leader in leaders}
    with contextlib.suppress(OSError), os.scandir(_PROC) as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                stat = (_PROC / entry.name / "stat").read_bytes()
            except OSError:
                continue
            # After the command name: state, ppid, pgrp, session (proc(5)).
            fields = stat.rsplit(b")", 1)[-1].split()
            if len(fields) > 3 and fields[0] not in b"ZX":
                session = members.get(int(fields[3]))
                if session is not None:
                    session.add(int(entry.name))
    return members


def _count_all(censuses: list[ProcessCensus], scan_sessions: bool) -> list[int]:
    sessions = session_members([c.leader for c in censuses]) if scan_sessions else {}
    return [census.count(sessions.get(census.leader, ())) for census in censuses]


class ProcessCensusRounds:
    """Counts the processes of every agent it watches, all in one pass every ``interval``
    seconds, while there is any; one instance per driver (its agents share the rounds)."""

    def __init__(
        self, *, interval: float = CENSUS_SECONDS, session_every: int = SESSION_SCAN_EVERY
    ) -> None:
        self._interval = interval
        self._session_every = session_every
        self._watched: dict[ProcessCensus, asyncio.Future[int]] = {}
        self._rounds: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def watch(self, census: ProcessCensus) -> Iterator[asyncio.Future[int]]:
        """Count ``census`` in every round while in the block; the future yielded gets the
        count of the first round that finds more processes than its limit."""
        loop = asyncio.get_running_loop()
        over_limit: asyncio.Future[int] = loop.create_future()
        self._watched[census] = over_limit
        if self._rounds is None or self._rounds.done():
            self._rounds = loop.create_task(self._run())
        try:
            yield over_limit
        finally:
            del self._watched[census]
            over_limit.cancel()  # a no-op once it has its count

    async def _run(self) -> None:
        done = 0
        while self._watched:  # ends with the last agent; watch() starts the next rounds
            await asyncio.sleep(self._interval)
            censuses = [c for c, over in self._watched.items() if not over.done() and c.available]
            if not censuses:
                continue
            done += 1
            scan_sessions = done % self._session_every == 0
            try:
                counts = await asyncio.to_thread(_count_all, censuses, scan_sessions)
            except Exception as exc:  # a bug: the agents' limits cannot be held, say so
                for over in self._watched.values():
                    if not over.done():
                        over.set_exception(exc)
                return
            for census, count in zip(censuses, counts, strict=True):
                watcher = self._watched.get(census)  # it may have exited meanwhile
                if watcher is not None and not watcher.done() and count > census.limit:
                    watcher.set_result(count)
