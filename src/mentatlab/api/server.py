"""Running the application on uvicorn, with a shutdown that leaves no run ``running``.

On SIGTERM or SIGINT uvicorn stops accepting connections and waits for open responses
before the application's lifespan ends. Event streams of the server's own runs end only
when those runs do, so the pool starts cancelling them at the signal itself: every stream
then receives its run's final ``cancelled`` events and ends, and the lifespan waits for the
last run to be recorded as finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import FrameType

import uvicorn

from mentatlab.api.app import create_app
from mentatlab.api.settings import Settings
from mentatlab.api.state import ServerState

__all__ = ["GRACEFUL_SHUTDOWN_SECONDS", "serve"]

GRACEFUL_SHUTDOWN_SECONDS = 30
"""How long open responses may take to finish once a shutdown began."""


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # A signal handler runs between two steps of the event loop: hand over to the loop.
        asyncio.get_running_loop().call_soon_threadsafe(self._on_exit)


def serve(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT (uvicorn then re-raises it, so the process ends by it)."""
    app = create_app(settings)
    server: ServerState = app.state.mentatlab
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        # The engine is tested on the standard event loop (subprocesses, PR_SET_PDEATHSIG).
        loop="asyncio",
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        log_level="info",
    )
    _Server(config, on_exit=server.pool.begin_shutdown).run()
