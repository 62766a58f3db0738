"""The HTTP surface in-process: problems for every error, auth and scopes, the audit log,
request ids, health, metrics — no server process needed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_harness import REPO, App, hello_flow, make_app, quick_flow

from mentatlab.validation import validate_paths

PROBLEM = "application/problem+json"


def _assert_problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["status"] == status
    assert body["instance"] == response.request.url.path  # type: ignore[attr-defined]
    return body


def test_unknown_routes_ids_and_methods_are_problems(app: App) -> None:
    read = app.as_(app.keys.read)
    _assert_problem(app.http.get("/nowhere", headers=read), 404)
    run = _assert_problem(app.http.get("/api/v1/runs/r-none", headers=read), 404)
    assert run["type"] == "urn:mentatlab:problem:run-not-found" and "r-none" in str(run["detail"])
    _assert_problem(app.http.get("/api/v1/runs/r-none/events", headers=read), 404)
    write = app.as_(app.keys.write)
    _assert_problem(app.http.post("/api/v1/runs/r-none/cancel", headers=write), 404)
    wrong = _assert_problem(app.http.delete("/api/v1/runs", headers=write), 405)
    assert "allow" in {name.lower() for name in app.http.delete("/api/v1/runs").headers}
    assert "DELETE" in str(wrong["detail"])


def test_invalid_requests_are_422_problems(app: App) -> None:
    write = app.as_(app.keys.write)
    not_json = app.http.post(
        "/api/v1/runs", content=b"{", headers={**write, "content-type": "application/json"}
    )
    assert _assert_problem(not_json, 422)["type"] == "urn:mentatlab:problem:invalid-request"
    missing = _assert_problem(app.http.post("/api/v1/runs", json={}, headers=write), 422)
    assert missing["errors"] == [
        {
            "loc": ["body"],
            "msg": "Value error, give either flow (a flow document) or flow_id (a stored flow)",
            "type": "value_error",
        }
    ]
    extra = app.http.post("/api/v1/runs", json={"flow": {}, "bogus": 1}, headers=write)
    _assert_problem(extra, 422)
    read = app.as_(app.keys.read)
    for bad in ({"limit": 0}, {"limit": "x"}, {"status": "sleeping"}, {"cursor": "x" * 100}):
        _assert_problem(app.http.get("/api/v1/runs", params=bad, headers=read), 422)
    for header in ("-1", "abc", str(2**70)):
        response = app.http.get(
            "/api/v1/runs/r-none/events", headers={**read, "Last-Event-ID": header}
        )
        _assert_problem(response, 422)


def test_an_invalid_flow_is_a_422_with_the_validate_report(app: App, tmp_path: Path) -> None:
    flow = hello_flow()
    flow["graph"]["edges"].append({"from": "nowhere.out", "to": "report.x"})
    del flow["meta"]["id"]
    answer = app.http.post("/api/v1/runs", json={"flow": flow}, headers=app.as_(app.keys.write))
    problem = _assert_problem(answer, 422)
    assert problem["type"] == "urn:mentatlab:problem:invalid-flow"
    # the same findings mentatctl validate reports for the same flow in a file
    path = tmp_path / "bad.flow.json"
    path.write_text(json.dumps(flow))
    expected = validate_paths([path], agent_dirs=[REPO / "agents"]).to_json()
    report = problem["report"]
    assert isinstance(report, dict) and report["valid"] is False

    def rules(findings: list[dict[str, object]]) -> list[tuple[object, ...]]:
        return [(f["rule"], f["path"], f["message"]) for f in findings]

    assert rules(report["errors"]) == rules(expected["errors"])
    assert str(problem["detail"]).startswith(
        f"the flow is invalid: {expected['errors'][0]['rule']}"
    )
    assert app.store.list_runs() == []  # nothing was recorded


def test_validate_returns_the_cli_report_for_manifests_and_flows(app: App, tmp_path: Path) -> None:
    read = app.as_(app.keys.read)
    good = app.http.post("/api/v1/validate", json={"document": hello_flow()}, headers=read)
    assert good.status_code == 200 and good.json() == {"valid": True, "errors": [], "warnings": []}
    manifest: dict[str, object] = {"id": "x", "version": "1.0", "image": "a:latest"}
    manifest |= {"description": "d", "inputs": [], "outputs": []}
    answer = app.http.post("/api/v1/validate", json={"document": manifest}, headers=read)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    expected = validate_paths([path]).to_json()
    assert answer.status_code == 200
    report = answer.json()
    assert report["valid"] is False
    assert [e["rule"] for e in report["errors"]] == [e["rule"] for e in expected["errors"]]
    unknown_agent = quick_flow()
    unknown_agent["graph"]["nodes"].append({"id": "ghost", "type": "t.nowhere"})
    strict = app.http.post("/api/v1/validate", json={"document": unknown_agent}, headers=read)
    assert [e["rule"] for e in strict.json()["errors"]] == ["flow.agent-ref"]
    permissive = app.http.post(
        "/api/v1/validate", json={"document": unknown_agent, "mode": "permissive"}, headers=read
    )
    assert permissive.json()["valid"] is True
    assert [w["rule"] for w in permissive.json()["warnings"]] == ["flow.agent-ref"]
    unknown = app.http.post("/api/v1/validate", json={"document": {"a": 1}}, headers=read)
    assert unknown.json()["errors"][0]["rule"] == "load.unknown-kind"


def _chunks(size: int) -> Iterator[bytes]:
    for _ in range(size // 65536 + 1):
        yield b" " * 65536


def test_request_bodies_over_the_limit_are_413(tmp_path: Path) -> None:
    for app in make_app(tmp_path, max_body_bytes=1000):
        write = app.as_(app.keys.write)
        declared = app.http.post(
            "/api/v1/runs",
            content=b"x" * 2000,
            headers={**write, "content-type": "application/json"},
        )
        assert "1000 bytes" in str(_assert_problem(declared, 413)["detail"])
        streamed = app.http.post(
            "/api/v1/runs",
            content=_chunks(5000),
            headers={**write, "content-type": "application/json"},
        )
        _assert_problem(streamed, 413)
        small = app.http.post("/api/v1/runs", json={"flow": quick_flow()}, headers=write)
        assert small.status_code == 201


# Every endpoint with the scope it needs; None: open.
ENDPOINTS: list[tuple[str, str, str | None, dict[str, object] | None]] = [
    ("GET", "/healthz", None, None),
    ("GET", "/readyz", None, None),
    ("GET", "/metrics", "read", None),
    ("GET", "/openapi.json", "read", None),
    ("GET", "/api/v1/runs", "read", None),
    ("GET", "/api/v1/runs/r-none", "read", None),
    ("GET", "/api/v1/runs/r-none/events", "read", None),
    ("POST", "/api/v1/runs", "write", {"flow": quick_flow()}),
    ("POST", "/api/v1/runs/r-none/cancel", "write", None),
    ("POST", "/api/v1/validate", "read", {"document": quick_flow()}),
    ("GET", "/api/v1/agents", "read", None),
    ("GET", "/api/v1/agents/t.none", "read", None),
    ("POST", "/api/v1/agents", "write", {"manifest": {}, "location": "oci://t/none:1"}),
    ("DELETE", "/api/v1/agents/t.none", "write", None),
    ("GET", "/api/v1/flows", "read", None),
    ("GET", "/api/v1/flows/t.none", "read", None),
    ("POST", "/api/v1/flows", "write", {"flow": quick_flow()}),
    ("PUT", "/api/v1/flows/t.none", "write", {"flow": quick_flow("t.none")}),
    ("DELETE", "/api/v1/flows/t.none", "write", None),
    ("GET", "/api/v1/keys", "admin", None),
    ("POST", "/api/v1/keys", "admin", {"name": "another", "scopes": ["read"]}),
    ("DELETE", "/api/v1/keys/nobody", "admin", None),
    ("GET", "/api/v1/audit", "admin", None),
    ("GET", "/api/v1/audit/verify", "admin", None),
]
RANK = {"read": 0, "write": 1, "admin": 2}


@pytest.mark.parametrize(("method", "path", "needs", "body"), ENDPOINTS)
def test_every_endpoint_checks_keys_and_scopes(
    app: App, method: str, path: str, needs: str | None, body: dict[str, object] | None
) -> None:
    def call(key: str | None) -> object:
        return app.http.request(method, path, json=body, headers=app.as_(key))

    if needs is None:
        assert call(None).status_code == 200  # type: ignore[attr-defined]
        return
    for key, detail in ((None, "send an API key"), ("mlk_000000000000_" + "x" * 43, "unknown")):
        answer = call(key)
        problem = _assert_problem(answer, 401)
        assert detail in str(problem["detail"])
        assert answer.headers["www-authenticate"].startswith("Bearer")  # type: ignore[attr-defined]
    for scope in ("read", "write", "admin"):
        answer = call(getattr(app.keys, scope))
        if RANK[scope] < RANK[needs]:
            problem = _assert_problem(answer, 403)
            assert needs in str(problem["detail"])
        else:
            assert answer.status_code not in {401, 403}, answer.text  # type: ignore[attr-defined]


def test_mutations_and_auth_failures_are_audited_without_keys(app: App) -> None:
    write = app.as_(app.keys.write)
    created = app.http.post(
        "/api/v1/runs", json={"flow": quick_flow()}, headers={**write, "X-Request-ID": "req-42"}
    )
    assert created.status_code == 201 and created.headers["x-request-id"] == "req-42"
    run_id = created.json()["id"]
    assert created.headers["location"] == f"/api/v1/runs/{run_id}"
    denied = app.http.get("/api/v1/audit", headers=write)
    anonymous = app.http.post("/api/v1/runs/x/cancel", headers={"Authorization": "Bearer nope"})
    assert len(anonymous.headers["x-request-id"]) == 32  # generated when none was given
    app.http.get("/api/v1/runs", headers=app.as_(app.keys.read))  # a read: not audited
    admin = app.as_(app.keys.admin)
    entries = app.http.get("/api/v1/audit", headers=admin).json()["items"]
    newest = [(e["actor"], e["action"], e["resource"], e["outcome"]) for e in entries[:3]]
    writer = entries[2]["actor"]
    assert writer.startswith("key:write (")
    assert newest == [
        ("anonymous", "run.cancel", "/api/v1/runs/x/cancel", "denied"),
        (writer, "audit.list", "/api/v1/audit", "denied"),
        (writer, "run.create", f"runs/{run_id}", "success"),
    ]
    assert entries[2]["request_id"] == "req-42"
    assert entries[0]["request_id"] == anonymous.headers["x-request-id"]
    assert entries[1]["request_id"] == denied.headers["x-request-id"]
    everything = json.dumps(entries)
    for key in (app.keys.admin, app.keys.write, app.keys.read):
        assert key not in everything
    assert [e["action"] for e in entries[-3:]] == [
        "apikey.create",
        "apikey.create",
        "apikey.bootstrap",
    ]
    verified = app.http.get("/api/v1/audit/verify", headers=admin).json()
    assert verified["intact"] is True and verified["entries"] == len(entries)


def test_keys_are_created_listed_and_revoked_by_admins(app: App) -> None:
    admin = app.as_(app.keys.admin)
    created = app.http.post(
        "/api/v1/keys", json={"name": "ci", "scopes": ["write"]}, headers=admin
    ).json()
    assert created["key"].startswith("mlk_") and created["scopes"] == ["write"]
    assert app.http.get("/api/v1/runs", headers=app.as_(created["key"])).status_code == 200
    listed = app.http.get("/api/v1/keys", headers=admin).json()["items"]
    assert {k["name"] for k in listed} == {"admin", "write", "read", "ci"}
    assert all("key" not in k for k in listed)
    again = app.http.post("/api/v1/keys", json={"name": "ci", "scopes": ["read"]}, headers=admin)
    _assert_problem(again, 409)
    revoked = app.http.delete("/api/v1/keys/ci", headers=admin).json()
    assert revoked["revoked_at"] is not None
    _assert_problem(app.http.get("/api/v1/runs", headers=app.as_(created["key"])), 401)
    _assert_problem(app.http.delete("/api/v1/keys/nobody", headers=admin), 404)
    bad_name = app.http.post(
        "/api/v1/keys", json={"name": "admin", "scopes": ["read"]}, headers=admin
    )
    _assert_problem(bad_name, 422)


def test_health_readiness_and_metrics(tmp_path: Path) -> None:
    for app in make_app(tmp_path, metrics_open=True):
        assert app.http.get("/healthz").json() == {"status": "ok"}
        assert app.http.get("/readyz").json() == {"status": "ready"}
        app.http.get("/api/v1/runs/r-none", headers=app.as_(app.keys.read))
        metrics = app.http.get("/metrics")  # open: no key needed
        assert metrics.status_code == 200
        text = metrics.text
        assert 'route="/api/v1/runs/{run_id}",status="404"' in text
        assert 'route="<unmatched>"' not in text
        for name in (
            "mentatlab_runs_started_total",
            "mentatlab_runs_finished_total",
            "mentatlab_runs_queued",
            "mentatlab_nodes_finished_total",
            "mentatlab_node_duration_seconds",
            "mentatlab_node_retries_total",
            "mentatlab_event_lag_seconds",
            "mentatlab_http_request_duration_seconds_bucket",
        ):
            assert name in text


def test_readyz_is_503_when_the_store_does_not_answer(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable() -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(app.store, "read_transaction", unreachable)
    problem = _assert_problem(app.http.get("/readyz"), 503)
    assert problem["type"] == "urn:mentatlab:problem:store-unavailable"
    assert app.http.get("/healthz").status_code == 200


def test_docs_openapi_json_is_in_sync(app: App) -> None:
    served = app.http.get("/openapi.json", headers=app.as_(app.keys.read)).json()
    checked_in = json.loads((REPO / "docs" / "openapi.json").read_text())
    assert served == checked_in, "docs/openapi.json is stale: run tools/generate_openapi.py"


def test_a_bug_is_a_500_problem_naming_the_request(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.store, "list_runs", broken)
    answer = app.http.get(
        "/api/v1/runs", headers={**app.as_(app.keys.read), "X-Request-ID": "bug-1"}
    )
    problem = _assert_problem(answer, 500)
    assert problem["type"] == "urn:mentatlab:problem:internal"
    assert problem["request_id"] == "bug-1" == answer.headers["x-request-id"]
    assert "a bug" not in answer.text  # details stay in the server's log
