"""``--db URL`` / ``MENTATLAB_DB``: the CLI on a PostgreSQL store, and bad URLs.

The PostgreSQL server and a new, empty schema per test come from tests/pg_fixtures.py, as for
the store tests.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_harness import Cli
from sqlalchemy import URL

from mentatlab.store import ApiKeys, open_store


@pytest.fixture
def pg_url(postgres_schema: URL) -> str:
    """A new, empty schema's URL (tests/pg_fixtures.py), as a ``--db`` argument."""
    return postgres_schema.render_as_string(hide_password=False)


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_run_and_runs_commands_on_postgresql(
    cli: Cli, pg_url: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = cli("run", "examples/hello.flow.yaml", "--output", "json", "--db", pg_url)
    record = _json(ran)
    assert record["status"] == "succeeded"
    run_id = record["id"]

    listing = _json(cli("runs", "list", "--output", "json", "--db", pg_url))
    assert [run["id"] for run in listing] == [run_id]
    got = _json(cli("runs", "get", run_id, "--output", "json", "--db", pg_url))
    assert got == record
    logs = cli("runs", "logs", run_id, "--output", "json", "--db", pg_url)
    assert logs.returncode == 0, logs.stderr
    assert json.loads(logs.stdout.splitlines()[-1])["data"]["status"] == "succeeded"
    with open_store(url=pg_url) as store:
        assert store.get_run(run_id).status == "succeeded"

    # The SQLite store in MENTATLAB_HOME was not touched; MENTATLAB_DB does what --db does.
    assert _json(cli("runs", "list", "--output", "json")) == []
    monkeypatch.setenv("MENTATLAB_DB", pg_url)
    assert [r["id"] for r in _json(cli("runs", "list", "--output", "json"))] == [run_id]
    cancel = cli("runs", "cancel", run_id)
    assert cancel.returncode == 1
    assert "already finished (succeeded)" in cancel.stderr
    # --db wins over MENTATLAB_DB.
    local = f"sqlite:///{home / 'store.db'}"
    assert _json(cli("runs", "list", "--output", "json", "--db", local)) == []


def test_apikey_and_audit_commands_on_postgresql(cli: Cli, pg_url: str) -> None:
    created = cli("apikey", "create", "--name", "ci", "--scopes", "read", "--db", pg_url)
    assert created.returncode == 0, created.stderr
    with open_store(url=pg_url) as store:
        assert ApiKeys(store).authenticate(created.stdout.strip()) is not None
    keys = _json(cli("apikey", "list", "--output", "json", "--db", pg_url))
    assert [key["name"] for key in keys] == ["ci"]
    again = cli("apikey", "create", "--name", "ci", "--scopes", "read", "--db", pg_url)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    entries = _json(cli("audit", "list", "--output", "json", "--db", pg_url))
    assert [e["outcome"] for e in entries] == ["failure", "success"]
    verified = cli("audit", "verify", "--db", pg_url)
    assert verified.returncode == 0, verified.stderr
    assert "chain intact (2 entries)" in verified.stdout


BAD_URLS = [
    "mysql://user:secret@localhost/runs",
    "postgresql+psycopg2://user:secret@localhost/runs",
    "sqlite://",
    "not a url",
]
STORE_COMMANDS = [
    ("runs", "get", "r1"),
    ("runs", "logs", "r1"),
    ("runs", "cancel", "r1"),
    ("apikey", "list"),
    ("apikey", "create", "--name", "x", "--scopes", "read"),
    ("apikey", "revoke", "x"),
    ("audit", "list"),
    ("audit", "verify"),
    ("run", "examples/hello.flow.yaml"),
    ("operator", "run"),
]


def _assert_bad_url(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("mentatctl: invalid run store URL (--db or MENTATLAB_DB)")
    assert result.stderr.count("\n") == 1, result.stderr
    assert "secret" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_bad_url_is_a_one_line_usage_error(
    cli: Cli, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _assert_bad_url(cli("runs", "list", "--db", url))
    monkeypatch.setenv("MENTATLAB_DB", url)
    _assert_bad_url(cli("runs", "list"))


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=" ".join)
def test_every_command_on_the_store_takes_db(cli: Cli, command: tuple[str, ...]) -> None:
    _assert_bad_url(cli(*command, "--db", BAD_URLS[0]))


def test_an_unreachable_database_is_a_one_line_error_without_the_password(cli: Cli) -> None:
    result = cli("runs", "list", "--db", "postgresql+psycopg://someone:s3cret@127.0.0.1:1/runs")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "mentatctl: cannot open the run store at postgresql+psycopg://someone:***@127.0.0.1:1/runs:"
    )
    assert result.stderr.count("\n") == 1, result.stderr
    assert "s3cret" not in result.stderr


def test_operator_takes_a_home_or_a_database(cli: Cli, tmp_path: Path) -> None:
    result = cli("operator", "run", "--home", str(tmp_path), "--db", "sqlite:///x.db")
    assert result.returncode == 2
    assert "--home and --db (MENTATLAB_DB) name two different run stores" in result.stderr
