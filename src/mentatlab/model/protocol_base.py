"""Agent protocol v1 without pydantic: its version string, environment variables and log levels,
and how event lines are written.

:mod:`mentatlab.model.protocol` re-exports all of it next to the models. The agent SDK imports
this module directly, so that an agent starts without building the protocol models until it
validates its input envelope.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "ENV_ATTEMPT",
    "ENV_NODE_ID",
    "ENV_PROTOCOL",
    "ENV_RUN_ID",
    "PROTOCOL_V1",
    "LogLevel",
    "escape_line_separators",
]

PROTOCOL_V1: Final = "mentatlab.agent/v1"
ENV_PROTOCOL = "MENTAT_PROTOCOL"
ENV_RUN_ID = "MENTAT_RUN_ID"
ENV_NODE_ID = "MENTAT_NODE_ID"
ENV_ATTEMPT = "MENTAT_ATTEMPT"

LogLevel = Literal["debug", "info", "warning", "error"]

_LINE_SEPARATORS: Final = ("\u2028", "\u2029", "\x85")


def escape_line_separators(json_text: str) -> str:
    """``json_text`` with U+2028, U+2029 and U+0085 as ``\\u`` escapes (protocol "Writing events").

    JSON allows them raw inside strings, but ``str.splitlines()`` and some line readers break
    lines there; escaped, the line means the same JSON to every reader.
    """
    for char in _LINE_SEPARATORS:
        if char in json_text:
            json_text = json_text.replace(char, f"\\u{ord(char):04x}")
    return json_text
