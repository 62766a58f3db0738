"""``mentatctl serve``: the MentatLab HTTP server on this machine's engine and run store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mentatlab.cli.common import fail, store_session
from mentatlab.store import key_id_of

__all__ = ["ADMIN_KEY_ENV", "serve"]

ADMIN_KEY_ENV = "MENTATLAB_ADMIN_KEY"


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port to listen on")] = 8000,
    db: Annotated[
        str | None,
        typer.Option(
            help="run store URL (sqlite:///PATH or postgresql+psycopg://…); "
            "default: $MENTATLAB_HOME/store.db"
        ),
    ] = None,
    agents: Annotated[
        list[Path] | None,
        typer.Option("--agents", help="directory of Cog-Paks for submitted flows (repeatable)"),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="runs executing at once")] = 4,
    max_body_bytes: Annotated[
        int | None, typer.Option(min=1, help="largest request body accepted (default 1 MiB)")
    ] = None,
    heartbeat_seconds: Annotated[
        float, typer.Option(min=0.1, help="idle time before an event stream sends a ping")
    ] = 15.0,
    metrics_open: Annotated[
        bool, typer.Option("--metrics-open", help="serve /metrics without an API key")
    ] = False,
) -> None:
    """Serve the HTTP API until SIGTERM or Ctrl-C (runs in flight end cancelled).

    MENTATLAB_ADMIN_KEY (from mentatctl apikey generate) registers an admin key at start.
    """
    # Lazy: FastAPI and uvicorn take a second or two to import, other commands need neither.
    from mentatlab.api import Settings
    from mentatlab.api.server import serve as run_server

    admin_key = os.environ.get(ADMIN_KEY_ENV) or None
    if admin_key is not None and key_id_of(admin_key) is None:
        fail(f"{ADMIN_KEY_ENV} is not an API key; make one with: mentatctl apikey generate")
    with store_session(db) as store:
        run_server(
            Settings(
                store=store,
                host=host,
                port=port,
                **({} if max_body_bytes is None else {"max_body_bytes": max_body_bytes}),
                workers=workers,
                metrics_open=metrics_open,
                heartbeat_seconds=heartbeat_seconds,
                agent_dirs=tuple(path.resolve() for path in agents or ()),
                admin_key=admin_key,
            )
        )
