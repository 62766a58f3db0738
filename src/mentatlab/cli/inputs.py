"""Run inputs given on the command line (``-i NODE.PIN=VALUE``, ``--input-file``) and findings."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.console import Console

from mentatlab.cli.common import err_console, fail
from mentatlab.validation import Finding
from mentatlab.validation.loading import read_document

__all__ = ["parse_input_options", "print_findings", "read_input_file"]


def print_findings(findings: Iterable[Finding], *, to: Console = err_console) -> None:
    for finding in findings:
        style = "red" if finding.severity == "error" else "yellow"
        to.print(str(finding), style=style, markup=False)


def parse_input_options(values: list[str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        node, dot, pin = key.partition(".")
        if not sep or not dot or not node or not pin:
            fail(f"--input {value!r}: expected NODE.PIN=VALUE")
        parsed[key] = text
    return parsed


def read_input_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        fail(f"--input-file {path}: no such file")
    document, findings = read_document(path)
    if document is None:
        fail("; ".join(str(f) for f in findings))
    data = document.data
    if not all(isinstance(key, str) and "." in key for key in data):
        fail(
            f"--input-file {path}: expected a mapping of NODE.PIN to values, "
            f"got keys {json.dumps(list(data))[:200]}"
        )
    return dict(data)
