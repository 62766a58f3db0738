"""Agent identity on a real server: each attempt's token reports that attempt's events and
opens nothing else; secrets and tokens never reach the event stream, the store, the audit log
or the server's log (``docs/security.md``, "Agent identity" and "Secrets")."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from secret_harness import AGENTS, TOKEN, leak_flow, leaks, scan_files

from mentatlab.service.agent_tokens import (
    AGENT_TOKEN_AUDIENCE,
    AGENT_TOKEN_KEY_FILE,
    AgentTokenError,
    AgentTokens,
    load_or_create_key,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_harness import Server, free_port, sse_events

KEY = b"k" * 32


# --- tokens ---------------------------------------------------------------------------------


def test_a_token_names_its_attempt_and_expires() -> None:
    now = [1_000_000.0]
    tokens = AgentTokens(KEY, ttl_seconds=60, base_url="http://h:1", clock=lambda: now[0])
    identity = tokens.issue(run_id="r1", node_id="n[2]", attempt=3)
    assert identity.events_url == "http://h:1/api/v1/runs/r1/nodes/n%5B2%5D/events"
    assert identity.expires_at == "1970-01-12T13:47:40Z"
    claims = tokens.verify(identity.token)
    assert (claims.run_id, claims.node_id, claims.attempt) == ("r1", "n[2]", 3)
    assert "token=" not in repr(identity) and identity.token not in repr(identity)

    now[0] += 60
    with pytest.raises(AgentTokenError, match="expired"):
        tokens.verify(identity.token)


@pytest.mark.parametrize(
    "forged",
    [
        jwt.encode({"run": "r", "node": "n", "attempt": 1, "exp": 2**33}, b"x" * 32),
        jwt.encode({"iss": "mentatlab", "aud": "other", "sub": "s", "iat": 1, "exp": 2**33}, KEY),
        jwt.encode(
            {
                "iss": "mentatlab",
                "aud": AGENT_TOKEN_AUDIENCE,
                "sub": "s",
                "iat": 1,
                "exp": 2**33,
                "run": "r",
                "node": "n",
                "attempt": 1,
            },
            "",
            algorithm="none",
        ),
        "mlk_0123456789ab_notajwt",
        "",
    ],
    ids=["other-key", "other-audience", "alg-none", "api-key", "empty"],
)
def test_forged_tokens_are_refused(forged: str) -> None:
    with pytest.raises(AgentTokenError) as caught:
        AgentTokens(KEY).verify(forged)
    assert forged not in str(caught.value) or not forged


def test_the_key_is_created_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "home" / AGENT_TOKEN_KEY_FILE
    key = load_or_create_key(path)
    assert len(key) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    assert load_or_create_key(path) == key
    assert path.stat().st_mode & 0o777 == 0o600


# --- on a real server -----------------------------------------------------------------------


@pytest.fixture
def secure_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A ``mentatctl serve`` with the test agents and API_TOKEN in its environment."""
    monkeypatch.setenv("MENTATLAB_SECRET_API_TOKEN", TOKEN)
    monkeypatch.delenv("MENTATLAB_SECRETS_FILE", raising=False)
    agents = tmp_path / "agents"
    shutil.copytree(AGENTS, agents)
    server = Server(home=tmp_path / "home", agents=agents, log=tmp_path / "server.log")
    server.port = free_port()
    server.start()
    yield server
    if server.process is not None:
        server.stop()


def _reporter_flow(token_file: Path) -> dict[str, Any]:
    return {
        "apiVersion": "mentatlab.io/v1",
        "kind": "Flow",
        "meta": {"id": "sec.http", "name": "http"},
        "graph": {
            "nodes": [
                {
                    "id": "report",
                    "type": "sec.http-reporter",
                    "params": {"token_file": str(token_file)},
                },
            ],
            "edges": [],
        },
    }


