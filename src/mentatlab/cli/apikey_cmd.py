"""``mentatctl apikey``: create, list, revoke and generate API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, NoReturn

import typer
from rich.table import Table

from mentatlab.cli.admin import admin_session
from mentatlab.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    DbOption,
    OutputFormat,
    console,
    err_console,
    fail,
    print_json,
)
from mentatlab.cli.remote import ApiKeyOption, ServerOption
from mentatlab.store import (
    ApiKey,
    ApiKeyError,
    InvalidApiKeyError,
    generate_key,
    parse_scopes,
)

__all__ = ["app"]

app = typer.Typer(
    help="Manage API keys (scopes: read, write = read + changes, admin = write + keys, audit).",
    no_args_is_help=True,
)

Output = Annotated[OutputFormat, typer.Option(help="text or json")]

_NOT_SHOWN_AGAIN = "Store the key now: it is not shown again (only its hash is kept)."


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="unique name, e.g. ci or alice-laptop")],
    scopes: Annotated[str, typer.Option(help="comma-separated: read, write, admin")],
    output: Output = OutputFormat.TEXT,
    db: DbOption = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Create a key and print it once.

    The key is printed alone on stdout, so scripts can capture it; notes go to stderr.
    """
    try:
        chosen = parse_scopes(scopes)
    except InvalidApiKeyError as exc:
        fail(str(exc), EXIT_USAGE)
    with admin_session(db, server=server, api_key=api_key) as admin:
        try:
            record, key = admin.create_key(name, chosen)
        except ApiKeyError as exc:
            _fail(exc)
    if output is OutputFormat.JSON:
        print_json(record.to_json() | {"key": key})
    else:
        print(key)
        err_console.print(
            f"created API key {record.name!r} (id {record.id}, scopes {_scopes(record)})",
            markup=False,
        )
    err_console.print(_NOT_SHOWN_AGAIN, markup=False)


@app.command("list")
def list_keys(
    output: Output = OutputFormat.TEXT,
    db: DbOption = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """List keys, oldest first.

    Shows ids, names, scopes and status; never the keys or their hashes.
    """
    with admin_session(db, server=server, api_key=api_key) as admin:
        records = admin.list_keys()
    if output is OutputFormat.JSON:
        print_json([record.to_json() for record in records])
        return
    if not records:
        console.print("no API keys")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("id", "name", "scopes", "created", "status"):
        table.add_column(column)
    for record in records:
        status = f"revoked {_local_time(record.revoked_at)}" if record.revoked_at else "active"
        table.add_row(
            record.id, record.name, _scopes(record), _local_time(record.created_at), status
        )
    console.print(table)


@app.command("revoke")
def revoke(
    name_or_id: Annotated[str, typer.Argument(help="the key's name or id")],
    db: DbOption = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Revoke a key by name or id.

    It stops authenticating at once; its name stays taken.
    """
    with admin_session(db, server=server, api_key=api_key) as admin:
        try:
            record, changed = admin.revoke_key(name_or_id)
        except ApiKeyError as exc:
            _fail(exc)
    if changed:
        console.print(f"revoked API key {record.name!r} (id {record.id})", markup=False)
    else:
        console.print(f"API key {record.name!r} (id {record.id}) was already revoked", markup=False)


@app.command("generate")
def generate() -> None:
    """Print a new key without storing it.

    Use it as MENTATLAB_ADMIN_KEY: a server stores its hash as the key 'admin' on start.
    """
    print(generate_key())


def _fail(exc: ApiKeyError) -> NoReturn:
    fail(str(exc), EXIT_USAGE if isinstance(exc, InvalidApiKeyError) else EXIT_FAILED)


def _scopes(record: ApiKey) -> str:
    return ",".join(record.to_json()["scopes"])


def _local_time(value: datetime) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
