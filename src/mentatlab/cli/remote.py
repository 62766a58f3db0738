"""Acting on a server (``--server URL``) instead of the local store, through mentatlab.client.

Every server error (a problem document) becomes one line on stderr and an exit code, as
local errors do: 1, or 2 when the server says the request itself was malformed. A server
that cannot be reached is one line too, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Annotated

import httpx
import typer
from pydantic import ValidationError

from mentatlab.cli.common import EXIT_FAILED, EXIT_USAGE, console, fail
from mentatlab.client import API_KEY_ENV, SERVER_ENV, ApiError, Client
from mentatlab.model.run import TERMINAL_RUN_STATUSES, RunEvent, RunRecord

__all__ = [
    "ApiKeyOption",
    "ServerOption",
    "follow_run",
    "remote_session",
    "server_errors",
    "single_target",
]

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar=SERVER_ENV,
        metavar="URL",
        help="act on this MentatLab server (mentatctl serve) instead of the local run store",
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar=API_KEY_ENV,
        metavar="KEY",
        help="API key for --server (better given as MENTATLAB_API_KEY: argv is visible to ps)",
    ),
]

_USAGE_STATUSES = frozenset({400, 422})
"""Statuses meaning the request was malformed: exit 2, as local usage errors do."""


def single_target(server: str | None, db: str | None) -> None:
    """Exit 2 when a command is given both a server and a local store to act on."""
    if server and db:
        fail("--server and --db name two different places to act on: give one", EXIT_USAGE)


@contextmanager
def server_errors(
    server: str, *, usage_statuses: Collection[int] = _USAGE_STATUSES
) -> Iterator[None]:
    """Turn the client's errors inside the block into one line and an exit code."""
    try:
        yield
    except ApiError as exc:
        problem = exc.problem
        code = EXIT_USAGE if problem.status in usage_statuses else EXIT_FAILED
        fail(f"server: {problem.detail} ({problem.status} {problem.title})", code)
    except ValidationError as exc:
        # The client checks a request's body before sending it (e.g. a key's name).
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        fail(f"invalid {where}: {error['msg']}", EXIT_USAGE)
    except httpx.ConnectError:
        fail(f"cannot connect to the server at {server}: is mentatctl serve running there?", 1)
    except httpx.TimeoutException:
        fail(f"the server at {server} did not answer in time", EXIT_FAILED)
    except httpx.UnsupportedProtocol:
        fail(f"--server {server!r}: expected an http:// or https:// URL", EXIT_USAGE)
    except (httpx.HTTPError, ConnectionError) as exc:
        # ConnectionError: the event stream kept breaking off (see ReconnectPolicy).
        fail(f"talking to the server at {server} failed: {exc}", EXIT_FAILED)


@contextmanager
def remote_session(
    server: str, api_key: str | None, *, usage_statuses: Collection[int] = _USAGE_STATUSES
) -> Iterator[Client]:
    """A client of ``server``; its errors in the block exit as :func:`server_errors` says."""
    with server_errors(server, usage_statuses=usage_statuses), Client(server, api_key=api_key) as c:
        yield c


def follow_run(
    client: Client,
    run_id: str,
    on_event: Callable[[RunEvent], None],
    *,
    after: int = 0,
    cancel_on_interrupt: bool,
) -> RunRecord:
    """Feed the run's events after ``after`` to ``on_event`` until its final one; the final
    record. Ctrl-C cancels the run on the server (as it does a local run) and keeps
    following it to its end when ``cancel_on_interrupt``, else stops with exit 130."""
    cancelling = False
    while True:
        try:
            for event in client.follow_events(run_id, last_event_id=after):
                after = event.seq
                on_event(event)
            return client.get_run(run_id)
        except KeyboardInterrupt:
            if not cancel_on_interrupt or cancelling:
                raise typer.Exit(130) from None
            cancelling = True
            record = client.get_run(run_id)
            if record.status not in TERMINAL_RUN_STATUSES:
                client.cancel_run(run_id)
                console.print(f"cancel requested for run {run_id}")
