"""API keys: format, hashing, authentication, scopes, revocation, the admin bootstrap."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from mentatlab.store import (
    ApiKeyExistsError,
    ApiKeyNotFoundError,
    ApiKeys,
    InvalidApiKeyError,
    Scope,
    SqlRunStore,
    generate_key,
    key_id_of,
    open_store,
    parse_scopes,
)
from mentatlab.store import apikeys as apikeys_module
from mentatlab.store.apikeys import ADMIN_KEY_NAME
from mentatlab.store.schema import api_keys

KEY = re.compile(r"mlk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
T = TypeVar("T")


@pytest.fixture
def keys(store: SqlRunStore) -> ApiKeys:
    return ApiKeys(store)


def test_created_key_is_well_formed_and_authenticates(keys: ApiKeys) -> None:
    record, key = keys.create("ci", [Scope.READ, Scope.WRITE])
    assert KEY.fullmatch(key)
    assert key.startswith(f"mlk_{record.id}_")
    assert record.name == "ci"
    assert record.scopes == {Scope.READ, Scope.WRITE}
    assert not record.revoked
    assert keys.authenticate(key) == record
    other, other_key = keys.create("other", [Scope.READ])
    assert other_key != key
    assert other.id != record.id
    assert keys.authenticate(other_key) == other


def test_only_a_hash_is_stored(store: SqlRunStore, keys: ApiKeys) -> None:
    record, key = keys.create("ci", [Scope.WRITE])
    secret = key[len(f"mlk_{record.id}_") :]
    with store.read_transaction() as conn:
        row = conn.execute(select(api_keys)).one()
    stored = " ".join(str(value) for value in row)
    assert key not in stored
    assert secret not in stored
    assert row.key_hash != key
    assert re.fullmatch(r"[0-9a-f]{64}", row.key_hash)
    assert "key_hash" not in record.to_json()
    assert set(record.to_json()) == {"id", "name", "scopes", "created_at", "revoked_at"}


def test_secret_is_not_recoverable_from_the_database_files(home: Path) -> None:
    with open_store(home) as opened:
        record, key = ApiKeys(opened).create("ci", [Scope.READ])
    secret = key[len(f"mlk_{record.id}_") :]
    # WAL mode: recent writes may still be in the -wal file next to the database.
    files = [path for path in home.iterdir() if path.name.startswith("store.db")]
    assert files
    for path in files:
        content = path.read_bytes()
        assert secret.encode() not in content
        assert key.encode() not in content


def test_malformed_unknown_and_wrong_keys_do_not_authenticate(keys: ApiKeys) -> None:
    record, key = keys.create("ci", [Scope.READ])
    secret = key[len(f"mlk_{record.id}_") :]
    wrong_secret = ("A" if secret[0] != "A" else "B") + secret[1:]
    for candidate in [
        "",
        "mlk_",
        key[:-1],
        key + "x",
        key.upper(),
        " " + key,
        key + "\n",
        key.replace("mlk_", "mlx_", 1),
        f"mlk_{record.id}{secret}",
        f"mlk_{record.id}_{wrong_secret}",
        generate_key(),  # well-formed, never stored
        f"Bearer {key}",
    ]:
        assert keys.authenticate(candidate) is None, candidate


def test_revoked_keys_stop_authenticating(keys: ApiKeys) -> None:
    record, key = keys.create("ci", [Scope.WRITE])
    revoked, changed = keys.revoke("ci")
    assert changed
    assert revoked.id == record.id
    assert revoked.revoked_at is not None
    assert revoked.revoked
    assert keys.authenticate(key) is None
    again, changed_again = keys.revoke(record.id)
    assert not changed_again
    assert again.revoked_at == revoked.revoked_at
    assert keys.get(record.id) == revoked
    assert not revoked.allows(Scope.READ)


def test_revoking_by_id_leaves_other_keys_alone(keys: ApiKeys) -> None:
    first, first_key = keys.create("first", [Scope.READ])
    second, second_key = keys.create("second", [Scope.READ])
    keys.revoke(second.id)
    assert keys.authenticate(first_key) == first
    assert keys.authenticate(second_key) is None
    assert [(k.name, k.revoked) for k in keys.list_keys()] == [
        ("first", False),
        ("second", True),
    ]
    assert [k.name for k in keys.list_keys(include_revoked=False)] == ["first"]


def test_unknown_and_ambiguous_keys_to_revoke(keys: ApiKeys) -> None:
    with pytest.raises(ApiKeyNotFoundError, match="nope"):
        keys.revoke("nope")
    record, _ = keys.create("ci", [Scope.READ])
    keys.create(record.id, [Scope.READ])  # a name that is another key's id
    with pytest.raises(InvalidApiKeyError, match="use the id"):
        keys.get(record.id)


def test_names_are_unique_even_after_revocation(keys: ApiKeys) -> None:
    keys.create("ci", [Scope.READ])
    with pytest.raises(ApiKeyExistsError, match="'ci' already exists"):
        keys.create("ci", [Scope.ADMIN])
    keys.revoke("ci")
    with pytest.raises(ApiKeyExistsError):
        keys.create("ci", [Scope.READ])
    assert len(keys.list_keys()) == 1


@pytest.mark.parametrize(
    "name",
    ["", "-ci", "has space", "a/b", "x" * 65, "ünï", "ci\n"],
    ids=["empty", "leading-dash", "space", "slash", "too-long", "non-ascii", "newline"],
)
def test_invalid_names_are_rejected(keys: ApiKeys, name: str) -> None:
    with pytest.raises(InvalidApiKeyError, match="invalid API key name"):
        keys.create(name, [Scope.READ])
    assert keys.list_keys() == []


def test_admin_name_is_reserved_and_scopes_are_required(keys: ApiKeys) -> None:
    with pytest.raises(InvalidApiKeyError, match="reserved"):
        keys.create(ADMIN_KEY_NAME, [Scope.ADMIN])
    with pytest.raises(InvalidApiKeyError, match="at least one scope"):
        keys.create("ci", [])


def test_scopes_nest() -> None:
    allowed = {
        (granted, required) for granted in Scope for required in Scope if granted.allows(required)
    }
    assert allowed == {
        (Scope.READ, Scope.READ),
        (Scope.WRITE, Scope.READ),
        (Scope.WRITE, Scope.WRITE),
        (Scope.ADMIN, Scope.READ),
        (Scope.ADMIN, Scope.WRITE),
        (Scope.ADMIN, Scope.ADMIN),
    }


def test_key_allows_what_its_widest_scope_allows(keys: ApiKeys) -> None:
    reader, _ = keys.create("reader", [Scope.READ])
    writer, _ = keys.create("writer", [Scope.READ, Scope.WRITE])
    assert reader.allows(Scope.READ)
    assert not reader.allows(Scope.WRITE)
    assert writer.allows(Scope.WRITE)
    assert not writer.allows(Scope.ADMIN)
    assert writer.to_json()["scopes"] == ["read", "write"]


def test_parse_scopes() -> None:
    assert parse_scopes("read") == {Scope.READ}
    assert parse_scopes(" read , write,read ") == {Scope.READ, Scope.WRITE}
    assert parse_scopes("admin") == {Scope.ADMIN}
    with pytest.raises(InvalidApiKeyError, match="unknown scope 'delete'"):
        parse_scopes("read,delete")
    with pytest.raises(InvalidApiKeyError, match="unknown scope 'READ'"):
        parse_scopes("READ")
    for empty in ["", " ", ",", " , "]:
        with pytest.raises(InvalidApiKeyError, match="no scopes"):
            parse_scopes(empty)


def test_admin_key_bootstrap_is_idempotent(keys: ApiKeys) -> None:
    admin_key = generate_key()
    record, changed = keys.ensure_admin_key(admin_key)
    assert changed
    assert record.name == ADMIN_KEY_NAME
    assert record.scopes == {Scope.ADMIN}
    assert record.id == key_id_of(admin_key)
    assert keys.authenticate(admin_key) == record
    assert keys.ensure_admin_key(admin_key) == (record, False)
    assert len(keys.list_keys()) == 1


def test_a_new_admin_key_replaces_the_old_one(keys: ApiKeys) -> None:
    old_key, new_key = generate_key(), generate_key()
    keys.ensure_admin_key(old_key)
    record, changed = keys.ensure_admin_key(new_key)
    assert changed
    assert keys.authenticate(old_key) is None
    assert keys.authenticate(new_key) == record
    assert [k.name for k in keys.list_keys()] == [ADMIN_KEY_NAME]


def test_a_revoked_admin_key_stays_revoked(keys: ApiKeys) -> None:
    admin_key = generate_key()
    keys.ensure_admin_key(admin_key)
    keys.revoke(ADMIN_KEY_NAME)
    record, changed = keys.ensure_admin_key(admin_key)
    assert not changed
    assert record.revoked
    assert keys.authenticate(admin_key) is None


def test_admin_key_must_be_well_formed(keys: ApiKeys) -> None:
    for bad in ["", "secret", "mlk_" + "0" * 12 + "_short", generate_key() + "x"]:
        with pytest.raises(InvalidApiKeyError, match="mentatctl apikey generate"):
            keys.ensure_admin_key(bad)
    record, key = keys.create("ci", [Scope.READ])
    clash = f"mlk_{record.id}_{generate_key()[-43:]}"
    with pytest.raises(InvalidApiKeyError, match="id of the API key 'ci'"):
        keys.ensure_admin_key(clash)
    assert keys.authenticate(key) == record


@given(st.text(max_size=120))
def test_key_parser_accepts_exactly_the_key_format(candidate: str) -> None:
    key_id = key_id_of(candidate)
    if KEY.fullmatch(candidate):
        assert key_id == candidate[4:16]
    else:
        assert key_id is None


@given(st.from_regex(KEY, fullmatch=True))
def test_key_parser_finds_the_id_of_any_well_formed_key(candidate: str) -> None:
    assert key_id_of(candidate) == candidate[4:16]


def test_generated_keys_are_well_formed_and_distinct() -> None:
    generated = {generate_key() for _ in range(200)}
    assert len(generated) == 200
    assert all(KEY.fullmatch(key) for key in generated)


@pytest.fixture
def one_key(keys: ApiKeys) -> str:
    return keys.create("ci", [Scope.READ])[1]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), replacement=st.characters())
def test_changing_any_character_of_a_key_fails_authentication(
    keys: ApiKeys, one_key: str, position: int, replacement: str
) -> None:
    index = position % len(one_key)
    changed = one_key[:index] + replacement + one_key[index + 1 :]
    if changed != one_key:
        assert keys.authenticate(changed) is None
    assert keys.authenticate(one_key) is not None


RACERS = 6


def _race(
    monkeypatch: pytest.MonkeyPatch, target: str, attempt: Callable[[], T]
) -> list[T | BaseException]:
    """Run ``attempt`` in RACERS threads that all pass the existence check before any inserts.

    ``target`` (called after the check, before the insert) waits until every thread reached
    it. On SQLite write transactions run one at a time, so the wait gives up after a second
    and the threads go on in turn.
    """
    original = getattr(apikeys_module, target)
    meet = threading.Barrier(RACERS)

    def wait_for_the_others(*args: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            meet.wait(timeout=1)
        return original(*args)

    monkeypatch.setattr(apikeys_module, target, wait_for_the_others)
    results: list[T | BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            result: T | BaseException = attempt()
        except BaseException as exc:
            result = exc
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == RACERS
    return results


def test_racing_creators_of_one_name_get_one_key(
    keys: ApiKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = _race(monkeypatch, "_unused_id", lambda: keys.create("race", [Scope.READ]))
    created = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, ApiKeyExistsError)]
    assert len(created) == 1, results
    assert len(refused) == RACERS - 1, results
    assert all(exc.name == "race" for exc in refused)
    record, key = created[0]
    assert [k.id for k in keys.list_keys()] == [record.id]
    assert keys.authenticate(key) == record


def test_racing_admin_key_bootstraps_all_succeed_once(
    keys: ApiKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_key = generate_key()
    results = _race(monkeypatch, "_row_values", lambda: keys.ensure_admin_key(admin_key))
    assert all(isinstance(r, tuple) for r in results), results
    outcomes = [r for r in results if isinstance(r, tuple)]
    assert sorted(changed for _, changed in outcomes) == [False] * (RACERS - 1) + [True]
    assert {record.id for record, _ in outcomes} == {key_id_of(admin_key)}
    [stored] = keys.list_keys()
    assert stored.name == ADMIN_KEY_NAME
    assert keys.authenticate(admin_key) == stored
