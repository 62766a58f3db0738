"""``mentatctl runs``: inspect, watch and cancel runs in the run store (local, or ``--db URL``)
or on a server (``--server URL``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from typing import Annotated

import typer
from rich.table import Table

from mentatlab.cli.common import (
    EXIT_FAILED,
    DbOption,
    OutputFormat,
    console,
    fail,
    print_json,
    store_session,
)
from mentatlab.cli.remote import (
    ApiKeyOption,
    ServerOption,
    follow_run,
    remote_session,
    single_target,
)
from mentatlab.cli.view import RunView, render_outputs
from mentatlab.model.run import TERMINAL_RUN_STATUSES, EventType, RunEvent, RunRecord, RunStatus
from mentatlab.store import RunNotFoundError, SqlRunStore

__all__ = ["app"]

app = typer.Typer(
    help="Inspect, watch and cancel runs in the run store or on a server.", no_args_is_help=True
)

RunId = Annotated[str, typer.Argument(help="run id, as printed by mentatctl run")]
Output = Annotated[OutputFormat, typer.Option(help="text or json")]


def _get(store: SqlRunStore, run_id: str) -> RunRecord:
    try:
        return store.get_run(run_id)
    except RunNotFoundError:
        fail(f"no run {run_id!r} in the run store", EXIT_FAILED)


@app.command("list")
def list_runs(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many runs")] = 20,
    status: Annotated[RunStatus | None, typer.Option(help="only runs with this status")] = None,
    output: Output = OutputFormat.TEXT,
    db: DbOption = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """List runs, newest first."""
    single_target(server, db)
    if server:
        with remote_session(server, api_key) as client:
            records = list(islice(client.list_runs(status=status, page_size=limit), limit))
    else:
        with store_session(db) as store:
            records = store.list_runs(limit=limit, status=status)
    if output is OutputFormat.JSON:
        print_json([_summary(record) for record in records])
        return
    table = Table(box=None, pad_edge=False)
    for column in ("id", "status", "flow", "created", "duration", "nodes"):
        table.add_column(column)
    for record in records:
        done = sum(1 for node in record.nodes.values() if node.status == "succeeded")
        table.add_row(
            record.id,
            record.status.value,
            record.flow_id or "",
            record.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            _duration(record),
            f"{done}/{len(record.nodes)}",
        )
    console.print(table)


@app.command("get")
def get_run(
    run_id: RunId,
    output: Output = OutputFormat.TEXT,
    db: DbOption = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Show a run: status, each node, outputs and errors."""
    single_target(server, db)
    if server:
        with remote_session(server, api_key) as client:
            record = client.get_run(run_id)
    else:
        with store_session(db) as store:
            record = _get(store, run_id)
    if output is OutputFormat.JSON:
        print_json(record.model_dump(mode="json"))
        return
    console.print(
        f"run {record.id}  {record.status.value}  flow {record.flow_id}  {_duration(record)}",
        markup=False,
    )
    if record.error is not None:
        console.print(f"error: {record.error.message}", style="red", markup=False)
    table = Table(box=None, pad_edge=False)
    for column in ("node", "status", "attempts", "error"):
        table.add_column(column, overflow="fold")
    for node_id, node in record.nodes.items():
        table.add_row(
            node_id, node.status.value, str(node.attempts), node.error.message if node.error else ""
        )
    console.print(table)
    for node_id, outputs in record.outputs.items():
        for pin, value in outputs.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            console.print(f"{node_id}.{pin} = {text}", markup=False)


@app.command("logs")
def logs(
    run_id: RunId,
    after: Annotated[int, typer.Option(min=0, help="only events after this sequence number")] = 0,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="wait for new events")] = False,
    output: Output = OutputFormat.TEXT,
    db: DbOption = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Print a run's event log (every event has a sequence number)."""
    single_target(server, db)

    def show(event: RunEvent) -> None:
        if output is OutputFormat.JSON:
            print(json.dumps(event.model_dump(mode="json"), ensure_ascii=False))
        else:
            console.print(_event_line(event), markup=False)

    if server:
        with remote_session(server, api_key) as client:
            if follow:
                follow_run(client, run_id, show, after=after, cancel_on_interrupt=False)
            else:
                for event in client.follow_events(run_id, last_event_id=after, live=False):
                    show(event)
        return
    with store_session(db) as store:
        _get(store, run_id)
        for event in _tail(store, run_id, after=after, follow=follow):
            show(event)


