"""The registry on SQLite and PostgreSQL: agents and flow versions, conflicts, concurrent
registrations, bounds."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from mentatlab.store import (
    AgentNotRegisteredError,
    FlowNotFoundError,
    InvalidRegistryEntryError,
    Registry,
    RegistryConflictError,
    SqlRunStore,
)


@pytest.fixture
def registry(store: SqlRunStore) -> Registry:
    return Registry(store)


def manifest(version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mentatlab.io/v1",
        "kind": "Agent",
        "id": "t.a",
        "version": version,
    } | extra


def flow(flow_id: str = "f", version: str | None = "1", name: str = "F") -> dict[str, Any]:
    meta: dict[str, Any] = {"id": flow_id, "name": name}
    if version is not None:
        meta["version"] = version
    return {"apiVersion": "mentatlab.io/v1", "kind": "Flow", "meta": meta, "graph": {"nodes": []}}


def test_agents_register_once_per_version(registry: Registry) -> None:
    first, created = registry.register_agent(manifest(), "/srv/a")
    assert created and (first.id, first.version, first.location) == ("t.a", "1.0.0", "/srv/a")
    assert registry.register_agent(manifest(), "/srv/a") == (first, False)
    with pytest.raises(RegistryConflictError):
        registry.register_agent(manifest(description="other"), "/srv/a")
    with pytest.raises(RegistryConflictError):
        registry.register_agent(manifest(), "/srv/b")
    registry.register_agent(manifest("1.10.0"), "oci://r/a:1.10.0")
    registry.register_agent(manifest("1.2.0"), "oci://r/a:1.2.0")
    assert registry.get_agent("t.a").version == "1.10.0"
    assert registry.get_agent("t.a", "1.0.0") == first
    with pytest.raises(AgentNotRegisteredError, match=r"t\.a@9\.0\.0"):
        registry.get_agent("t.a", "9.0.0")
    newest_first = [agent.version for agent in registry.list_agents()]
    assert newest_first == ["1.2.0", "1.10.0", "1.0.0"]
    page = registry.list_agents(limit=2)
    assert [a.version for a in registry.list_agents(before=page[-1].seq)] == ["1.0.0"]
    assert registry.delete_agent("t.a", "1.10.0") == ["1.10.0"]
    assert registry.delete_agent("t.a") == ["1.0.0", "1.2.0"]
    with pytest.raises(AgentNotRegisteredError):
        registry.delete_agent("t.a")
    assert registry.list_agents() == []


def test_flows_keep_every_version(registry: Registry) -> None:
    first, created = registry.create_flow(flow(version="1"))
    assert created and first.versions == ("1",) and first.name == "F"
    assert registry.create_flow(flow(version="1")) == (first, False)
    with pytest.raises(RegistryConflictError, match="exists already"):
        registry.create_flow(flow(version="2"))
    second, created = registry.update_flow("f", flow(version="2", name="G"))
    assert created and second.versions == ("1", "2")
    assert second.created_at == first.created_at and second.updated_at >= first.updated_at
    assert registry.update_flow("f", flow(version="2", name="G")) == (second, False)
    with pytest.raises(RegistryConflictError, match="never changes"):
        registry.update_flow("f", flow(version="1", name="changed"))
    with pytest.raises(InvalidRegistryEntryError, match=r"meta\.id"):
        registry.update_flow("f", flow("g", version="3"))
    with pytest.raises(FlowNotFoundError):
        registry.update_flow("g", flow("g"))
    # the latest version is the one stored last, whatever its name
    registry.update_flow("f", flow(version="0.9"))
    assert registry.get_flow("f").version == "0.9"
    assert registry.get_flow("f", "2").document == flow(version="2", name="G")
    with pytest.raises(FlowNotFoundError, match="no version '7'"):
        registry.get_flow("f", "7")
    assert registry.delete_flow("f", "0.9") == ["0.9"]
    assert registry.delete_flow("f") == ["1", "2"]
    with pytest.raises(FlowNotFoundError):
        registry.get_flow("f")


def test_flows_are_listed_by_id_at_their_latest_version(registry: Registry) -> None:
    for flow_id in ("c", "a", "b"):
        registry.create_flow(flow(flow_id))
    registry.update_flow("a", flow("a", version="2"))
    page = registry.list_flows(limit=2)
    assert [(f.id, f.version, f.versions) for f in page] == [
        ("a", "2", ("1", "2")),
        ("b", "1", ("1",)),
    ]
    assert [f.id for f in registry.list_flows(limit=2, after="b")] == ["c"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (flow(version=None), "meta.version"),
        (flow("x" * 256), "longer than 255"),
        (flow(version="1" * 65), "longer than 64"),
    ],
)
def test_flows_need_a_bounded_id_and_version(
    registry: Registry, document: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidRegistryEntryError, match=message):
        registry.create_flow(document)


def test_an_agent_id_longer_than_the_bound_is_refused(registry: Registry) -> None:
    with pytest.raises(InvalidRegistryEntryError, match="longer than 255"):
        registry.register_agent(manifest() | {"id": "a" * 256}, "/srv/a")


def test_concurrent_identical_registrations_all_succeed_once(registry: Registry) -> None:
    """PostgreSQL runs the writers side by side: the unique constraint decides, the losers
    see the winner's row and report it unchanged."""
    results: list[bool] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def register() -> None:
        barrier.wait()
        try:
            results.append(registry.register_agent(manifest(), "/srv/a")[1])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [False, False, False, True]
