"""What every command shares: consoles, exit codes, store access, JSON output."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from mentatlab.store import (
    InvalidStoreUrlError,
    SqlRunStore,
    StoreError,
    StoreUnavailableError,
    open_store,
    parse_store_url,
)

__all__ = [
    "DB_ENV",
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_USAGE",
    "DbOption",
    "OutputFormat",
    "cli_store_url",
    "console",
    "err_console",
    "fail",
    "open_cli_store",
    "print_json",
    "store_session",
]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3

DB_ENV = "MENTATLAB_DB"
"""The run store URL every command opens when no ``--db`` is given."""

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar=DB_ENV,
        metavar="URL",
        help="run store URL: postgresql+psycopg://USER:PASSWORD@HOST/DB or sqlite:///PATH "
        "(default: the SQLite store in $MENTATLAB_HOME)",
    ),
]
"""The ``--db URL`` option (``MENTATLAB_DB``): pass its value to :func:`open_cli_store`."""


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    # soft_wrap: one line however narrow the terminal, so the message stays greppable.
    err_console.print(f"mentatctl: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(value: Any) -> None:
    # Plain print: Rich would wrap long lines and break the JSON for programs reading it.
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def cli_store_url(db: str | None, *, home: Path | None = None) -> str | None:
    """The URL of the store a command works on, checked; ``None`` for the SQLite store.

    ``db`` (a ``--db`` URL), else ``$MENTATLAB_DB``; ``None`` when neither is set (or both
    are empty). Exits 2 (usage) with a one-line message for a malformed or unsupported URL,
    or for a URL and ``home`` (``--home``) together.
    """
    url = db or os.environ.get(DB_ENV) or None
    if url is None:
        return None
    if home is not None:
        fail(f"--home and --db ({DB_ENV}) name two different run stores: give one")
    try:
        parse_store_url(url)
    except InvalidStoreUrlError as exc:
        fail(f"invalid run store URL (--db or {DB_ENV}): {exc}", EXIT_USAGE)
    return url


def open_cli_store(db: str | None = None, *, home: Path | None = None) -> SqlRunStore:
    """Open the store a command works on; on failure, exit with a one-line message.

    The store is ``db`` (a ``--db`` URL), else ``$MENTATLAB_DB``, else the SQLite store in
    ``home`` (``--home``), else in ``$MENTATLAB_HOME``. A bad URL exits 2 (see
    :func:`cli_store_url`); a database that cannot be opened exits 1.
    """
    url = cli_store_url(db, home=home)
    try:
        return open_store(home, url=url)
    except StoreUnavailableError as exc:
        fail(str(exc), EXIT_FAILED)
    except (StoreError, OSError) as exc:
        fail(f"cannot open the run store: {exc}", EXIT_FAILED)


@contextmanager
def store_session(url: str | None = None, *, home: Path | None = None) -> Iterator[SqlRunStore]:
    """:func:`open_cli_store`, closed at the end of the ``with`` block."""
    with open_cli_store(url, home=home) as store:
        yield store
