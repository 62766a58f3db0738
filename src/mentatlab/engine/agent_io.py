"""Reading what an agent writes: newline-delimited JSON on stdout, free text on stderr.

Agent protocol v1 (``docs/protocol.md``). This module does no I/O, so every driver shares it:
the local driver feeds it pipe chunks, the Kubernetes driver the pod's log stream.

- :class:`LineSplitter` cuts a byte stream into lines while holding at most one line's
  worth of bytes, so a flooding agent cannot exhaust MentatLab's memory.
- :func:`parse_stdout_line` turns one stdout line into a protocol event. Anything that is
  not a valid v1 event becomes a ``log`` event describing it; nothing an agent writes raises.
- :func:`stderr_log_event` turns one stderr line into a ``log`` event at ``warning``.
"""

from __future__ import annotations

import json
from typing import Any, get_args

from pydantic import ValidationError

from mentatlab.model.protocol import AgentEvent, LogEvent, agent_event_adapter

__all__ = [
    "KNOWN_EVENT_TYPES",
    "LineSplitter",
    "LineTooLongError",
    "decode_line",
    "excerpt",
    "parse_stdout_line",
    "stderr_log_event",
]


def _event_types() -> frozenset[str]:
    union = get_args(AgentEvent)[0]  # AgentEvent is Annotated[Union[...], discriminator]
    return frozenset(str(model.model_fields["type"].default) for model in get_args(union))


KNOWN_EVENT_TYPES: frozenset[str] = _event_types()
"""The event types protocol v1 defines."""

_EXCERPT_CHARS = 200


class LineTooLongError(Exception):
    """A line grew past the limit before its newline arrived."""


class LineSplitter:
    """Splits a byte stream into ``\\n``-terminated lines (terminator removed).

    Holds at most ``max_line_bytes`` of an unfinished line; :meth:`feed` raises
    :class:`LineTooLongError` as soon as a line is longer than that.
    """

    def __init__(self, max_line_bytes: int) -> None:
        self._max = max_line_bytes
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the lines it completed, in order."""
        parts = data.split(b"\n")
        # Only the new data is searched for newlines, so a long line costs linear time.
        self._check(len(self._pending) + len(parts[0]))
        if len(parts) == 1:
            self._pending += data
            return []
        lines = [bytes(self._pending) + parts[0], *parts[1:-1]]
        for line in lines[1:]:
            self._check(len(line))
        self._check(len(parts[-1]))
        self._pending = bytearray(parts[-1])
        return lines

    def finish(self) -> bytes | None:
        """At end of stream: the last line if it had no newline, else ``None``."""
        rest, self._pending = bytes(self._pending), bytearray()
        return rest or None

    def _check(self, length: int) -> None:
        if length > self._max:
            raise LineTooLongError(f"a line is longer than {self._max} bytes")


def decode_line(line: bytes) -> str:
    """UTF-8 with replacement characters (an agent's bad bytes never fail a run), no ``\\r``."""
    return line.decode("utf-8", errors="replace").removesuffix("\r")


def parse_stdout_line(line: bytes | str) -> AgentEvent | None:
    """The event one stdout line stands for; ``None`` for a blank line.

    - a v1 event object → that event;
    - not a JSON object (plain text, a bare number or array) → ``log`` at ``info`` with the text;
    - an object whose ``type`` is not a v1 type → ``log`` at ``debug`` naming the type
      (a newer agent; forward compatible, never a failure);
    - an object without a string ``type``, a v1 type with invalid fields, or a line using
      ``NaN``/``Infinity`` → ``log`` at ``warning`` saying what is wrong.
    """
    text = decode_line(line) if isinstance(line, bytes) else line.removesuffix("\r")
    if not text.strip():
        return None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except _NonJSONConstantError as exc:
        # Most likely an event carrying a float NaN/Infinity: worth a warning, not plain text.
        return LogEvent(
            level="warning", message=f"ignored a line that is not JSON ({exc}): {excerpt(text)}"
        )
    except (ValueError, RecursionError):
        # ValueError covers malformed JSON and over-long integer literals; RecursionError
        # deeply nested arrays. Either way the line is text, not an event.
        return LogEvent(level="info", message=text)
    if not isinstance(data, dict):
        return LogEvent(level="info", message=text)
    kind = data.get("type")
    if not isinstance(kind, str):
        return LogEvent(
            level="warning",
            message=f"ignored a JSON object without a string 'type': {excerpt(text)}",
        )
    if kind not in KNOWN_EVENT_TYPES:
        return LogEvent(
            level="debug",
            message=f"ignored an event of unknown type {kind!r} (newer protocol version?)",
        )
    try:
        return agent_event_adapter.validate_python(data)
    except ValidationError as exc:
        return LogEvent(
            level="warning",
            message=f"ignored an invalid {kind!r} event ({_problems(exc)}): {excerpt(text)}",
        )


def stderr_log_event(line: bytes | str) -> LogEvent | None:
    """The ``log`` event (level ``warning``) one stderr line stands for; ``None`` if blank."""
    text = decode_line(line) if isinstance(line, bytes) else line.removesuffix("\r")
    if not text.strip():
        return None
    return LogEvent(level="warning", message=text)


class _NonJSONConstantError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    # Python's json module accepts NaN and Infinity, but they are not JSON.
    raise _NonJSONConstantError(f"{name} is not a JSON value")


def _problems(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"][1:])  # [0] is the event type
        problems.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(problems)


def excerpt(text: str) -> str:
    """``text``, shortened for a message when it is long."""
    if len(text) <= _EXCERPT_CHARS:
        return text
    return text[:_EXCERPT_CHARS] + f"… ({len(text)} characters)"
