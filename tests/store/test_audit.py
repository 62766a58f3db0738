"""The audit log: appending, listing, and detecting every kind of tampering with the chain."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, bindparam, text

from mentatlab.store import (
    AuditEntry,
    AuditLog,
    InvalidAuditEntryError,
    Outcome,
    SqlRunStore,
    StoreError,
    generate_key,
    open_store,
)
from mentatlab.store.audit import GENESIS_HASH
from mentatlab.store.schema import UTCDateTime

ENTRIES = 4


@pytest.fixture
def log(store: SqlRunStore) -> AuditLog:
    return AuditLog(store)


def _append(log: AuditLog, n: int = 1, **overrides: Any) -> list[AuditEntry]:
    fields: dict[str, Any] = {
        "actor": "key:ci (0123456789ab)",
        "action": "run.create",
        "resource": "runs",
        "outcome": Outcome.SUCCESS,
        "request_id": "req-1",
        "client": "127.0.0.1",
        "details": {"flow": "hello"},
    } | overrides
    return [log.append(**fields) for _ in range(n)]


def test_entries_are_numbered_and_chained(log: AuditLog) -> None:
    entries = _append(log, 3)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS_HASH
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert all(e.hash == e.expected_hash() for e in entries)
    assert len({e.hash for e in entries}) == 3
    assert all(e.ts.tzinfo is UTC for e in entries)
    assert entries[0].to_json() | {"ts": None} == {
        "seq": 1,
        "ts": None,
        "actor": "key:ci (0123456789ab)",
        "action": "run.create",
        "resource": "runs",
        "outcome": "success",
        "request_id": "req-1",
        "client": "127.0.0.1",
        "details": {"flow": "hello"},
        "prev_hash": GENESIS_HASH,
        "hash": entries[0].hash,
    }


def test_listing_reads_back_what_was_appended(log: AuditLog) -> None:
    appended = _append(log, 5)
    appended += _append(log, outcome=Outcome.DENIED, request_id=None, client=None, details=None)
    assert log.list_entries() == appended[::-1]
    assert log.list_entries(limit=2) == appended[:-3:-1]
    assert log.list_entries(limit=2, before_seq=5) == [appended[3], appended[2]]
    assert log.list_entries(since=appended[4].ts) == [appended[5], appended[4]]
    assert log.list_entries(since=appended[-1].ts + timedelta(seconds=1)) == []
    assert appended[-1].details == {}
    assert appended[-1].outcome == "denied"


def test_empty_log_verifies(log: AuditLog) -> None:
    result = log.verify()
    assert result.intact
    assert (result.entries, result.last_hash, result.first_bad) == (0, GENESIS_HASH, None)
    assert log.list_entries() == []


def test_intact_chain_verifies(log: AuditLog) -> None:
    entries = _append(log, ENTRIES)
    result = log.verify()
    assert result.intact
    assert result.entries == ENTRIES
    assert result.last_hash == entries[-1].hash


def test_anything_shaped_like_an_api_key_is_redacted(log: AuditLog) -> None:
    key = generate_key()
    key_id = key[4:16]
    entry = log.append(
        actor=f"key {key}",
        action="auth",
        resource=f"/api/runs?token={key}",
        outcome=Outcome.DENIED,
        request_id=key,
        client=key[:-5],  # a mistyped key is redacted too
        details={"header": f"Bearer {key}", "nested": [{"k": key}]},
    )
    stored = log.list_entries()[0]
    assert stored == entry
    flat = repr(stored.to_json())
    assert key not in flat
    assert key[16:-5] not in flat
    assert f"mlk_{key_id}_[redacted]" in stored.resource
    assert stored.details == {
        "header": f"Bearer mlk_{key_id}_[redacted]",
        "nested": [{"k": f"mlk_{key_id}_[redacted]"}],
    }
    assert log.verify().intact


def test_nul_in_text_fields_is_replaced_before_the_entry_is_sealed(log: AuditLog) -> None:
    entry = log.append(
        actor="key:ci\x00",
        action="run.\x00create",
        resource="runs/\x00",
        outcome=Outcome.FAILURE,
        request_id="req\x00",
        client="\x00client",
        details={"error": "nul \x00 here"},
    )
    assert (entry.actor, entry.action, entry.resource) == (
        "key:ci\ufffd",
        "run.\ufffdcreate",
        "runs/\ufffd",
    )
    assert (entry.request_id, entry.client) == ("req\ufffd", "\ufffdclient")
    assert entry.details == {"error": "nul \x00 here"}
    assert log.list_entries() == [entry]
    assert log.verify().intact


def test_malformed_entries_are_rejected(log: AuditLog) -> None:
    with pytest.raises(InvalidAuditEntryError, match="actor"):
        _append(log, actor="")
    with pytest.raises(InvalidAuditEntryError, match="actor and an action"):
        _append(log, action="")
    with pytest.raises(InvalidAuditEntryError, match="longer than 64"):
        _append(log, action="x" * 65)
    with pytest.raises(InvalidAuditEntryError, match="not JSON"):
        _append(log, details={"when": datetime.now(UTC)})
    with pytest.raises(InvalidAuditEntryError, match="not JSON"):
        _append(log, details={"x": float("nan")})
    with pytest.raises(ValueError, match="maybe"):
        _append(log, outcome="maybe")
    assert log.list_entries() == []
    assert log.verify().intact


# Each tampering acts on a log of ENTRIES entries with raw SQL and names the first entry
# verification must report.
Tamper = Callable[[Connection, list[AuditEntry]], object]


def _set(conn: Connection, seq: int, column: str, value: object) -> None:
    conn.execute(
        text(f"UPDATE audit_log SET {column} = :value WHERE seq = :seq"),  # noqa: S608
        {
            "value": value,
            "seq": seq,
        },
    )


def _change_ts(conn: Connection, entries: list[AuditEntry]) -> None:
    statement = text("UPDATE audit_log SET ts = :ts WHERE seq = 2").bindparams(
        bindparam("ts", type_=UTCDateTime)
    )
    conn.execute(statement, {"ts": entries[1].ts - timedelta(hours=1)})


def _forge_consistently(conn: Connection, entries: list[AuditEntry]) -> None:
    forged = dataclasses.replace(entries[1], actor="key:mallory")
    _set(conn, 2, "actor", forged.actor)
    _set(conn, 2, "hash", forged.expected_hash())


def _forge_last(conn: Connection, entries: list[AuditEntry]) -> None:
    forged = dataclasses.replace(entries[-1], outcome="failure")
    _set(conn, ENTRIES, "outcome", forged.outcome)
    _set(conn, ENTRIES, "hash", forged.expected_hash())


def _swap_2_and_3(conn: Connection, entries: list[AuditEntry]) -> None:
    conn.execute(text("UPDATE audit_log SET seq = 100 WHERE seq = 2"))
    conn.execute(text("UPDATE audit_log SET seq = 2 WHERE seq = 3"))
    conn.execute(text("UPDATE audit_log SET seq = 3 WHERE seq = 100"))


def _renumber_after_delete(conn: Connection, entries: list[AuditEntry]) -> None:
    conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    conn.execute(text("UPDATE audit_log SET seq = seq - 1 WHERE seq > 2"))
    conn.execute(text("UPDATE audit_head SET seq = seq - 1"))


def _insert_at_end(conn: Connection, entries: list[AuditEntry]) -> None:
    extra = dataclasses.replace(entries[-1], seq=ENTRIES + 1, prev_hash=entries[-1].hash)
    extra = dataclasses.replace(extra, hash=extra.expected_hash())
    conn.execute(
        text(
            "INSERT INTO audit_log (seq, ts, actor, action, resource, outcome, request_id,"
            " client, details, prev_hash, hash) VALUES (:seq, :ts, :actor, :action, :resource,"
            " :outcome, :request_id, :client, :details, :prev_hash, :hash)"
        ).bindparams(bindparam("ts", type_=UTCDateTime)),
        dataclasses.asdict(extra) | {"details": '{"flow": "hello"}'},
    )


TAMPERINGS: dict[str, tuple[Tamper, int, str]] = {
    "actor changed": (lambda c, _: _set(c, 2, "actor", "key:mallory"), 2, "contents"),
    "action changed": (lambda c, _: _set(c, 3, "action", "run.cancel"), 3, "contents"),
    "resource changed": (lambda c, _: _set(c, 1, "resource", "runs/r2"), 1, "contents"),
    "outcome changed": (lambda c, _: _set(c, 2, "outcome", "denied"), 2, "contents"),
    "request id changed": (lambda c, _: _set(c, 4, "request_id", "req-9"), 4, "contents"),
    "client changed": (lambda c, _: _set(c, 2, "client", "10.0.0.9"), 2, "contents"),
    "details changed": (lambda c, _: _set(c, 2, "details", '{"flow": "evil"}'), 2, "contents"),
    "ts changed": (_change_ts, 2, "contents"),
    "hash changed": (lambda c, _: _set(c, 2, "hash", "f" * 64), 2, "contents"),
    "prev_hash changed": (lambda c, _: _set(c, 3, "prev_hash", "0" * 64), 3, "prev_hash"),
    "entry rewritten with its hash": (_forge_consistently, 3, "prev_hash"),
    "middle entry deleted": (
        lambda c, _: c.execute(text("DELETE FROM audit_log WHERE seq = 2")),
        2,
        "missing",
    ),
    "first entry deleted": (
        lambda c, _: c.execute(text("DELETE FROM audit_log WHERE seq = 1")),
        1,
        "missing",
    ),
    "last entry deleted": (
        lambda c, _: c.execute(text("DELETE FROM audit_log WHERE seq = 4")),
        ENTRIES,
        "missing",
    ),
    "deleted and renumbered": (_renumber_after_delete, 2, "prev_hash"),
    "entries swapped": (_swap_2_and_3, 2, "prev_hash"),
    "entry added behind the log's back": (_insert_at_end, ENTRIES + 1, "outside"),
    "head hash changed": (
        lambda c, _: c.execute(text("UPDATE audit_head SET hash = :h"), {"h": "e" * 64}),
        ENTRIES,
        "last hash",
    ),
    "last entry rewritten with its hash": (_forge_last, ENTRIES, "last hash"),
}


@pytest.mark.parametrize("name", TAMPERINGS)
def test_tampering_is_detected(store: SqlRunStore, log: AuditLog, name: str) -> None:
    tamper, first_bad, reason = TAMPERINGS[name]
    entries = _append(log, ENTRIES)
    with store.write_transaction() as conn:
        tamper(conn, entries)
    result = log.verify()
    assert not result.intact
    assert result.first_bad is not None
    assert result.first_bad.seq == first_bad, result.first_bad
    assert reason in result.first_bad.reason
    assert result.entries == min(first_bad - 1, ENTRIES)


def test_appending_after_tampering_does_not_heal_the_chain(
    store: SqlRunStore, log: AuditLog
) -> None:
    _append(log, ENTRIES)
    with store.write_transaction() as conn:
        _set(conn, 2, "actor", "key:mallory")
    _append(log, 2)
    first_bad = log.verify().first_bad
    assert first_bad is not None
    assert first_bad.seq == 2


def test_rewriting_the_end_and_the_head_changes_the_last_hash(
    store: SqlRunStore, log: AuditLog
) -> None:
    # The one change a chain cannot notice by itself; the last hash, kept elsewhere, does.
    entries = _append(log, ENTRIES)
    anchored = log.verify().last_hash
    with store.write_transaction() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": ENTRIES})
        conn.execute(
            text("UPDATE audit_head SET seq = :seq, hash = :hash"),
            {"seq": ENTRIES - 1, "hash": entries[-2].hash},
        )
    result = log.verify()
    assert result.intact
    assert result.last_hash != anchored


def test_unreadable_entries_are_reported_not_raised(home: Path) -> None:
    with open_store(home) as opened:
        log = AuditLog(opened)
        _append(log, ENTRIES)
        with closing(sqlite3.connect(home / "store.db")) as raw:
            raw.execute("UPDATE audit_log SET details = '{not json' WHERE seq = 3")
            raw.commit()
        result = log.verify()
        assert result.first_bad is not None
        assert result.first_bad.seq == 3
        assert "cannot be read" in result.first_bad.reason
        assert result.entries == 2
        with pytest.raises(StoreError, match="damaged"):
            log.list_entries()


def test_threads_sharing_a_store_keep_one_chain(log: AuditLog) -> None:
    _hammer(lambda: log, threads=8, appends=15)
    _assert_one_chain(log, 8 * 15)


def test_threads_with_stores_of_their_own_keep_one_chain(store_url: str, log: AuditLog) -> None:
    opened: list[SqlRunStore] = []
    lock = threading.Lock()

    def own_log() -> AuditLog:
        own = open_store(url=store_url)
        with lock:
            opened.append(own)
        return AuditLog(own)

    try:
        _hammer(own_log, threads=4, appends=15)
    finally:
        for own in opened:
            own.close()
    _assert_one_chain(log, 4 * 15)


def _hammer(make_log: Callable[[], AuditLog], *, threads: int, appends: int) -> None:
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            mine = make_log()
            start.wait(timeout=60)
            for i in range(appends):
                mine.append(
                    actor=f"worker-{worker}",
                    action="run.create",
                    resource=f"runs/{i}",
                    outcome=Outcome.SUCCESS,
                )
        except BaseException as exc:
            errors.append(exc)
            start.abort()

    workers = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors, errors


def _assert_one_chain(log: AuditLog, total: int) -> None:
    entries = log.list_entries(limit=total + 10)[::-1]
    assert [e.seq for e in entries] == list(range(1, total + 1))
    assert [e.prev_hash for e in entries] == [GENESIS_HASH] + [e.hash for e in entries[:-1]]
    result = log.verify()
    assert result.intact
    assert result.entries == total
