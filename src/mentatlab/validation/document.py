"""A parsed document: plain JSON-compatible data plus the line of every JSON path in it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ROOT", "Document", "child_path", "parent_path"]

ROOT = "$"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_LAST_SEGMENT = re.compile(r"(\.[A-Za-z_][A-Za-z0-9_-]*|\[(\d+|\"(?:[^\"\\]|\\.)*\")\])$")


def child_path(parent: str, key: str | int) -> str:
    """``$.a`` + ``b`` -> ``$.a.b``; integers index; keys that are not identifiers are quoted."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if _IDENTIFIER.fullmatch(key):
        return f"{parent}.{key}"
    return f"{parent}[{json.dumps(key)}]"


def parent_path(path: str) -> str | None:
    match = _LAST_SEGMENT.search(path)
    return path[: match.start()] if match else None


@dataclass(frozen=True)
class Document:
    """One manifest or flow as read from ``file``.

    ``lines`` maps JSON paths to 1-based lines: for a mapping entry the line of its key, for a
    sequence item the line where the item starts.
    """

    file: str
    data: dict[str, Any]
    lines: Mapping[str, int] = field(default_factory=dict)
    text: str | None = None
    # The Cog-Pak directory the manifest was read from, if it was read from a file.
    directory: Path | None = None

    def line_of(self, path: str) -> int | None:
        """The line of ``path``, or of its closest ancestor that has one (missing keys)."""
        current: str | None = path
        while current is not None:
            if current in self.lines:
                return self.lines[current]
            current = parent_path(current)
        return None
