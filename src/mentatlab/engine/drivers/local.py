"""The local driver: each attempt of an agent is a child process of MentatLab.

The process speaks agent protocol v1 (``docs/protocol.md``): it reads the input envelope on
stdin and writes NDJSON events on stdout. It runs in its own session (and so its own
process group), so stopping it also stops every process it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from asyncio.subprocess import SubprocessStreamProtocol
from pathlib import Path
from typing import Any

from mentatlab.engine.agent_io import (
    LineSplitter,
    LineTooLongError,
    decode_line,
    stderr_log_event,
)
from mentatlab.engine.drivers.attempt import (
    AttemptRecorder,
    Stop,
    envelope_bytes,
    input_environment,
    protocol_environment,
    relay_events,
    start_failed,
)
from mentatlab.engine.drivers.base import (
    AttemptResult,
    AttemptSpec,
    EventCallback,
    ExecutionLimits,
    FailureReason,
)
from mentatlab.engine.drivers.census import ProcessCensus, ProcessCensusRounds
from mentatlab.engine.drivers.process import (
    CommandError,
    child_setup,
    resolve_command,
    signal_group,
    use_pidfd_child_watcher,
)
from mentatlab.model.protocol import AgentEvent

__all__ = ["LocalProcessDriver"]

_CHUNK_BYTES = 64 * 1024
"""Read size, and the asyncio buffer limit: what MentatLab holds beyond one line per stream."""

_DRAIN_SECONDS = 5.0
"""After the agent exits (and its process group is killed), how long the pipes may stay
without new output before MentatLab stops reading them: only a process that left the agent's
process group can hold them open. Output still being read and relayed (a flood the agent
wrote just before exiting) does not count against it."""
_DRAIN_MAX_SECONDS = 60.0
"""The most time reading the rest of the output may take after the agent exited."""


class LocalProcessDriver:
    """Runs an attempt as a subprocess of MentatLab; implements :class:`Driver`.

    ``spec.command`` runs in ``spec.workdir`` (the Cog-Pak directory). A program named
    ``python`` or ``python3`` is the interpreter running MentatLab, so Python agents can
    import the MentatLab SDK. The agent gets MentatLab's environment, ``PYTHONUNBUFFERED=1``,
    ``spec.env`` and the ``MENTAT_*`` variables. Memory and CPU limits are resource limits
    of the process (see :func:`~mentatlab.engine.drivers.process.child_setup`); the number
    of processes is counted while it runs (:mod:`~mentatlab.engine.drivers.census`), in
    rounds shared by every attempt of this driver: run many attempts with one driver.
    """

    resolves_env_references = False  # Secrets and ConfigMaps exist on Kubernetes only
    default_parallelism = os.cpu_count() or 1  # the agents share this machine's CPUs

    def __init__(self) -> None:
        self._census_rounds = ProcessCensusRounds()
        use_pidfd_child_watcher()

    async def run_attempt(
        self,
        spec: AttemptSpec,
        *,
        on_event: EventCallback,
        cancel: asyncio.Event,
    ) -> AttemptResult:
        payload = envelope_bytes(spec)
        try:
            argv = resolve_command(spec.command, spec.workdir)
        except CommandError as exc:
            return start_failed(f"cannot start agent: {exc}")
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _Protocol(loop),
                *argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=spec.workdir,
                env=_environment(spec),
                start_new_session=True,  # own process group: signals reach its children too
                preexec_fn=child_setup(spec.limits),
            )
        except OSError as exc:
            return start_failed(_start_error(spec.command[0], argv[0], exc))
        except subprocess.SubprocessError as exc:  # applying resource limits failed
            return start_failed(f"cannot start agent {spec.command[0]!r}: {exc}")
        attempt = _Attempt(
            spec, transport, protocol, on_event, cancel, census_rounds=self._census_rounds
        )
        return await attempt.run(payload)


class _Protocol(SubprocessStreamProtocol):
    """asyncio's subprocess stream protocol plus a future set when the process itself exits.

    ``Process.wait()`` also waits for the pipes to close, which a grandchild holding the
    agent's stdout could put off forever.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=_CHUNK_BYTES, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


