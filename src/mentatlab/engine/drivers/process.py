"""Operating-system helpers of the local driver: the argv to run, resource limits, signals."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import resource
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mentatlab.engine.drivers.base import ExecutionLimits

__all__ = [
    "PYTHON_ALIASES",
    "CommandError",
    "ProcessCensus",
    "child_setup",
    "resolve_command",
    "signal_group",
]

PYTHON_ALIASES = frozenset({"python", "python3"})
"""Program names that mean "the interpreter running MentatLab" (so agents can import its SDK)."""


class CommandError(ValueError):
    """A command that cannot even be attempted (empty, or a working directory that is missing)."""


def resolve_command(command: Sequence[str], workdir: Path) -> list[str]:
    """The argv to execute for ``command`` run in ``workdir``.

    ``python``/``python3`` become :data:`sys.executable`; a relative program path containing
    ``/`` is resolved against ``workdir``; any other bare name is looked up on ``PATH``.
    """
    if not command:
        raise CommandError(
            "the agent declares no command, so it cannot run as a local process "
            "(agents with only an image run on Kubernetes)"
        )
    if not workdir.is_dir():
        raise CommandError(f"working directory {str(workdir)!r} does not exist")
    program, *args = command
    if program in PYTHON_ALIASES:
        program = sys.executable
    elif "/" in program and not Path(program).is_absolute():
        program = str(workdir / program)
    return [program, *args]


def child_setup(limits: ExecutionLimits) -> Callable[[], None]:
    """A ``preexec_fn`` that ties the agent's life to the engine's and applies ``limits``.

    The agent gets ``SIGKILL`` when the engine process dies (``PR_SET_PDEATHSIG`` on Linux):
    it runs in its own session so the engine can signal its whole group, and without this an
    engine killed with ``SIGKILL`` would leave it running with nobody to read its output.

    Memory uses ``RLIMIT_DATA`` (heap and private writable mappings, Linux >= 4.7) rather
    than ``RLIMIT_AS``: address-space limits break runtimes that reserve large virtual ranges
    they never touch (Node.js hangs at start with ``RLIMIT_AS`` of 100 MiB), while a plain
    Python agent starts under either and fails to allocate 1 GiB under both.
    CPU time uses ``RLIMIT_CPU``: ``SIGXCPU`` at the limit, ``SIGKILL`` one second later.
    """
    settings: list[tuple[int, int, int]] = []
    if limits.memory_bytes is not None:
        settings.append((resource.RLIMIT_DATA, limits.memory_bytes, limits.memory_bytes))
    if limits.cpu_seconds is not None:
        settings.append((resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1))
    # Computed in the parent: the child between fork and exec should do as little as possible.
    clamped = [(which, *_clamp(which, soft, hard)) for which, soft, hard in settings]
    prctl = _prctl()
    engine_pid = os.getpid()

    def apply() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != engine_pid:  # the engine died before the line above
                os._exit(1)
        for which, soft, hard in clamped:
            resource.setrlimit(which, (soft, hard))

    return apply


_PR_SET_PDEATHSIG = 1


@functools.cache
def _prctl() -> Callable[[int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl: Callable[[int, int], int] = libc.prctl
    return prctl


def _clamp(which: int, soft: int, hard: int) -> tuple[int, int]:
    # An unprivileged process cannot raise a hard limit: stay within the one it has.
    _, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
        soft = min(soft, hard)
    return soft, hard


def signal_group(pgid: int, signum: int) -> None:
    """Send ``signum`` to process group ``pgid``; a group that is already gone is fine."""
    # PermissionError: some systems report EPERM for a group left with only zombies.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


_PROC = Path("/proc")


class ProcessCensus:
    """Counts, and kills, the processes an agent runs: the process limit of the local driver.

    ``RLIMIT_NPROC`` cannot do this: it counts every process of the user, and does not bind
    root at all (CI, containers). The census reads Linux's ``/proc`` instead. Each
    :meth:`count` walks the agent's process tree (``/proc/PID/task/TID/children``: cheap);
    every ``session_every``-th call also scans every process for members of the agent's
    session, which finds descendants whose parent has exited as well. A process that calls
    ``setsid()`` *and* loses its parent escapes both; containing that takes a cgroup (the
    Kubernetes driver's pods). Without ``/proc`` nothing is counted.
    """

    def __init__(self, leader: int, *, limit: int, session_every: int = 10) -> None:
        """``leader``: the agent process, leader of its own session and process group."""
        self._leader = leader
        self._limit = limit
        self._session_every = session_every
        self._calls = 0
        self.available = (_PROC / str(leader)).is_dir()

    def count(self) -> int:
        """The agent's processes (itself included), counted up to ``limit + 1`` at most."""
        if not self.available:
            return 0
        self._calls += 1
        found = self._tree(self._limit)
        if len(found) <= self._limit and self._calls % self._session_every == 0:
            found |= self._session(self._limit)
        return min(len(found), self._limit + 1)

    def kill_all(self, rounds: int = 5) -> None:
        """SIGKILL the agent's process group, then whatever else of its tree and session is
        left (a process that changed its group), until nothing is."""
        for _ in range(rounds):
            signal_group(self._leader, signal.SIGKILL)  # atomic for the group, forks included
            if not self.available:
                return
            # Uncapped: a capped scan could list only the first processes found, every round.
            rest = (self._tree(None) | self._session(None)) - {self._leader}
            if not rest:
                return
            for pid in rest:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def _tree(self, cap: int | None) -> set[int]:
        """The leader and its descendants; stops past ``cap`` processes."""
        found, stack = {self._leader}, [self._leader]
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

    def _session(self, cap: int | None) -> set[int]:
        """The live (not zombie) processes of the leader's session; stops past ``cap``."""
        found: set[int] = set()
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
                if len(fields) > 3 and int(fields[3]) == self._leader and fields[0] not in b"ZX":
                    found.add(int(entry.name))
                    if cap is not None and len(found) > cap:
                        break
        return found
