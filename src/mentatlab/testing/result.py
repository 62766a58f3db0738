"""What a test asserts on after running a Cog-Pak: outcome, outputs and the typed event stream."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from mentatlab.engine.drivers.base import AttemptOutcome, AttemptResult
from mentatlab.model.protocol import AgentEvent, ErrorEvent, LogEvent, ProgressEvent

__all__ = ["CogPakResult"]

E = TypeVar("E")


@dataclass(frozen=True)
class CogPakResult:
    """One attempt of one Cog-Pak, as the driver reported it."""

    attempt: AttemptResult
    """The driver's own report (outcome, reason, exit code, last checkpoint, ...)."""
    events: Sequence[AgentEvent]
    """Every protocol event the agent emitted, in order, typed."""

    @property
    def status(self) -> AttemptOutcome:
        """``succeeded``, ``failed`` or ``cancelled`` (a ``StrEnum``: compare with strings)."""
        return self.attempt.outcome

    @property
    def succeeded(self) -> bool:
        return self.attempt.outcome is AttemptOutcome.SUCCEEDED

    @property
    def outputs(self) -> Mapping[str, Any]:
        """The last value written to each output pin."""
        return self.attempt.outputs

    @property
    def exit_code(self) -> int | None:
        return self.attempt.exit_code

    def of_type(self, kind: type[E]) -> list[E]:
        """The events of one class, e.g. ``result.of_type(MetricEvent)``."""
        return [event for event in self.events if isinstance(event, kind)]

    @property
    def logs(self) -> list[LogEvent]:
        return self.of_type(LogEvent)

    @property
    def log_messages(self) -> list[str]:
        return [event.message for event in self.logs]

    @property
    def progress(self) -> list[float]:
        """The ``percent`` of every progress event, in order."""
        return [event.percent for event in self.of_type(ProgressEvent)]

    @property
    def error(self) -> ErrorEvent | None:
        """The agent's last ``error`` event, if it sent one."""
        errors = self.of_type(ErrorEvent)
        return errors[-1] if errors else None

    def assert_succeeded(self) -> CogPakResult:
        """Fail the test with the reason and the agent's logs unless the attempt succeeded."""
        if not self.succeeded:
            lines = [f"attempt {self.status}: {self.attempt.reason} {self.attempt.message}"]
            if self.error is not None:
                lines.append(f"error [{self.error.code}] {self.error.message}")
            lines += [f"  {event.level}: {event.message}" for event in self.logs]
            raise AssertionError("\n".join(lines))
        return self