def _finished(server: Server, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    with server.http(server.admin_key) as http:
        while time.monotonic() < deadline:
            record: dict[str, Any] = http.get(f"/api/v1/runs/{run_id}").json()
            if record["status"] in ("succeeded", "failed", "cancelled"):
                return record
            time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


def _stream(server: Server, run_id: str) -> str:
    """The whole SSE stream of a finished run, raw."""
    with (
        server.http(server.admin_key) as http,
        http.stream("GET", f"/api/v1/runs/{run_id}/events") as response,
    ):
        return "\n".join(response.iter_lines())


def test_an_attempt_reports_over_http_with_its_token_and_nothing_more(
    secure_server: Server, tmp_path: Path
) -> None:
    server = secure_server
    token_file = tmp_path / "token"
    with server.http(server.admin_key) as http:
        created = http.post("/api/v1/runs", json={"flow": _reporter_flow(token_file)})
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
    record = _finished(server, run_id)
    assert record["status"] == "succeeded", record
    node = record["nodes"]["report"]
    assert node["outputs"]["via_http"] == "reported"  # an output reported over HTTP counts
    assert node["outputs"]["probes"] == {
        "own": 202,
        "other_node": 403,
        "other_run": 403,
        "read_own_run": 401,  # an agent token is no API key
        "list_runs": 401,
        "no_token": 401,
        "bad_event": 422,
    }
    stream = _stream(server, run_id)
    events = [e["data"] for e in sse_events(iter([*stream.splitlines(), ""])) if "data" in e]
    over_http = ("hello over HTTP", "halfway, over HTTP")
    reported = [e for e in events if e.get("data", {}).get("message") in over_http]
    assert [(e["type"], e["node"], e["attempt"]) for e in reported] == [
        ("log", "report", 1),
        ("progress", "report", 1),
    ]

    token = token_file.read_text()
    url = f"{server.url}/api/v1/runs/{run_id}/nodes/report/events"
    body = {"events": [{"type": "log", "message": "too late"}]}
    auth = {"Authorization": f"Bearer {token}"}
    # The attempt ended: its token, although unexpired, reports nothing any more.
    late = httpx.post(url, json=body, headers=auth)
    assert late.status_code == 403
    assert late.headers["content-type"] == "application/problem+json"
    assert late.json()["type"] == "urn:mentatlab:problem:attempt-ended"
    # Tokens the server's own key signs, but expired or for another attempt.
    key = (server.home / AGENT_TOKEN_KEY_FILE).read_bytes()
    assert (server.home / AGENT_TOKEN_KEY_FILE).stat().st_mode & 0o777 == 0o600
    expired = AgentTokens(key, ttl_seconds=-5).issue(run_id=run_id, node_id="report", attempt=1)
    answer = httpx.post(url, json=body, headers={"Authorization": f"Bearer {expired.token}"})
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]
    assert "invalid_token" in answer.headers["www-authenticate"]
    other = AgentTokens(key).issue(run_id=run_id, node_id="report", attempt=2)
    answer = httpx.post(url, json=body, headers={"Authorization": f"Bearer {other.token}"})
    assert answer.status_code == 403
    # The token opens no other endpoint.
    for method, path in [
        ("GET", f"/api/v1/runs/{run_id}"),
        ("GET", f"/api/v1/runs/{run_id}/events"),
        ("POST", f"/api/v1/runs/{run_id}/cancel"),
        ("GET", "/api/v1/keys"),
        ("GET", "/api/v1/audit"),
    ]:
        assert httpx.request(method, server.url + path, headers=auth).status_code == 401, path

    # Never logged, stored, streamed or audited.
    with server.http(server.admin_key) as http:
        audit = http.get("/api/v1/audit", params={"limit": 200}).text
    assert "agent:" + run_id + "/report#1" in audit
    server.stop()
    for name, text in [
        ("stream", stream),
        ("audit", audit),
        ("server log", server.log.read_text()),
    ]:
        assert token not in text and server.admin_key not in text, name
        assert expired.token not in text, name
    store = [server.home / n for n in ("store.db", "store.db-wal", "store.db-shm")]
    for path in store:
        if path.is_file():
            data = path.read_bytes()
            assert token.encode() not in data and server.admin_key.encode() not in data, path
            # Not even the token's signature, which is what a forger would need.
            assert token.rsplit(".", 1)[1].encode() not in data, path


def test_secrets_never_reach_the_event_stream_or_the_server(secure_server: Server) -> None:
    server = secure_server
    with server.http(server.admin_key) as http:
        created = http.post("/api/v1/runs", json={"flow": leak_flow()})
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
    record = _finished(server, run_id)
    assert record["status"] == "succeeded", record
    assert record["nodes"]["user"]["outputs"]["result"] == "<[REDACTED:API_TOKEN]>"
    stream = _stream(server, run_id)
    assert "the token is [REDACTED:API_TOKEN]" in stream
    assert leaks(stream.encode()) == []
    assert leaks(json.dumps(record).encode()) == []
    server.stop()
    home = server.home
    assert (
        scan_files(server.log, home / "store.db", home / "store.db-wal", home / "store.db-shm")
        == {}
    )


def test_a_server_run_missing_a_secret_fails_with_a_clear_error(
    secure_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = secure_server
    flow = leak_flow()
    flow["runConfig"]["secrets"].append("NOT_SET_ANYWHERE")
    with server.http(server.admin_key) as http:
        run_id = http.post("/api/v1/runs", json={"flow": flow}).json()["id"]
    record = _finished(server, run_id)
    assert record["status"] == "failed"
    assert record["error"]["reason"] == "secret_missing"
    assert "NOT_SET_ANYWHERE" in record["error"]["message"]
    assert all(node["attempts"] == 0 for node in record["nodes"].values())
