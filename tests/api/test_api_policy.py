"""A server enforces its security policy on validation and on the runs it accepts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_harness import App, hello_flow, make_app

from mentatlab.model.policy import Policy

REGISTRY_ONLY = Policy.model_validate(
    {
        "apiVersion": "mentatlab.io/v1",
        "kind": "Policy",
        "metadata": {"name": "acme"},
        "images": {"allowedRegistries": ["registry.acme.io"]},
    }
)


@pytest.fixture
def strict_app(tmp_path: Path) -> Iterator[App]:
    yield from make_app(tmp_path, policy=REGISTRY_ONLY)


def _manifest() -> dict[str, Any]:
    return {
        "apiVersion": "mentatlab.io/v1",
        "kind": "Agent",
        "id": "t.pulled",
        "version": "1.0.0",
        "description": "d",
        "image": "docker.io/library/busybox:1.36",
        "inputs": [],
        "outputs": [],
    }


def test_validate_reports_policy_findings(strict_app: App) -> None:
    read = strict_app.as_(strict_app.keys.read)
    answer = strict_app.http.post("/api/v1/validate", json={"document": _manifest()}, headers=read)
    assert answer.status_code == 200
    [error] = answer.json()["errors"]
    assert (error["rule"], error["path"]) == ("policy.image-registry", "$.image")
    assert "agent 't.pulled@1.0.0'" in error["message"] and "policy 'acme'" in error["message"]
    flow = strict_app.http.post("/api/v1/validate", json={"document": hello_flow()}, headers=read)
    report = flow.json()
    assert report["valid"] is False
    assert {(e["rule"], e["path"]) for e in report["errors"]} == {
        ("policy.image-registry", f"$.graph.nodes[{index}].type") for index in (1, 2, 3)
    }


def test_a_run_breaking_the_policy_is_refused_and_not_recorded(strict_app: App) -> None:
    write = strict_app.as_(strict_app.keys.write)
    answer = strict_app.http.post("/api/v1/runs", json={"flow": hello_flow()}, headers=write)
    assert answer.status_code == 422
    problem = answer.json()
    assert {e["rule"] for e in problem["report"]["errors"]} == {"policy.image-registry"}
    assert strict_app.store.list_runs() == []


def test_the_default_policy_accepts_the_demo(app: App) -> None:
    read = app.as_(app.keys.read)
    answer = app.http.post("/api/v1/validate", json={"document": hello_flow()}, headers=read)
    assert answer.json() == {"valid": True, "errors": [], "warnings": []}


def test_mentatctl_serve_enforces_the_policy_it_was_started_with(
    server_factory: Any, tmp_path: Path
) -> None:
    policy = tmp_path / "acme.policy.yaml"
    policy.write_text(
        "apiVersion: mentatlab.io/v1\nkind: Policy\nmetadata: {name: acme}\n"
        "images: {allowedRegistries: [registry.acme.io]}\n"
    )
    server = server_factory("--policy", str(policy))
    with server.http(server.admin_key) as http:
        answer = http.post("/api/v1/validate", json={"document": _manifest()})
    assert [e["rule"] for e in answer.json()["errors"]] == ["policy.image-registry"]
