"""Thread-safe writer of protocol events: one compact JSON object per line, flushed."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from mentatlab.model.protocol_base import escape_line_separators

__all__ = ["EventWriter", "encode_json"]


def encode_json(value: Any) -> str:
    """Compact JSON as the protocol expects it; raises ``ValueError``/``TypeError`` otherwise.

    ``allow_nan=False`` because NaN and Infinity are not JSON and the engine would reject the line.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return escape_line_separators(text)


class EventWriter:
    """Writes events to the event stream (the process's original stdout).

    Encoding happens outside the lock; writing and flushing inside it, so lines from the
    handler and the heartbeat thread never interleave.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._broken = False
        self._main = threading.main_thread()
        self._main_writing = False
        self.after_main_write: Callable[[], None] | None = None
        """Called after a write by the main thread; the SIGTERM handler defers to it."""

    @property
    def main_writing(self) -> bool:
        """Whether the main thread is inside a write (a signal handler must not raise now)."""
        return self._main_writing

    def emit(self, event_type: str, **fields: Any) -> None:
        line = (encode_json({"type": event_type, **fields}) + "\n").encode("utf-8")
        in_main = threading.current_thread() is self._main
        with self._lock:
            if in_main:
                self._main_writing = True
            try:
                if not self._broken:
                    self._stream.write(line)
                    self._stream.flush()
            except BrokenPipeError:
                # The reader is gone; nobody can see further events, so stop writing them.
                self._broken = True
            finally:
                if in_main:
                    self._main_writing = False
        if in_main and self.after_main_write is not None:
            self.after_main_write()