@app.command("watch")
def watch(
    run_id: RunId,
    after: Annotated[int, typer.Option(min=0, help="only events after this sequence number")] = 0,
    output: Annotated[
        OutputFormat, typer.Option(help="text (live view) or json (one event per line)")
    ] = OutputFormat.TEXT,
    db: DbOption = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Show a run live as it happens, as mentatctl run does, until it ends.

    Exit 0 if the run succeeded, 1 otherwise; Ctrl-C stops watching (the run goes on).
    """
    single_target(server, db)
    quiet = output is OutputFormat.JSON

    def show(event: RunEvent) -> None:
        print(json.dumps(event.model_dump(mode="json"), ensure_ascii=False), flush=True)

    if server:
        with remote_session(server, api_key) as client:
            view = _watch_view(client.get_run(run_id), quiet)
            with view:
                record = follow_run(
                    client,
                    run_id,
                    show if quiet else view.on_event,
                    after=after,
                    cancel_on_interrupt=False,
                )
    else:
        with store_session(db) as store:
            view = _watch_view(_get(store, run_id), quiet)
            try:
                with view:
                    for event in _tail(store, run_id, after=after, follow=True):
                        (show if quiet else view.on_event)(event)
            except KeyboardInterrupt:
                raise typer.Exit(130) from None
            record = store.get_run(run_id)
    if not quiet:
        render_outputs(console, record)
    if record.status is not RunStatus.SUCCEEDED:
        raise typer.Exit(EXIT_FAILED)


@app.command("cancel")
def cancel(
    run_id: RunId,
    db: DbOption = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Ask the process running a run to cancel it."""
    single_target(server, db)
    if server:
        with remote_session(server, api_key) as client:
            # The server answers 409 for a finished run: the same one-line failure as here.
            client.cancel_run(run_id)
    else:
        with store_session(db) as store:
            record = _get(store, run_id)
            if not store.request_cancel(run_id):
                fail(f"run {run_id} already finished ({record.status.value})", EXIT_FAILED)
    console.print(f"cancel requested for run {run_id}")


def _tail(store: SqlRunStore, run_id: str, *, after: int, follow: bool) -> Iterator[RunEvent]:
    """The run's stored events after ``after``; with ``follow``, new ones too, to the end."""
    while True:
        finished = store.get_run(run_id).status in TERMINAL_RUN_STATUSES
        for event in store.read_events(run_id, after_seq=after):
            after = event.seq
            yield event
        if not follow or finished:  # the final status is the last event of a run
            return
        time.sleep(0.2)


def _watch_view(record: RunRecord, quiet: bool) -> RunView:
    # Not live when quiet: the view then only brackets the JSON lines, drawing nothing.
    return RunView(console, list(record.nodes), live=not quiet and console.is_terminal)


def _event_line(event: RunEvent) -> str:
    when = event.ts.astimezone().strftime("%H:%M:%S.%f")[:-3]
    where = f" {event.node}" + (f"#{event.attempt}" if event.attempt else "") if event.node else ""
    data = event.data
    match event.type:
        case EventType.LOG:
            body = f"{data.get('level', 'info')}: {data.get('message', '')}"
            if "values" in data:
                body += " " + json.dumps(data["values"], ensure_ascii=False)
        case EventType.RUN_STATUS | EventType.NODE_STATUS:
            body = str(data.get("status"))
            if isinstance(data.get("error"), dict):
                body += f": {data['error'].get('message')}"
        case EventType.PROGRESS:
            body = f"{data.get('percent')}% {data.get('message') or ''}".rstrip()
        case _:
            body = json.dumps(data, ensure_ascii=False)
    return f"{event.seq:>5} {when} {event.type.value}{where} {body}"


def _duration(record: RunRecord) -> str:
    if record.started_at is None:
        return ""
    end = record.finished_at or datetime.now(record.started_at.tzinfo)
    return f"{(end - record.started_at).total_seconds():.1f}s"


def _summary(record: RunRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "status": record.status.value,
        "flow_id": record.flow_id,
        "created_at": record.created_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
    }
