"""What every command shares: consoles, exit codes, store access, JSON output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, NoReturn

import typer
from rich.console import Console

from mentatlab.store import SqlRunStore, StoreError, open_store

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_USAGE",
    "OutputFormat",
    "console",
    "err_console",
    "fail",
    "print_json",
    "store_session",
]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err_console.print(f"mentatctl: {message}", markup=False)
    raise typer.Exit(code)


def print_json(value: Any) -> None:
    # Plain print: Rich would wrap long lines and break the JSON for programs reading it.
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


@contextmanager
def store_session() -> Iterator[SqlRunStore]:
    """The local run store under ``$MENTATLAB_HOME`` (default ``~/.mentatlab``)."""
    try:
        store = open_store()
    except (StoreError, OSError) as exc:
        fail(f"cannot open the run store: {exc}", EXIT_FAILED)
    with store:
        yield store
