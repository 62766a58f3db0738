"""Which ``mentatctl`` process owns a run, and whether that process is still alive."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import psutil

__all__ = ["RunOwner"]

# psutil derives create_time from boot time, which can jitter by up to a second on some hosts.
_CREATE_TIME_TOLERANCE = 1.0


@dataclass(frozen=True, kw_only=True)
class RunOwner:
    """The process executing a run; ``create_time`` tells a reused pid from the original."""

    host: str
    pid: int
    create_time: float

    @classmethod
    def current(cls) -> RunOwner:
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            create_time=psutil.Process().create_time(),
        )

    @classmethod
    def kubernetes(cls, namespace: str, name: str) -> RunOwner:
        """A run executed for the FlowRun ``namespace/name``: the operator resumes it after a
        restart, so local crash recovery (which fails runs of dead processes) leaves it alone.
        """
        return cls(host=f"kubernetes:{namespace}/{name}", pid=0, create_time=0.0)

    def is_local(self) -> bool:
        return self.host == socket.gethostname()

    def is_alive(self) -> bool:
        """Whether the owner still runs. Only meaningful when :meth:`is_local` is true."""
        try:
            process = psutil.Process(self.pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                return False
            return abs(process.create_time() - self.create_time) < _CREATE_TIME_TOLERANCE
        except psutil.NoSuchProcess:
            return False
        except psutil.AccessDenied:
            # Another user's process holds the pid; without proof it died, leave its runs alone.
            return True
