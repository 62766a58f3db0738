"""Keeping stdout for events: the original stdout is moved aside, ``print()`` becomes logs."""

from __future__ import annotations

import io
import os
import sys
import threading
from typing import BinaryIO

from mentatlab.sdk._writer import EventWriter

__all__ = ["PrintToLog", "claim_stdout"]


def claim_stdout() -> BinaryIO:
    """Take the process's stdout for events and point file descriptor 1 at stderr.

    Anything else that writes to descriptor 1 (C extensions, child processes, ``os.write``)
    then lands on stderr instead of corrupting the event stream.
    """
    sys.stdout.flush()
    events_fd = os.dup(1)  # non-inheritable: child processes never see the event stream
    os.dup2(2, 1)
    return os.fdopen(events_fd, "wb")  # open until the process exits


class PrintToLog(io.TextIOBase):
    """A ``sys.stdout`` replacement turning each printed line into an ``info`` log event."""

    def __init__(self, writer: EventWriter) -> None:
        super().__init__()
        self._writer = writer
        self._pending = ""
        self._lock = threading.Lock()

    def fileno(self) -> int:
        # Descriptor 1 now points at stderr: subprocess(stdout=sys.stdout) output goes there.
        return 1

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._writer.emit("log", level="info", message=line)
        return len(text)

    def close(self) -> None:
        """Emit a last, unterminated line, if any."""
        with self._lock:
            rest, self._pending = self._pending, ""
        if rest:
            self._writer.emit("log", level="info", message=rest)
        super().close()
