"""``mentatctl apikey`` and ``mentatctl audit`` on the local store, through the real CLI."""

from __future__ import annotations

import getpass
import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

from cli_harness import Cli

from mentatlab.store import ApiKeys, Scope, open_store

KEY = re.compile(r"mlk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def _audit(cli: Cli) -> list[dict[str, object]]:
    listing = cli("audit", "list", "--output", "json")
    assert listing.returncode == 0, listing.stderr
    entries: list[dict[str, object]] = json.loads(listing.stdout)
    return entries


def _tamper(home: Path, sql: str) -> None:
    with closing(sqlite3.connect(home / "store.db")) as conn:
        conn.execute(sql)
        conn.commit()


def test_create_list_revoke_and_the_audit_trail(cli: Cli, home: Path) -> None:
    created = cli("apikey", "create", "--name", "ci", "--scopes", "read,write")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert KEY.fullmatch(key), created.stdout  # the key alone, for KEY=$(mentatctl ...)
    assert "created API key 'ci'" in created.stderr
    assert "not shown again" in created.stderr
    with open_store(home) as store:
        record = ApiKeys(store).authenticate(key)
    assert record is not None
    assert record.scopes == {Scope.READ, Scope.WRITE}
    for path in home.glob("store.db*"):
        assert key[16:].encode() not in path.read_bytes()

    as_json = cli("apikey", "create", "--name", "deploy", "--scopes", "admin", "--output", "json")
    assert as_json.returncode == 0, as_json.stderr
    deploy = json.loads(as_json.stdout)
    assert KEY.fullmatch(deploy["key"])
    assert deploy["name"] == "deploy"
    assert deploy["scopes"] == ["admin"]
    assert "not shown again" in as_json.stderr

    listing = cli("apikey", "list")
    assert listing.returncode == 0
    assert re.search(rf"{record.id}\s+ci\s+read,write\s+\S+ \S+\s+active", listing.stdout)
    assert "deploy" in listing.stdout
    assert "mlk_" not in listing.stdout

    revoked = cli("apikey", "revoke", "ci")
    assert revoked.returncode == 0
    assert f"revoked API key 'ci' (id {record.id})" in revoked.stdout
    again = cli("apikey", "revoke", record.id)
    assert again.returncode == 0
    assert "was already revoked" in again.stdout
    with open_store(home) as store:
        assert ApiKeys(store).authenticate(key) is None

    keys = json.loads(cli("apikey", "list", "--output", "json").stdout)
    assert [(k["name"], k["revoked_at"] is not None) for k in keys] == [
        ("ci", True),
        ("deploy", False),
    ]
    assert all(set(k) == {"id", "name", "scopes", "created_at", "revoked_at"} for k in keys)
    assert "revoked" in cli("apikey", "list").stdout

    entries = _audit(cli)
    assert [(e["seq"], e["action"], e["outcome"]) for e in entries] == [
        (4, "apikey.revoke", "success"),
        (3, "apikey.revoke", "success"),
        (2, "apikey.create", "success"),
        (1, "apikey.create", "success"),
    ]
    assert {e["actor"] for e in entries} == {f"local:{getpass.getuser()}"}
    assert entries[-1]["resource"] == f"apikeys/{record.id}"
    assert entries[-1]["details"] == {"name": "ci", "scopes": ["read", "write"]}
    assert "mlk_" not in json.dumps(entries)
    text = cli("audit", "list", "--limit", "2")
    assert text.returncode == 0
    assert "apikey.revoke" in text.stdout
    assert "apikey.create" not in text.stdout

    verified = cli("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "chain intact (4 entries)" in verified.stdout


def test_bad_input_is_a_clear_error_with_the_right_exit_code(cli: Cli) -> None:
    assert cli("apikey", "create", "--name", "ci", "--scopes", "read").returncode == 0
    cases = [
        (("create", "--name", "ci", "--scopes", "write"), 1, "'ci' already exists"),
        (("create", "--name", "x", "--scopes", "read,delete"), 2, "unknown scope 'delete'"),
        (("create", "--name", "x", "--scopes", ","), 2, "no scopes"),
        (("create", "--name", "x"), 2, "Missing option '--scopes'"),
        (("create", "--name", "a b", "--scopes", "read"), 2, "invalid API key name"),
        (("create", "--name", "admin", "--scopes", "admin"), 2, "reserved"),
        (("revoke", "nope"), 1, "no API key named or with id 'nope'"),
    ]
    for args, code, message in cases:
        result = cli("apikey", *args)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert result.stdout == "", args
    # Attempts that reach the store are audited as failures; usage errors never get there.
    entries = _audit(cli)
    assert [(e["action"], e["outcome"], e["resource"]) for e in reversed(entries)] == [
        ("apikey.create", "success", entries[-1]["resource"]),
        ("apikey.create", "failure", "apikeys"),
        ("apikey.create", "failure", "apikeys"),
        ("apikey.create", "failure", "apikeys"),
        ("apikey.revoke", "failure", "apikeys/nope"),
    ]
    assert cli("audit", "list", "--limit", "0").returncode == 2


def test_verify_names_the_first_bad_entry(cli: Cli, home: Path) -> None:
    for name in ("one", "two", "three"):
        assert cli("apikey", "create", "--name", name, "--scopes", "read").returncode == 0
    _tamper(home, "UPDATE audit_log SET actor = 'local:mallory' WHERE seq = 2")

    broken = cli("audit", "verify")
    assert broken.returncode == 1
    assert "audit chain broken at entry 2" in broken.stderr
    assert "1 entries before it are intact" in broken.stderr
    as_json = cli("audit", "verify", "--output", "json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["intact"] is False
    assert report["entries"] == 1
    assert report["first_bad"]["seq"] == 2
    assert "contents" in report["first_bad"]["reason"]
    assert cli("audit", "list").returncode == 0  # a readable log still lists

    _tamper(home, "UPDATE audit_log SET details = '{oops' WHERE seq = 3")
    damaged = cli("audit", "list")
    assert damaged.returncode == 1
    assert "damaged" in damaged.stderr


def test_an_empty_store_and_a_generated_key(cli: Cli, home: Path) -> None:
    assert cli("apikey", "list").stdout.strip() == "no API keys"
    assert cli("audit", "list").stdout.strip() == "the audit log is empty"
    verified = cli("audit", "verify", "--output", "json")
    assert verified.returncode == 0
    assert json.loads(verified.stdout) | {"last_hash": None} == {
        "intact": True,
        "entries": 0,
        "last_hash": None,
        "first_bad": None,
    }
    assert "chain intact (0 entries)" in cli("audit", "verify").stdout

    generated = cli("apikey", "generate")
    assert generated.returncode == 0
    key = generated.stdout.strip()
    assert KEY.fullmatch(key)
    with open_store(home) as store:
        keys = ApiKeys(store)
        assert keys.list_keys() == []  # generating stores nothing
        admin, _ = keys.ensure_admin_key(key)
    assert admin.allows(Scope.ADMIN)
    assert "admin" in cli("apikey", "list").stdout
