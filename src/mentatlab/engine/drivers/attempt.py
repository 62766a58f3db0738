"""What every driver does around an agent process, whatever runs it.

The input envelope and ``MENTAT_*`` variables an agent receives, and :class:`AttemptRecorder`,
which reads the agent's stdout, follows the events it emits and turns how it ended into an
:class:`AttemptResult` with the outcome rules of agent protocol v1 (``docs/protocol.md``).
Agents with ``protocol: legacy`` get their input and are read the original MentatLab way
(:mod:`mentatlab.engine.legacy_io`), so every driver runs them too.
"""

from __future__ import annotations

import asyncio
import signal
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mentatlab.engine.agent_io import parse_stdout_line
from mentatlab.engine.drivers.base import (
    AttemptOutcome,
    AttemptResult,
    AttemptSpec,
    EventCallback,
    FailureReason,
)
from mentatlab.engine.legacy_io import (
    LegacyStdout,
    ResultProblem,
    legacy_environment,
    legacy_input_environment,
    legacy_stdin,
)
from mentatlab.model.manifest import LEGACY_PROTOCOL
from mentatlab.model.protocol import (
    ENV_ATTEMPT,
    ENV_NODE_ID,
    ENV_PROTOCOL,
    ENV_RUN_ID,
    PROTOCOL_V1,
    AgentEvent,
    CheckpointEvent,
    ErrorEvent,
    InputEnvelope,
    OutputEvent,
    RunContext,
    escape_line_separators,
)

__all__ = [
    "STDERR_TAIL_LINES",
    "AttemptRecorder",
    "StdoutReader",
    "Stop",
    "envelope_bytes",
    "input_environment",
    "protocol_environment",
    "relay_events",
    "start_failed",
]

STDERR_TAIL_LINES = 10
"""How many of the last stderr lines a failure message quotes."""

_TAIL_LINE_CHARS = 500


def envelope_bytes(spec: AttemptSpec) -> bytes:
    """The input envelope as one line of UTF-8 JSON, newline-terminated (for a legacy agent:
    its inputs object)."""
    if spec.protocol == LEGACY_PROTOCOL:
        return legacy_stdin(spec.inputs)
    envelope = InputEnvelope(
        protocol=PROTOCOL_V1,
        run=RunContext(id=spec.run_id, node=spec.node_id, attempt=spec.attempt),
        inputs=dict(spec.inputs),
        params=dict(spec.params),
        resume=spec.resume,
        secrets=dict(spec.secrets) or None,
        identity=spec.identity,
    )
    # Fields added in v1.1 appear only when set: an envelope without them is v1.0's, byte
    # for byte (tests/golden pins it).
    unset = {name for name in ("secrets", "identity") if getattr(envelope, name) is None}
    text = envelope.model_dump_json(exclude=unset)
    return escape_line_separators(text).encode() + b"\n"


def protocol_environment(spec: AttemptSpec) -> dict[str, str]:
    """The ``MENTAT_*`` variables every agent process gets (``MENTAT_PROTOCOL`` is
    ``legacy`` for a legacy agent, which also gets the original ``RUN_ID``, ``NODE_ID`` and
    ``AGENT_ID``)."""
    env = {
        ENV_PROTOCOL: spec.protocol,
        ENV_RUN_ID: spec.run_id,
        ENV_NODE_ID: spec.node_id,
        ENV_ATTEMPT: str(spec.attempt),
    }
    if spec.protocol == LEGACY_PROTOCOL:
        env.update(
            legacy_environment(run_id=spec.run_id, node_id=spec.node_id, agent_id=spec.agent_id)
        )
    return env


def input_environment(spec: AttemptSpec) -> dict[str, str]:
    """Variables carrying the inputs (as sensitive as the envelope): a legacy agent's
    ``INPUT_SPEC`` and ``INPUT_CONTEXT``; none for a v1 agent."""
    if spec.protocol == LEGACY_PROTOCOL:
        return legacy_input_environment(spec.inputs)
    return {}


def start_failed(message: str) -> AttemptResult:
    """The result for an agent that could not be started at all."""
    return AttemptResult(
        outcome=AttemptOutcome.FAILED, reason=FailureReason.START_FAILED, message=message
    )


async def relay_events(on_event: EventCallback, events: Sequence[AgentEvent]) -> None:
    """Hand ``events`` (read together, e.g. the lines of one read of the agent's output) to
    ``on_event`` at once, in order, and wait until every call has returned.

    The calls run as tasks started in order, each before the previous one returned: the
    run's event log receives them in the same turn of the event loop and stores them in one
    transaction, where awaiting them one by one would take a transaction each. A failing
    call cancels those still waiting and its error is raised.
    """
    if len(events) <= 1:
        for event in events:
            await on_event(event)
        return
    calls = [asyncio.ensure_future(on_event(event)) for event in events]
    try:
        await asyncio.gather(*calls)
    finally:
        for call in calls:
            call.cancel()  # a no-op for those done
        await asyncio.gather(*calls, return_exceptions=True)


