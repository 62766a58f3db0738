"""Schemathesis against a real server: requests generated from /openapi.json never get a 500."""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from api_harness import Server
from hypothesis import HealthCheck, given, settings

from mentatlab.service.agent_tokens import AGENT_TOKEN_KEY_FILE, AgentTokens

EXAMPLES_PER_OPERATION = 20
AGENT_EVENTS = "/api/v1/runs/{run_id}/nodes/{node_id}/events"


def test_generated_requests_never_get_a_server_error(server: Server) -> None:
    auth = {"Authorization": f"Bearer {server.admin_key}"}
    spec = httpx.get(f"{server.url}/openapi.json", headers=auth, timeout=30).json()
    # The agent events endpoint takes an attempt token, not an API key: one for the path's
    # run and node gets the generated bodies past authentication, into the event parser.
    signing_key = (server.home / AGENT_TOKEN_KEY_FILE).read_bytes()
    agent = AgentTokens(signing_key).issue(run_id="r1", node_id="n1", attempt=1)
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err would raise here
        operations += 1

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def exercise(case: schemathesis.Case[Any]) -> None:
            if case.path == AGENT_EVENTS:
                case.path_parameters = {"run_id": "r1", "node_id": "n1"}
                case.headers["Authorization"] = f"Bearer {agent.token}"
            else:
                case.headers.update(auth)  # not the generated credentials
            response = case.call(base_url=server.url, timeout=30)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.text[:300]}")
            elif response.status_code >= 400:
                assert response.headers["content-type"] == ["application/problem+json"]

        exercise()
    assert operations >= 24  # runs, agent events, flows, agents, validation, keys, audit
    assert failures == []
