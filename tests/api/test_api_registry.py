"""The registry through the API: agents registered with their Cog-Pak, versioned flows, runs of
stored flows; conflicts, 404s, 422 reports, scopes and audit entries."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from api_harness import App, Server, quick_flow
from ruamel.yaml import YAML

from mentatlab.client import ApiError
from mentatlab.model.run import RunStatus

GREETER_MANIFEST = """\
apiVersion: mentatlab.io/v1
kind: Agent
id: t.greeter
version: {version}
description: greets
command: [python, main.py]
inputs: [{{name: name, type: string}}]
outputs: [{{name: greeting, type: string}}]
"""

GREETER_MAIN = """\
import json, sys
envelope = json.loads(sys.stdin.read())
greeting = envelope["params"].get("greeting", "hello")
value = f"{greeting}, {envelope['inputs']['name']}"
print(json.dumps({"type": "output", "pin": "greeting", "value": value}), flush=True)
"""


def greeter(root: Path, version: str = "1.0.0") -> tuple[dict[str, Any], str]:
    """A Cog-Pak outside every agent directory of the server: its manifest and location."""
    cogpak = root / f"greeter-{version}"
    cogpak.mkdir(parents=True)
    (cogpak / "manifest.yaml").write_text(GREETER_MANIFEST.format(version=version))
    (cogpak / "main.py").write_text(GREETER_MAIN)
    manifest: dict[str, Any] = YAML(typ="safe").load(cogpak / "manifest.yaml")
    return manifest, str(cogpak)


def greeting_flow(version: str, greeting: str = "hello") -> dict[str, Any]:
    return {
        "apiVersion": "mentatlab.io/v1",
        "kind": "Flow",
        "meta": {"id": "t.greetings", "name": "greetings", "version": version},
        "graph": {
            "nodes": [
                {"id": "who", "type": "ui.prompt", "outputs": {"text": "Ada"}},
                {"id": "greet", "type": "t.greeter", "params": {"greeting": greeting}},
                {"id": "show", "type": "ui.console"},
            ],
            "edges": [
                {"from": "who.text", "to": "greet.name"},
                {"from": "greet.greeting", "to": "show.text"},
            ],
        },
    }


def versioned(flow_id: str, version: str) -> dict[str, Any]:
    flow = quick_flow(flow_id)
    flow["meta"]["version"] = version
    return flow


def _problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:mentatlab:problem:{slug}", body
    return body


def test_a_registered_agent_runs_in_a_stored_flow(
    server_factory: Any, db: str | None, tmp_path: Path
) -> None:
    server: Server = server_factory(db=db)
    manifest, location = greeter(tmp_path / "cogpaks")
    with server.client() as admin:
        writer = admin.create_key("writer", ["write"]).key
    with server.client(writer) as client:
        with pytest.raises(ApiError) as unresolved:  # not registered yet: no such agent
            client.create_flow(greeting_flow("1.0.0"))
        assert unresolved.value.problem.model_extra is not None
        report = unresolved.value.problem.model_extra["report"]
        assert [error["rule"] for error in report["errors"]] == ["flow.agent-ref"]
        agent = client.register_agent(manifest, location)
        assert (agent.id, agent.version, agent.location) == ("t.greeter", "1.0.0", location)
        assert client.register_agent(manifest, location) == agent  # the same again: no change
        first = client.create_flow(greeting_flow("1.0.0"))
        second = client.update_flow("t.greetings", greeting_flow("2.0.0", greeting="hi"))
        assert (second.version, second.versions) == ("2.0.0", ["1.0.0", "2.0.0"])
        assert second.created_at == first.created_at <= second.updated_at
        latest = client.run_stored_flow("t.greetings")
        older = client.run_stored_flow("t.greetings", version="1.0.0")
        records = {}
        for ref in (latest, older):
            assert ref.status is RunStatus.QUEUED
            events = list(client.follow_events(ref.id))
            assert events[-1].data["status"] == "succeeded"
            records[ref.id] = client.get_run(ref.id)
        assert records[latest.id].outputs["show"]["text"] == "hi, Ada"
        assert records[older.id].outputs["show"]["text"] == "hello, Ada"
        assert records[latest.id].flow_id == "t.greetings"
        assert [a.id for a in client.list_agents()] == ["t.greeter"]
        assert [f.version for f in client.list_flows()] == ["2.0.0"]
        assert client.delete_agent("t.greeter").versions == ["1.0.0"]
        with pytest.raises(ApiError) as gone:  # the stored flow stays; its agent does not
            client.run_stored_flow("t.greetings")
        assert gone.value.status == 422
        assert client.delete_flow("t.greetings").versions == ["1.0.0", "2.0.0"]
        for call in (
            lambda: client.run_stored_flow("t.greetings"),
            lambda: client.get_flow("t.greetings"),
            lambda: client.get_agent("t.greeter"),
        ):
            with pytest.raises(ApiError) as missing:
                call()
            assert missing.value.status == 404


def test_agent_versions_conflicts_and_pages(app: App, tmp_path: Path) -> None:
    write, read = app.as_(app.keys.write), app.as_(app.keys.read)
    registered = []
    for version in ("1.0.0", "1.10.0", "1.2.0"):
        manifest, location = greeter(tmp_path, version)
        answer = app.http.post(
            "/api/v1/agents", json={"manifest": manifest, "location": location}, headers=write
        )
        assert answer.status_code == 201, answer.text
        assert answer.headers["location"] == f"/api/v1/agents/t.greeter?version={version}"
        registered.append((manifest, location))
    manifest, location = registered[0]
    again = app.http.post(
        "/api/v1/agents", json={"manifest": manifest, "location": location}, headers=write
    )
    assert again.status_code == 200
    for changed in (
        {"manifest": {**manifest, "description": "changed"}, "location": location},
        {"manifest": manifest, "location": "oci://registry.example/greeter:1.0.0"},
    ):
        conflict = app.http.post("/api/v1/agents", json=changed, headers=write)
        _problem(conflict, 409, "registry-conflict")
    latest = app.http.get("/api/v1/agents/t.greeter", headers=read).json()
    assert latest["version"] == "1.10.0"  # the highest, by semver
    exact = app.http.get("/api/v1/agents/t.greeter", params={"version": "1.0.0"}, headers=read)
    assert exact.json()["manifest"]["description"] == "greets"
    _problem(
        app.http.get("/api/v1/agents/t.greeter", params={"version": "9.9.9"}, headers=read),
        404,
        "agent-not-found",
    )
    _problem(app.http.get("/api/v1/agents/t.nobody", headers=read), 404, "agent-not-found")
    remote, _ = greeter(tmp_path / "remote")
    remote["id"] = "t.remote"
    app.http.post(
        "/api/v1/agents",
        json={"manifest": remote, "location": "oci://registry.example/remote:1.0.0"},
        headers=write,
    )
    seen, cursor = [], None
    while True:
        page = app.http.get(
            "/api/v1/agents",
            params={"limit": 3, **({"cursor": cursor} if cursor else {})},
            headers=read,
        ).json()
        seen += [(item["id"], item["version"]) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [
        ("t.remote", "1.0.0"),
        ("t.greeter", "1.2.0"),
        ("t.greeter", "1.10.0"),
        ("t.greeter", "1.0.0"),
    ]
    only = app.http.get("/api/v1/agents", params={"id": "t.remote"}, headers=read).json()
    assert [item["id"] for item in only["items"]] == ["t.remote"]
    deleted = app.http.delete(
        "/api/v1/agents/t.greeter", params={"version": "1.10.0"}, headers=write
    )
    assert deleted.json() == {"id": "t.greeter", "versions": ["1.10.0"]}
    assert app.http.get("/api/v1/agents/t.greeter", headers=read).json()["version"] == "1.2.0"
    everything = app.http.delete("/api/v1/agents/t.greeter", headers=write).json()
    assert everything["versions"] == ["1.0.0", "1.2.0"]
    _problem(app.http.delete("/api/v1/agents/t.greeter", headers=write), 404, "agent-not-found")


def test_an_invalid_manifest_or_location_is_a_422_and_nothing_is_stored(
    app: App, tmp_path: Path
) -> None:
    write, read = app.as_(app.keys.write), app.as_(app.keys.read)
    manifest, location = greeter(tmp_path)
    invalid = {**manifest, "version": "one", "outputs": [{"name": "x", "type": "colour"}]}
    answer = app.http.post(
        "/api/v1/agents", json={"manifest": invalid, "location": location}, headers=write
    )
    problem = _problem(answer, 422, "invalid-manifest")
    # the findings POST /validate (and so mentatctl validate) reports for the same manifest
    expected = app.http.post("/api/v1/validate", json={"document": invalid}, headers=read).json()

    def rules(findings: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(f["rule"], f["path"], f["message"]) for f in findings]

    assert problem["report"]["valid"] is False
    assert rules(problem["report"]["errors"]) == rules(expected["errors"])
    assert problem["detail"].startswith(f"the manifest is invalid: {expected['errors'][0]['rule']}")
    empty = tmp_path / "empty"
    empty.mkdir()
    no_program = app.http.post(
        "/api/v1/agents", json={"manifest": manifest, "location": str(empty)}, headers=write
    )
    assert "main.py" in _problem(no_program, 422, "invalid-manifest")["detail"]
    for bad_location in ("relative/dir", str(tmp_path / "missing"), "file://elsewhere/x"):
        refused = app.http.post(
            "/api/v1/agents", json={"manifest": manifest, "location": bad_location}, headers=write
        )
        _problem(refused, 422, "invalid-registry-entry")
    as_uri = app.http.post(
        "/api/v1/agents",
        json={"manifest": manifest, "location": f"file://{location}"},
        headers=write,
    )
    assert as_uri.status_code == 201, as_uri.text
    assert len(app.http.get("/api/v1/agents", headers=read).json()["items"]) == 1


def test_flow_versions_conflicts_and_pages(app: App) -> None:
    write, read = app.as_(app.keys.write), app.as_(app.keys.read)
    created = app.http.post("/api/v1/flows", json={"flow": versioned("t.a", "1")}, headers=write)
    assert created.status_code == 201 and created.headers["location"] == "/api/v1/flows/t.a"
    same = app.http.post("/api/v1/flows", json={"flow": versioned("t.a", "1")}, headers=write)
    assert same.status_code == 200 and same.json() == created.json()
    exists = app.http.post("/api/v1/flows", json={"flow": versioned("t.a", "2")}, headers=write)
    _problem(exists, 409, "registry-conflict")
    updated = app.http.put("/api/v1/flows/t.a", json={"flow": versioned("t.a", "2")}, headers=write)
    assert updated.status_code == 200 and updated.json()["versions"] == ["1", "2"]
    changed = versioned("t.a", "1")
    changed["meta"]["name"] = "changed"
    _problem(
        app.http.put("/api/v1/flows/t.a", json={"flow": changed}, headers=write),
        409,
        "registry-conflict",
    )
    _problem(
        app.http.put("/api/v1/flows/t.a", json={"flow": versioned("t.b", "3")}, headers=write),
        422,
        "invalid-registry-entry",
    )
    _problem(
        app.http.put("/api/v1/flows/t.zz", json={"flow": versioned("t.zz", "1")}, headers=write),
        404,
        "flow-not-found",
    )
    unversioned = app.http.post("/api/v1/flows", json={"flow": quick_flow("t.c")}, headers=write)
    assert "meta.version" in _problem(unversioned, 422, "invalid-registry-entry")["detail"]
    broken = versioned("t.c", "1")
    broken["graph"]["nodes"].append({"id": "ghost", "type": "t.nowhere"})
    invalid = _problem(
        app.http.post("/api/v1/flows", json={"flow": broken}, headers=write), 422, "invalid-flow"
    )
    assert [e["rule"] for e in invalid["report"]["errors"]] == ["flow.agent-ref"]
    latest = app.http.get("/api/v1/flows/t.a", headers=read).json()
    assert (latest["version"], latest["document"]["meta"]["version"]) == ("2", "2")
    first = app.http.get("/api/v1/flows/t.a", params={"version": "1"}, headers=read).json()
    assert first["version"] == "1" and first["versions"] == ["1", "2"]
    _problem(
        app.http.get("/api/v1/flows/t.a", params={"version": "9"}, headers=read),
        404,
        "flow-not-found",
    )
    for flow_id in ("t.c", "t.b", "with/slash"):
        app.http.post("/api/v1/flows", json={"flow": versioned(flow_id, "1")}, headers=write)
    assert app.http.get("/api/v1/flows/with/slash", headers=read).json()["id"] == "with/slash"
    page = app.http.get("/api/v1/flows", params={"limit": 2}, headers=read).json()
    assert [(f["id"], f["version"]) for f in page["items"]] == [("t.a", "2"), ("t.b", "1")]
    rest = app.http.get(
        "/api/v1/flows", params={"limit": 2, "cursor": page["next_cursor"]}, headers=read
    ).json()
    assert [f["id"] for f in rest["items"]] == ["t.c", "with/slash"]
    assert rest["next_cursor"] is None
    deleted = app.http.delete("/api/v1/flows/t.a", params={"version": "2"}, headers=write)
    assert deleted.json() == {"id": "t.a", "versions": ["2"]}
    assert app.http.get("/api/v1/flows/t.a", headers=read).json()["version"] == "1"
    assert app.http.delete("/api/v1/flows/t.a", headers=write).json()["versions"] == ["1"]
    _problem(app.http.get("/api/v1/flows/t.a", headers=read), 404, "flow-not-found")
    _problem(app.http.delete("/api/v1/flows/t.a", headers=write), 404, "flow-not-found")


def test_runs_of_unknown_stored_flows_are_404s(app: App) -> None:
    write = app.as_(app.keys.write)
    app.http.post("/api/v1/flows", json={"flow": versioned("t.a", "1")}, headers=write)
    for body in ({"flow_id": "t.none"}, {"flow_id": "t.a", "version": "2"}):
        _problem(app.http.post("/api/v1/runs", json=body, headers=write), 404, "flow-not-found")
    both = {"flow": versioned("t.a", "1"), "flow_id": "t.a"}
    _problem(app.http.post("/api/v1/runs", json=both, headers=write), 422, "invalid-request")
    version_only = {"flow": versioned("t.a", "1"), "version": "1"}
    _problem(
        app.http.post("/api/v1/runs", json=version_only, headers=write), 422, "invalid-request"
    )
    created = app.http.post("/api/v1/runs", json={"flow_id": "t.a"}, headers=write)
    assert created.status_code == 201, created.text
    assert app.store.get_run(created.json()["id"]).flow_id == "t.a"


def test_registry_mutations_are_audited_and_need_write(app: App, tmp_path: Path) -> None:
    write, read, admin = (app.as_(key) for key in (app.keys.write, app.keys.read, app.keys.admin))
    manifest, location = greeter(tmp_path)
    body = {"manifest": manifest, "location": location}
    denied = app.http.post("/api/v1/agents", json=body, headers=read)
    assert denied.status_code == 403
    assert app.http.post("/api/v1/agents", json=body, headers=write).status_code == 201
    flow = greeting_flow("1.0.0")
    assert app.http.post("/api/v1/flows", json={"flow": flow}, headers=write).status_code == 201
    newer = copy.deepcopy(flow)
    newer["meta"]["version"] = "1.1.0"
    assert app.http.put("/api/v1/flows/t.greetings", json={"flow": newer}, headers=write).is_success
    app.http.get("/api/v1/flows", headers=read)  # a read: not audited
    assert app.http.delete("/api/v1/flows/t.greetings", headers=write).is_success
    assert app.http.delete("/api/v1/agents/t.greeter", headers=write).is_success
    assert app.http.delete("/api/v1/agents/t.greeter", headers=write).status_code == 404
    entries = app.http.get("/api/v1/audit", headers=admin).json()["items"]
    newest = [(e["action"], e["resource"], e["outcome"]) for e in entries[:7]]
    assert newest == [
        ("agent.delete", "agents/t.greeter", "failure"),
        ("agent.delete", "agents/t.greeter", "success"),
        ("flow.delete", "flows/t.greetings", "success"),
        ("flow.update", "flows/t.greetings@1.1.0", "success"),
        ("flow.create", "flows/t.greetings@1.0.0", "success"),
        ("agent.register", "agents/t.greeter@1.0.0", "success"),
        ("agent.register", "/api/v1/agents", "denied"),
    ]
    assert entries[2]["details"]["versions"] == ["1.0.0", "1.1.0"]
    assert entries[6]["actor"].startswith("key:read (")


def test_validate_resolves_registered_agents(app: App, tmp_path: Path) -> None:
    write, read = app.as_(app.keys.write), app.as_(app.keys.read)
    flow = greeting_flow("1.0.0")
    before = app.http.post("/api/v1/validate", json={"document": flow}, headers=read).json()
    assert [e["rule"] for e in before["errors"]] == ["flow.agent-ref"]
    manifest, location = greeter(tmp_path)
    app.http.post(
        "/api/v1/agents", json={"manifest": manifest, "location": location}, headers=write
    )
    after = app.http.post("/api/v1/validate", json={"document": flow}, headers=read).json()
    assert after["valid"] is True, after
    # a Cog-Pak that is not on this machine is registered, but runs cannot use it
    remote = {**manifest, "id": "t.remote"}
    app.http.post(
        "/api/v1/agents",
        json={"manifest": remote, "location": "oci://registry.example/remote:1.0.0"},
        headers=write,
    )
    flow["graph"]["nodes"][1]["type"] = "t.remote"
    elsewhere = app.http.post("/api/v1/validate", json={"document": flow}, headers=read).json()
    assert [e["rule"] for e in elsewhere["errors"]] == ["flow.agent-ref"]
