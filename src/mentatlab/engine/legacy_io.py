"""Agents written for the original MentatLab contract ("legacy"), run as protocol v1 agents.

An agent whose manifest says ``protocol: legacy`` (every manifest in the original format, the
one without ``apiVersion``) never sees the v1 envelope or writes v1 events. As the original
MentatLab did, the engine gives it

- its inputs as **one JSON object on stdin**, pin name → value (``{"text": "hi"}``, or
  ``{"spec": {…}, "context": {…}}`` for agents with ``spec``/``context`` pins), see
  :func:`legacy_stdin`;
- the same in **``INPUT_SPEC``/``INPUT_CONTEXT``**, see :func:`legacy_input_environment`;

and reads **one final JSON object** from its stdout, ``{"result": …, "mentat_meta": {…}}``
or one keyed by output pin, turning it into v1 events with :class:`LegacyStdout`. The rules
are in ``docs/compatibility.md``. Like :mod:`mentatlab.engine.agent_io` this module does no
I/O, so the local and the Kubernetes driver share it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from mentatlab.engine.agent_io import KNOWN_EVENT_TYPES, excerpt, parse_stdout_line
from mentatlab.model.protocol import (
    AgentEvent,
    CheckpointEvent,
    ErrorEvent,
    HeartbeatEvent,
    LogEvent,
    LogLevel,
    MetricEvent,
    OutputEvent,
    ProgressEvent,
)

__all__ = [
    "ENV_INPUT_CONTEXT",
    "ENV_INPUT_SPEC",
    "MAX_INPUT_ENV_BYTES",
    "LegacyStdout",
    "ResultProblem",
    "legacy_environment",
    "legacy_input_environment",
    "legacy_stdin",
]

ENV_INPUT_SPEC: Final = "INPUT_SPEC"
ENV_INPUT_CONTEXT: Final = "INPUT_CONTEXT"
MAX_INPUT_ENV_BYTES: Final = 96 * 1024
"""Longest ``INPUT_SPEC``/``INPUT_CONTEXT`` value set; a longer one is left out (stdin still
has it): Linux refuses to start a program with one variable over 128 KiB."""

_SPEC_PIN = "spec"
_CONTEXT_PIN = "context"
_RESULT_KEY = "result"
_ERROR_KEY = "error"
_META_KEY = "mentat_meta"
_META_UNITS: Final = {"tokens_input": "tokens", "tokens_output": "tokens", "seconds": "s"}
_LEVELS: Final[dict[str, LogLevel]] = {
    "debug": "debug",
    "trace": "debug",
    "info": "info",
    "warn": "warning",
    "warning": "warning",
    "error": "error",
    "critical": "error",
    "fatal": "error",
}


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def legacy_stdin(inputs: Mapping[str, Any]) -> bytes:
    """What a legacy agent reads on stdin: its inputs as one line of JSON."""
    return _compact(dict(inputs)).encode() + b"\n"


def legacy_input_environment(inputs: Mapping[str, Any]) -> dict[str, str]:
    """``INPUT_SPEC`` and ``INPUT_CONTEXT``, the other way the original agents read inputs.

    ``INPUT_SPEC`` is the ``spec`` input, or without one every input but ``context`` (what the
    original agents' input helpers took for the spec); ``INPUT_CONTEXT`` is the ``context``
    input or ``{}``. A value over :data:`MAX_INPUT_ENV_BYTES` is left out.
    """
    if _SPEC_PIN in inputs:
        spec = inputs[_SPEC_PIN]
    else:
        spec = {name: value for name, value in inputs.items() if name != _CONTEXT_PIN}
    env = {}
    for name, value in ((ENV_INPUT_SPEC, spec), (ENV_INPUT_CONTEXT, inputs.get(_CONTEXT_PIN, {}))):
        text = _compact(value)
        if len(text.encode()) <= MAX_INPUT_ENV_BYTES:
            env[name] = text
    return env


def legacy_environment(*, run_id: str, node_id: str, agent_id: str) -> dict[str, str]:
    """The variables the original MentatLab set for every agent."""
    return {"RUN_ID": run_id, "NODE_ID": node_id, "AGENT_ID": agent_id}


@dataclass(frozen=True)
class ResultProblem:
    """Why a legacy agent's stdout holds no usable result: fails an attempt that exited 0."""

    code: str
    message: str


class LegacyStdout:
    """Reads a legacy agent's stdout, line by line, as v1 events.

    - A JSON object without a string ``type`` is a **result object**. Only the last one
      counts: at :meth:`finish` it becomes ``output`` events (see :meth:`_result_events`), and
      any earlier one is logged at ``info`` when the next arrives.
    - A JSON object with a ``type`` is an event: a v1 one, or one of the original shapes
      (``output`` with ``key``, ``log``/``error``/``progress`` with a ``data`` object,
      ``checkpoint`` with ``data``); any other type (``stream_start``, ``text:stream``, …) is
      logged at ``info``.
    - Anything else (plain text, a JSON array) is logged at ``info``, as in v1.

    After :meth:`finish`, :attr:`problem` says why the agent produced no result, if so.
    """

    def __init__(self, output_pins: Sequence[str]) -> None:
        self._pins = tuple(output_pins)
        self._result: tuple[dict[str, Any], str] | None = None
        self._broken: tuple[str, str] | None = None  # the last line, if a broken JSON object
        self._outputs = False
        self._failed = False
        self._finished = False
        self.problem: ResultProblem | None = None

    def line(self, text: str) -> list[AgentEvent]:
        """The events one non-blank stdout line stands for (none for a result object)."""
        self._broken = None
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            if text.lstrip().startswith("{"):
                self._broken = (str(exc), text)
            return [LogEvent(level="info", message=text)]
        if not isinstance(data, dict):
            return [LogEvent(level="info", message=text)]
        kind = data.get("type")
        if isinstance(kind, str):
            event = self._event(kind, data, text)
            self._outputs |= isinstance(event, OutputEvent)
            self._failed |= isinstance(event, ErrorEvent)
            return [event]
        earlier, self._result = self._result, (data, text)
        return [] if earlier is None else [LogEvent(level="info", message=earlier[1])]

    def finish(self) -> list[AgentEvent]:
        """At the end of stdout: the events of the result object; sets :attr:`problem`."""
        if self._finished:
            return []
        self._finished = True
        events: list[AgentEvent] = []
        if self._broken is not None:
            reason, text = self._broken
            if self._result is not None:
                events.append(LogEvent(level="info", message=self._result[1]))
            self.problem = ResultProblem(
                "invalid_result",
                "the last line the agent wrote on stdout is not a valid JSON object "
                f"({reason}): {excerpt(text)}",
            )
        elif self._result is not None:
            events = self._result_events(self._result[0])
        if self.problem is None and self._pins and not (self._outputs or self._failed):
            self.problem = self._missing()
        return events

    def _missing(self) -> ResultProblem:
        pins = ", ".join(self._pins)
        if self._result is None:
            return ResultProblem(
                "missing_result",
                "the agent (protocol: legacy) wrote no result on stdout: expected a final line "
                f'with one JSON object such as {{"result": …, "mentat_meta": {{…}}}} '
                f"or one keyed by output pin ({pins})",
            )
        keys = ", ".join(self._result[0]) or "none"
        return ResultProblem(
            "missing_result",
            f"the agent's result object sets no output pin: its keys are {keys}; "
            f"the output pins are {pins}",
        )

    # --- events -------------------------------------------------------------------------

    def _event(self, kind: str, data: dict[str, Any], text: str) -> AgentEvent:
        translate = _ORIGINAL_EVENTS.get(kind)
        event = translate(data) if translate is not None else None
        if event is not None:
            return event
        if kind in KNOWN_EVENT_TYPES:
            # A v1 event, or a broken one, which v1 rules report as a warning.
            parsed = parse_stdout_line(text)
            assert parsed is not None  # noqa: S101 - the line is not blank
            return parsed
        return LogEvent(level="info", message=text)

    # --- the result object --------------------------------------------------------------

    def _result_events(self, result: dict[str, Any]) -> list[AgentEvent]:
        """``mentat_meta`` → metrics and a log line; output-pin keys → ``output`` events;
        ``result`` → its pin, or the only output pin, or the output pins among its own keys;
        ``error`` (unless a pin) → an ``error`` event; anything else is logged as ignored."""
        pins = self._pins
        events: list[AgentEvent] = []
        meta = result.get(_META_KEY)
        if isinstance(meta, dict):
            events += _meta_events(meta)
        outputs = {key: value for key, value in result.items() if key in pins}
        ignored = [key for key in result if key not in pins and key != _META_KEY]
        if _RESULT_KEY in ignored:
            ignored.remove(_RESULT_KEY)
            mapped = self._map_result(result[_RESULT_KEY], set(outputs))
            if mapped is None:
                events.append(
                    LogEvent(
                        level="warning",
                        message="ignored 'result': it fits no output pin "
                        f"(output pins: {', '.join(pins) or 'none'})",
                    )
                )
            else:
                outputs = {**mapped, **outputs}
        events += [OutputEvent(pin=pin, value=value) for pin, value in outputs.items()]
        self._outputs |= bool(outputs)
        if _ERROR_KEY in ignored:
            ignored.remove(_ERROR_KEY)
            error = result[_ERROR_KEY]
            events.append(ErrorEvent(message=error if isinstance(error, str) else _compact(error)))
            self._failed = True
        if ignored:
            events.append(
                LogEvent(
                    level="warning",
                    message=f"ignored key(s) of the result object that are not output pins: "
                    f"{', '.join(ignored)}",
                )
            )
        return events

    def _map_result(self, value: Any, taken: set[str]) -> dict[str, Any] | None:
        """The pins ``result`` sets: the only output pin (``mentat_meta`` aside), or those
        among the keys of a ``result`` object; ``None`` when it fits no pin."""
        free = [pin for pin in self._pins if pin != _META_KEY and pin not in taken]
        if len(free) == 1:
            return {free[0]: value}
        if isinstance(value, dict):
            spread = {key: item for key, item in value.items() if key in free}
            if spread:
                return spread
        return None


def _meta_events(meta: dict[str, Any]) -> list[AgentEvent]:
    """``mentat_meta`` as a log line (everything) and a metric per number in it."""
    events: list[AgentEvent] = [LogEvent(level="info", message=f"mentat_meta {_compact(meta)}")]
    for name, value in meta.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and name:
            try:
                number = float(value)
            except OverflowError:
                continue
            if math.isfinite(number):
                events.append(MetricEvent(name=name, value=number, unit=_META_UNITS.get(name)))
    return events


# --- the original event shapes -------------------------------------------------------------


def _output(data: dict[str, Any]) -> AgentEvent | None:
    pin = data.get("pin", data.get("key"))
    if isinstance(pin, str) and pin and "value" in data:
        return OutputEvent(pin=pin, value=data["value"])
    return None


def _log(data: dict[str, Any]) -> AgentEvent | None:
    level = data.get("level", "info")
    message, extra = data.get("message"), data.get("data")
    if not isinstance(message, str):
        if extra is None:
            return None
        message, extra = _compact(extra), None
    if extra is not None:
        message = f"{message} {_compact(extra)}"
    return LogEvent(level=_LEVELS.get(str(level).lower(), "info"), message=message)


def _error(data: dict[str, Any]) -> AgentEvent | None:
    # The original helper nested code/message/retryable in ``data``, retryable false by default.
    fields = {**(data["data"] if isinstance(data.get("data"), dict) else {}), **data}
    message, code, retryable = fields.get("message"), fields.get("code"), fields.get("retryable")
    if not isinstance(message, str):
        return None
    return ErrorEvent(
        code=code if isinstance(code, str) and code else "agent_error",
        message=message,
        retryable=retryable if isinstance(retryable, bool) else False,
    )


def _progress(data: dict[str, Any]) -> AgentEvent | None:
    nested = data.get("data")
    candidates = [data.get("percent"), data.get("progress")]
    if isinstance(nested, dict):
        candidates.insert(1, nested.get("percent"))
    message = data.get("message")
    for value in candidates:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return ProgressEvent(
                percent=min(100.0, max(0.0, float(value))),
                message=message if isinstance(message, str) else None,
            )
    return None


def _checkpoint(data: dict[str, Any]) -> AgentEvent | None:
    if "state" in data:
        return None  # v1
    return CheckpointEvent(state=data.get("data"))


def _heartbeat(_: dict[str, Any]) -> AgentEvent | None:
    return HeartbeatEvent()


_ORIGINAL_EVENTS: Final[dict[str, Callable[[dict[str, Any]], AgentEvent | None]]] = {
    "output": _output,
    "log": _log,
    "error": _error,
    "progress": _progress,
    "checkpoint": _checkpoint,
    "heartbeat": _heartbeat,
}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
