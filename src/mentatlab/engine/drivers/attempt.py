"""What every driver does around an agent process, whatever runs it.

The input envelope and ``MENTAT_*`` variables an agent receives, and :class:`AttemptRecorder`,
which follows the events an agent emits and turns how it ended into an :class:`AttemptResult`
with the outcome rules of agent protocol v1 (``docs/protocol.md``).
"""

from __future__ import annotations

import signal
from collections import deque
from dataclasses import dataclass
from typing import Any

from mentatlab.engine.drivers.base import (
    AttemptOutcome,
    AttemptResult,
    AttemptSpec,
    FailureReason,
)
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
)

__all__ = [
    "STDERR_TAIL_LINES",
    "AttemptRecorder",
    "Stop",
    "envelope_bytes",
    "protocol_environment",
    "start_failed",
]

STDERR_TAIL_LINES = 10
"""How many of the last stderr lines a failure message quotes."""

_TAIL_LINE_CHARS = 500


def envelope_bytes(spec: AttemptSpec) -> bytes:
    """The input envelope as one line of UTF-8 JSON, newline-terminated."""
    envelope = InputEnvelope(
        protocol=PROTOCOL_V1,
        run=RunContext(id=spec.run_id, node=spec.node_id, attempt=spec.attempt),
        inputs=dict(spec.inputs),
        params=dict(spec.params),
        resume=spec.resume,
    )
    return envelope.model_dump_json().encode() + b"\n"


def protocol_environment(spec: AttemptSpec) -> dict[str, str]:
    """The ``MENTAT_*`` variables every agent process gets."""
    return {
        ENV_PROTOCOL: PROTOCOL_V1,
        ENV_RUN_ID: spec.run_id,
        ENV_NODE_ID: spec.node_id,
        ENV_ATTEMPT: str(spec.attempt),
    }


def start_failed(message: str) -> AttemptResult:
    """The result for an agent that could not be started at all."""
    return AttemptResult(
        outcome=AttemptOutcome.FAILED, reason=FailureReason.START_FAILED, message=message
    )


@dataclass(frozen=True)
class Stop:
    """Why a driver stopped an agent before it exited by itself."""

    reason: FailureReason
    message: str


class AttemptRecorder:
    """Follows one attempt's events and builds its :class:`AttemptResult`."""

    def __init__(self) -> None:
        self.outputs: dict[str, Any] = {}
        self.last_checkpoint: Any = None
        self.error: ErrorEvent | None = None
        self._stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)

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