class _Attempt:
    """One running agent process: feeds it, reads it, watches its limits, reaps it."""

    def __init__(
        self,
        spec: AttemptSpec,
        transport: asyncio.SubprocessTransport,
        protocol: _Protocol,
        on_event: EventCallback,
        cancel: asyncio.Event,
        *,
        census_rounds: ProcessCensusRounds,
    ) -> None:
        self._limits = spec.limits
        self._transport = transport
        self._protocol = protocol
        self._pgid = transport.get_pid()  # a new session's leader: its pid is the group id
        self._on_event = on_event
        self._cancel = cancel
        self._recorder = AttemptRecorder(spec)
        self._emit_lock = asyncio.Lock()  # stdout and stderr readers take turns, in order
        self._loop = asyncio.get_running_loop()
        self._started = self._last_event = self._loop.time()
        self._output_bytes = 0
        self._flood: asyncio.Future[str] = self._loop.create_future()
        limit = spec.limits.max_processes
        self._census = ProcessCensus(self._pgid, limit=limit) if limit is not None else None
        self._census_rounds = census_rounds

    async def run(self, payload: bytes) -> AttemptResult:
        readers = [
            asyncio.create_task(self._pump(self._protocol.stdout, stdout=True)),
            asyncio.create_task(self._pump(self._protocol.stderr, stdout=False)),
        ]
        tasks = [asyncio.create_task(self._send(payload)), *readers]
        try:
            stop = await self._follow(readers)
        except BaseException:
            # Also on CancelledError of the caller: no agent process outlives its driver.
            signal_group(self._pgid, signal.SIGKILL)
            raise
        finally:
            await self._close(tasks)
        returncode = self._transport.get_returncode()
        if returncode is None:  # impossible once `exited` is set; keeps the types honest
            returncode = -signal.SIGKILL
        return self._recorder.result(
            exit_code=returncode if returncode >= 0 else None,
            signal_number=-returncode if returncode < 0 else None,
            stop=stop,
            limits_note=_limits_note(self._limits),
        )

    async def _follow(self, readers: list[asyncio.Task[None]]) -> Stop | None:
        """Follow the agent until it has exited and its output is read; why it was stopped."""
        stop = await self._supervise(readers)
        if stop is not None:
            await self._stop(stop)
        await self._drain(readers)
        if stop is None and self._flood.done():
            # The limit was hit by output read after the exit: events were dropped.
            stop = Stop(FailureReason.OUTPUT_LIMIT, self._flood.result())
        return stop

    async def _supervise(self, readers: list[asyncio.Task[None]]) -> Stop | None:
        """Wait until the agent exits (``None``) or must be stopped (why)."""
        cancelled = asyncio.create_task(self._cancel.wait())
        try:
            with self._process_watch() as over_limit:
                return await self._until_stop(readers, cancelled, over_limit)
        finally:
            cancelled.cancel()
            await asyncio.gather(cancelled, return_exceptions=True)

    async def _until_stop(
        self,
        readers: list[asyncio.Task[None]],
        cancelled: asyncio.Future[Any],
        over_limit: asyncio.Future[int],
    ) -> Stop | None:
        limits = self._limits
        exited = self._protocol.exited
        while True:
            for reader in readers:
                if reader.done():
                    reader.result()  # re-raise a failure of on_event
            if exited.done():
                return None
            if self._cancel.is_set():
                return Stop(FailureReason.CANCELLED, "cancelled")
            if self._flood.done():
                return Stop(FailureReason.OUTPUT_LIMIT, self._flood.result())
            if over_limit.done():
                over_limit.result()  # re-raise a failure of the census
                return Stop(
                    FailureReason.PROCESS_LIMIT,
                    f"process limit: ran more than {limits.max_processes} processes at once",
                )
            now = self._loop.time()
            wake: list[float] = []
            if limits.timeout_seconds is not None:
                left = self._started + limits.timeout_seconds - now
                if left <= 0:
                    return Stop(
                        FailureReason.TIMEOUT, f"timed out after {limits.timeout_seconds:g} s"
                    )
                wake.append(left)
            if limits.heartbeat_timeout_seconds is not None:
                left = self._last_event + limits.heartbeat_timeout_seconds - now
                if left <= 0:
                    return Stop(
                        FailureReason.HEARTBEAT_TIMEOUT,
                        f"no event on stdout for {limits.heartbeat_timeout_seconds:g} s "
                        "(heartbeat timeout)",
                    )
                wake.append(left)
            waiting: set[asyncio.Future[Any]] = {exited, cancelled, self._flood, over_limit}
            waiting.update(reader for reader in readers if not reader.done())
            await asyncio.wait(
                waiting, timeout=min(wake, default=None), return_when=asyncio.FIRST_COMPLETED
            )

    def _process_watch(self) -> contextlib.AbstractContextManager[asyncio.Future[int]]:
        """A future set when the agent runs more processes than its limit (never, without)."""
        if self._census is None:
            return contextlib.nullcontext(self._loop.create_future())
        return self._census_rounds.watch(self._census)

    async def _stop(self, stop: Stop) -> None:
        """Stop the agent's process group and wait for the agent to exit."""
        exited = self._protocol.exited
        if stop.reason is FailureReason.PROCESS_LIMIT and self._census is not None:
            await asyncio.to_thread(self._census.kill_all)  # no grace: it would keep forking
        elif stop.reason is FailureReason.OUTPUT_LIMIT:
            signal_group(self._pgid, signal.SIGKILL)  # no grace: it would keep flooding
        else:
            signal_group(self._pgid, signal.SIGTERM)
            waiting: set[asyncio.Future[Any]] = {exited, self._flood}
            await asyncio.wait(
                waiting,
                timeout=self._limits.kill_grace_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
            signal_group(self._pgid, signal.SIGKILL)
        await exited

    async def _drain(self, readers: list[asyncio.Task[None]]) -> None:
        """Once the agent exited: kill what it left in its group, read the rest of its output."""
        signal_group(self._pgid, signal.SIGKILL)
        give_up = self._loop.time() + _DRAIN_MAX_SECONDS
        while True:
            read = self._output_bytes
            done, pending = await asyncio.wait(readers, timeout=_DRAIN_SECONDS)
            stalled = self._output_bytes == read  # nothing new arrived meanwhile
            if not pending or stalled or self._loop.time() >= give_up:
                break
        for reader in done:
            reader.result()

    async def _close(self, tasks: list[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._transport.close()  # kills the agent if it still runs
        await self._protocol.exited  # reaped: no zombie

    async def _send(self, payload: bytes) -> None:
        stdin = self._protocol.stdin
        if stdin is None:
            return
        try:
            stdin.write(payload)
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # it exited or closed stdin without reading: its exit status tells the rest
        finally:
            stdin.close()

    async def _pump(self, stream: asyncio.StreamReader | None, *, stdout: bool) -> None:
        """Read one of the agent's output pipes to its end, line by line, within the limits."""
        if stream is None:
            return
        limits = self._limits
        splitter = LineSplitter(limits.max_line_bytes)
        while chunk := await stream.read(_CHUNK_BYTES):
            if self._flood.done():
                continue  # discard, but keep the pipe flowing until the agent is gone
            self._output_bytes += len(chunk)
            if self._output_bytes > limits.max_output_bytes:
                self._flood.set_result(
                    f"output limit: wrote more than {limits.max_output_bytes} bytes"
                )
                continue
            try:
                lines = splitter.feed(chunk)
            except LineTooLongError:
                self._flood.set_result(
                    f"output limit: wrote a line longer than {limits.max_line_bytes} bytes"
                )
                continue
            await self._emit([event for line in lines for event in self._line(line, stdout)])
        rest = splitter.finish()
        if rest is not None and not self._flood.done():
            await self._emit(self._line(rest, stdout))
        if stdout and not self._flood.done():
            await self._emit(self._recorder.stdout_end())

    def _line(self, line: bytes, stdout: bool) -> list[AgentEvent]:
        """The events one line of the agent's output stands for (recorded)."""
        text = decode_line(line)
        if stdout:
            if not text.strip():
                return []
            self._last_event = self._loop.time()
            return self._recorder.stdout_line(text)
        event = stderr_log_event(text)
        if event is None:
            return []
        self._recorder.note_stderr(text)
        self._recorder.record(event)
        return [event]

    async def _emit(self, events: list[AgentEvent]) -> None:
        async with self._emit_lock:
            await relay_events(self._on_event, events)


def _environment(spec: AttemptSpec) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"  # events reach MentatLab as they are printed
    env.update(spec.env)
    env.update(protocol_environment(spec))
    env.update(input_environment(spec))
    return env


def _start_error(program: str, resolved: str, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        if Path(resolved).exists():
            return (
                f"cannot start agent: {resolved!r} exists, but the interpreter on its '#!' "
                "line was not found"
            )
        where = f"at {resolved!r}" if "/" in resolved else "on PATH"
        return f"cannot start agent: program {program!r} not found {where}"
    if isinstance(exc, PermissionError):
        return f"cannot start agent: permission denied running {resolved!r} (not executable?)"
    return f"cannot start agent {resolved!r}: {exc.strerror or exc}"


def _limits_note(limits: ExecutionLimits) -> str:
    notes = []
    if limits.memory_bytes is not None:
        notes.append(f"memory {limits.memory_bytes / 2**20:g} MiB")
    if limits.cpu_seconds is not None:
        notes.append(f"CPU {limits.cpu_seconds} s")
    return f" (limits: {', '.join(notes)})" if notes else ""
