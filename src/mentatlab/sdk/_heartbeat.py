"""A daemon thread that emits ``heartbeat`` events while long work runs."""

from __future__ import annotations

import threading
from types import TracebackType

from mentatlab.sdk._writer import EventWriter

__all__ = ["Heartbeat"]


class Heartbeat:
    """Emit a heartbeat every ``interval`` seconds between ``start()`` and ``stop()``."""

    def __init__(self, writer: EventWriter, interval: float) -> None:
        if not interval > 0:
            raise ValueError(f"heartbeat interval must be positive, got {interval!r}")
        self._writer = writer
        self._interval = interval
        self._stopped = threading.Event()
        # Daemon: a heartbeat must never keep a finished or cancelled agent alive.
        self._thread = threading.Thread(target=self._beat, name="mentat-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self._stopped.wait(self._interval):
            self._writer.emit("heartbeat")

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
