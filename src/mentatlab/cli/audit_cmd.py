"""``mentatctl audit``: read and verify the hash-chained audit log."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from mentatlab.cli.admin import admin_session
from mentatlab.cli.common import EXIT_FAILED, DbOption, OutputFormat, console, fail, print_json
from mentatlab.cli.remote import ApiKeyOption, ServerOption
from mentatlab.store import StoreError

__all__ = ["app"]

app = typer.Typer(help="Read and verify the audit log.", no_args_is_help=True)

Output = Annotated[OutputFormat, typer.Option(help="text or json")]


@app.command("list")
def list_entries(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="at most this many")] = 50,
    output: Output = OutputFormat.TEXT,
    db: DbOption = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """List audit entries, newest first."""
    with admin_session(db, server=server, api_key=api_key) as admin:
        try:
            entries = admin.audit_entries(limit=limit)
        except StoreError as exc:
            fail(str(exc), EXIT_FAILED)
    if output is OutputFormat.JSON:
        print_json([entry.to_json() for entry in entries])
        return
    if not entries:
        console.print("the audit log is empty")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("seq", "time", "actor", "action", "resource", "outcome", "request", "client"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(
            str(entry.seq),
            entry.ts.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            entry.actor,
            entry.action,
            entry.resource,
            entry.outcome,
            entry.request_id or "",
            entry.client or "",
        )
    console.print(table, markup=False)


@app.command("verify")
def verify(
    output: Output = OutputFormat.TEXT,
    db: DbOption = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Check the audit log's hash chain.

    Exit 0 when it is intact, 1 naming the first bad entry when it is broken.
    """
    with admin_session(db, server=server, api_key=api_key) as admin:
        result = admin.verify_audit()
    bad = result.first_bad
    if output is OutputFormat.JSON:
        print_json(
            {
                "intact": result.intact,
                "entries": result.entries,
                "last_hash": result.last_hash,
                "first_bad": None if bad is None else {"seq": bad.seq, "reason": bad.reason},
            }
        )
        if bad is not None:
            raise typer.Exit(EXIT_FAILED)
        return
    if bad is not None:
        fail(
            f"audit chain broken at entry {bad.seq}: {bad.reason} "
            f"({result.entries} entries before it are intact)",
            EXIT_FAILED,
        )
    console.print(f"chain intact ({result.entries} entries)", markup=False)
    console.print(f"last hash {result.last_hash}", markup=False)