@dataclass(frozen=True)
class Stop:
    """Why a driver stopped an agent before it exited by itself."""

    reason: FailureReason
    message: str


class StdoutReader(Protocol):
    """Turns an agent's stdout lines into events."""

    @property
    def problem(self) -> ResultProblem | None:
        """After :meth:`finish`: why the output is unusable although the agent exited 0."""
        ...

    def line(self, text: str) -> list[AgentEvent]:
        """The events one non-blank line stands for."""
        ...

    def finish(self) -> list[AgentEvent]:
        """The events due at the end of stdout."""
        ...


class _V1Stdout:
    """Protocol v1: each line is one event (:func:`parse_stdout_line`)."""

    problem: ResultProblem | None = None

    def line(self, text: str) -> list[AgentEvent]:
        event = parse_stdout_line(text)
        return [] if event is None else [event]

    def finish(self) -> list[AgentEvent]:
        return []


def _stdout_reader(spec: AttemptSpec) -> StdoutReader:
    if spec.protocol == LEGACY_PROTOCOL:
        return LegacyStdout(spec.output_pins)
    return _V1Stdout()


class AttemptRecorder:
    """Reads one attempt's stdout, follows its events and builds its :class:`AttemptResult`."""

    def __init__(self, spec: AttemptSpec) -> None:
        self.outputs: dict[str, Any] = {}
        self.last_checkpoint: Any = None
        self.error: ErrorEvent | None = None
        self._stdout = _stdout_reader(spec)
        self._stdout_ended = False
        self._stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)

    def stdout_line(self, text: str) -> list[AgentEvent]:
        """Record and return the events of one non-blank stdout line (decoded)."""
        events = self._stdout.line(text)
        for event in events:
            self.record(event)
        return events

    def stdout_end(self) -> list[AgentEvent]:
        """Record and return the events due at the end of stdout (a legacy agent's result)."""
        if self._stdout_ended:
            return []
        self._stdout_ended = True
        events = self._stdout.finish()
        for event in events:
            self.record(event)
        return events

    def record(self, event: AgentEvent) -> None:
        match event:
            case OutputEvent(pin=pin, value=value):
                self.outputs[pin] = value  # the last write wins
            case CheckpointEvent(state=state):
                self.last_checkpoint = state
            case ErrorEvent():
                self.error = event
            case _:
                pass

    def note_stderr(self, line: str) -> None:
        if len(line) > _TAIL_LINE_CHARS:
            line = line[:_TAIL_LINE_CHARS] + "…"
        self._stderr_tail.append(line)

    def result(
        self,
        *,
        exit_code: int | None,
        signal_number: int | None,
        stop: Stop | None = None,
        limits_note: str = "",
    ) -> AttemptResult:
        """The result of an attempt that has ended.

        ``stop`` says why the driver stopped the agent, if it did; ``limits_note`` is added
        to messages about exit codes and signals, which resource limits may explain.
        """
        self.stdout_end()  # a driver that could not read stdout to its end did not call it
        if stop is not None and stop.reason is FailureReason.CANCELLED:
            return AttemptResult(
                outcome=AttemptOutcome.CANCELLED,
                reason=FailureReason.CANCELLED,
                message=stop.message,
                exit_code=exit_code,
                signal=signal_number,
                last_checkpoint=self.last_checkpoint,
            )
        error = self.error
        if stop is not None:
            reason, message = stop.reason, stop.message
        elif error is not None:
            # An agent that reports an error has failed, whatever its exit code says.
            reason, message = FailureReason.AGENT_ERROR, error.message
        elif signal_number is not None:
            reason, message = FailureReason.SIGNAL, _signal_message(signal_number)
            message += limits_note + self._tail()
        elif exit_code:
            reason, message = FailureReason.EXIT_CODE, f"exited with code {exit_code}"
            message += limits_note + self._tail()
        elif (problem := self._stdout.problem) is not None:
            # A legacy agent that exited 0 without a usable result: its own failure, for good.
            return AttemptResult(
                outcome=AttemptOutcome.FAILED,
                reason=FailureReason.AGENT_ERROR,
                message=problem.message,
                exit_code=exit_code,
                error_code=problem.code,
                retryable=False,
                last_checkpoint=self.last_checkpoint,
            )
        else:
            return AttemptResult(
                outcome=AttemptOutcome.SUCCEEDED,
                outputs=dict(self.outputs),
                exit_code=exit_code,
                last_checkpoint=self.last_checkpoint,
            )
        return AttemptResult(
            outcome=AttemptOutcome.FAILED,
            reason=reason,
            message=message,
            exit_code=exit_code,
            signal=signal_number,
            error_code=error.code if error is not None else None,
            retryable=error.retryable if error is not None else True,
            last_checkpoint=self.last_checkpoint,
        )

    def _tail(self) -> str:
        if not self._stderr_tail:
            return ""
        return "; last stderr lines:\n" + "\n".join(self._stderr_tail)


def _signal_message(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"killed by signal {number}"
    description = signal.strsignal(number)
    return f"killed by signal {number} ({name}: {description})"
