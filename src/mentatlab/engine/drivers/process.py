"""Operating-system helpers of the local driver: the argv to run, resource limits, signals."""

from __future__ import annotations

import asyncio
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


class PidfdChildWatcher(asyncio.AbstractChildWatcher):
    """Waits for each child in the event loop that started it, through a Linux pidfd.

    Python 3.11's default watcher starts a thread per child blocked in ``waitpid()``: a
    hundred agents exiting at once wake a hundred threads that fight the event loop for the
    GIL. This is what Python 3.12 does by default (its ``PidfdChildWatcher``, tied to the
    running loop rather than to one attached loop).
    """

    def add_child_handler(self, pid: int, callback: Callable[..., object], *args: object) -> None:
        loop = asyncio.get_running_loop()
        pidfd = os.pidfd_open(pid)
        loop.add_reader(pidfd, self._reap, loop, pid, pidfd, callback, args)

    @staticmethod
    def _reap(
        loop: asyncio.AbstractEventLoop,
        pid: int,
        pidfd: int,
        callback: Callable[..., object],
        args: tuple[object, ...],
    ) -> None:
        loop.remove_reader(pidfd)
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # reaped elsewhere; what asyncio's own watchers report
            returncode = 255
        else:
            returncode = os.waitstatus_to_exitcode(status)
        os.close(pidfd)
        callback(pid, returncode, *args)

    def remove_child_handler(self, pid: int) -> bool:
        return False  # the reader is removed when the child exits

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        pass  # each child is watched by the loop running when it was started

    def close(self) -> None:
        pass

    def is_active(self) -> bool:
        return True

    def __enter__(self) -> PidfdChildWatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


def use_pidfd_child_watcher() -> None:
    """Make asyncio wait for child processes with :class:`PidfdChildWatcher` instead of its
    default thread per child (Python 3.11 on Linux; later Pythons already do, a watcher
    installed by the application is kept)."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    if type(asyncio.get_child_watcher()) is asyncio.ThreadedChildWatcher:
        asyncio.set_child_watcher(PidfdChildWatcher())
