"""Keeping secret values out of everything MentatLab records.

:class:`RedactingDriver` wraps the driver of a run that has secrets: every event an agent
emits and every attempt result (outputs, failure message with its stderr tail, checkpoint)
passes through it before the engine sees it. That is the single point where agent data
enters MentatLab, so what the engine stores, streams, passes downstream or publishes
(FlowRun status, Kubernetes Events) holds ``[REDACTED:NAME]`` instead of a value.

A value is found in its plain form, its JSON-escaped forms (an agent logging a JSON
document that contains it), line by line for a multi-line value (each line of a PEM key
printed on stderr becomes its own log line) and cut short by an excerpt's ``…``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from mentatlab.engine.drivers.base import AttemptResult
from mentatlab.model.protocol import (
    AgentEvent,
    CheckpointEvent,
    ErrorEvent,
    LogEvent,
    MetricEvent,
    OutputEvent,
    ProgressEvent,
)

__all__ = ["Redactor", "redaction_marker"]

_MIN_FRAGMENT: Final = 6
"""Shortest line of a multi-line value, and shortest cut-off prefix, redacted on its own:
shorter pieces (``-----``, ``==``) would hide ordinary text without protecting anything."""
_ELLIPSIS: Final = "…"


def redaction_marker(name: str) -> str:
    return f"[REDACTED:{name}]"


class Redactor:
    """Replaces the values of a run's secrets by markers in text and JSON values."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        forms: dict[str, str] = {}
        # Longer values first, so a secret containing another is replaced whole.
        for name, value in sorted((secrets or {}).items(), key=lambda item: -len(item[1])):
            for form in _forms(value):
                forms.setdefault(form, redaction_marker(name))
        self._markers = forms
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._prefixed = [
            (form, marker) for form, marker in forms.items() if len(form) > _MIN_FRAGMENT
        ]

    def text(self, text: str) -> str:
        if self._pattern is None:
            return text
        text = self._pattern.sub(lambda match: self._markers[match.group(0)], text)
        if _ELLIPSIS in text:
            text = self._cut_off(text)
        return text

    def value(self, value: Any) -> Any:
        """``value`` (any JSON value) with every string redacted, keys included; a number
        whose digits are a secret becomes the marker."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(key)): self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        if isinstance(value, int | float) and not isinstance(value, bool):
            digits = json.dumps(value)
            if (redacted := self.text(digits)) != digits:
                return redacted
        return value

    def event(self, event: AgentEvent) -> AgentEvent:
        match event:
            case OutputEvent(pin=pin, value=value):
                return event.model_copy(update={"pin": self.text(pin), "value": self.value(value)})
            case LogEvent(message=message):
                return event.model_copy(update={"message": self.text(message)})
            case ErrorEvent(code=code, message=message):
                return event.model_copy(
                    update={"code": self.text(code), "message": self.text(message)}
                )
            case ProgressEvent(message=str() as message):
                return event.model_copy(update={"message": self.text(message)})
            case MetricEvent(name=name, unit=unit):
                redacted_unit = None if unit is None else self.text(unit)
                return event.model_copy(update={"name": self.text(name), "unit": redacted_unit})
            case CheckpointEvent(state=state):
                return event.model_copy(update={"state": self.value(state)})
            case _:
                return event

    def result(self, result: AttemptResult) -> AttemptResult:
        return replace(
            result,
            outputs=self.value(dict(result.outputs)),
            message=self.text(result.message),
            error_code=None if result.error_code is None else self.text(result.error_code),
            last_checkpoint=self.value(result.last_checkpoint),
        )

    def _cut_off(self, text: str) -> str:
        """Redact the start of a value that an excerpt cut short right before its ``…``."""
        pieces = text.split(_ELLIPSIS)
        for index in range(len(pieces) - 1):
            for form, marker in self._prefixed:
                piece = pieces[index]
                longest = min(len(form) - 1, len(piece))
                for size in range(longest, _MIN_FRAGMENT - 1, -1):
                    if piece.endswith(form[:size]):
                        pieces[index] = piece[:-size] + marker
                        break
        return _ELLIPSIS.join(pieces)


def _forms(value: str) -> list[str]:
    if not value:
        return []
    forms = [
        value,
        json.dumps(value)[1:-1],  # how it reads inside a JSON string, non-ASCII escaped
        json.dumps(value, ensure_ascii=False)[1:-1],
        value.replace("\r\n", "\n"),
    ]
    lines = value.splitlines()
    if len(lines) > 1:
        forms += [line for line in lines if len(line.strip()) >= _MIN_FRAGMENT]
    return list(dict.fromkeys(forms))
