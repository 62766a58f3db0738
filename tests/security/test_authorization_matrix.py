"""The authorization matrix: every operation of a real server's OpenAPI document, called with
every kind of credential, answers 401, 403 or "let through" exactly as its rule says.

The operations come from the running server's own ``/openapi.json``, so an endpoint added
later is checked without anyone remembering to list it: its rule is derived from its path and
method (:func:`rule_for`), and a path no rule covers fails the test until someone decides
who may call it (``docs/security.md``, "Threat model").
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from mentatlab.api import Settings, create_app
from mentatlab.service.agent_tokens import AGENT_TOKEN_KEY_FILE, AgentTokens
from mentatlab.store import generate_key, open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_harness import Server, write_agents

API = "/api/v1"


class Rule(Enum):
    """Who may call an operation."""

    OPEN = "no credential needed"
    READ = "an API key with the read scope"
    WRITE = "an API key with the write scope"
    ADMIN = "an API key with the admin scope"
    AGENT = "the attempt's agent token, never an API key"


# Exceptions to "GET reads, anything else writes", by (method, path template).
EXCEPTIONS: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): Rule.OPEN,  # liveness probes carry no key
    ("GET", "/readyz"): Rule.OPEN,
    ("GET", "/metrics"): Rule.READ,  # unless the server runs with --metrics-open
    ("GET", "/openapi.json"): Rule.READ,
    ("POST", f"{API}/validate"): Rule.READ,  # checks a document, changes nothing
    ("POST", f"{API}/runs/{{run_id}}/nodes/{{node_id}}/events"): Rule.AGENT,
}
# Resource families under /api/v1 and the rule their operations follow otherwise. A family
# missing here fails the test: a new kind of resource needs a decision, not a default.
FAMILIES: dict[str, Rule | None] = {
    "runs": None,  # None: by method
    "flows": None,
    "agents": None,
    "keys": Rule.ADMIN,
    "audit": Rule.ADMIN,
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class UnclassifiedError(LookupError):
    pass


def rule_for(method: str, path: str) -> Rule:
    """The rule of one operation of the OpenAPI document."""
    if (method, path) in EXCEPTIONS:
        return EXCEPTIONS[(method, path)]
    family = path.removeprefix(f"{API}/").split("/", 1)[0]
    if not path.startswith(f"{API}/") or family not in FAMILIES:
        raise UnclassifiedError(
            f"{method} {path} is not classified: add it to EXCEPTIONS or its resource family "
            f"to FAMILIES in {Path(__file__).name}, after deciding who may call it"
        )
    return FAMILIES[family] or (Rule.READ if method in SAFE_METHODS else Rule.WRITE)


SCOPE_RANK = {"read": 1, "write": 2, "admin": 3}
RULE_RANK = {Rule.READ: 1, Rule.WRITE: 2, Rule.ADMIN: 3}
RUN_ID, NODE_ID = "0123456789abcdef0123456789abcdef", "worker"
"""Path values: a run that does not exist (404 once past authorization) and a node name."""
ABSENT = "sec-matrix-absent"


@dataclass(frozen=True)
class Credential:
    name: str
    header: str | None
    scope: str | None = None
    """The API key's scope; None: not a valid API key."""
    agent: bool = False
    """A valid agent token for RUN_ID/NODE_ID."""


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    security: list[str] | None

    def url(self) -> str:
        values = {"run_id": RUN_ID, "node_id": NODE_ID}
        return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), ABSENT), self.path)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("matrix")
    started = Server(home=root / "home", agents=write_agents(root / "agents"), log=root / "log")
    started.start()
    yield started
    if started.process is not None:
        started.stop()


@pytest.fixture(scope="module")
def credentials(server: Server) -> list[Credential]:
    with server.client() as admin:
        read = admin.create_key("matrix-read", ["read"]).key
        write = admin.create_key("matrix-write", ["write"]).key
        revoked = admin.create_key("matrix-revoked", ["admin"]).key
        admin.revoke_key("matrix-revoked")
    key_id = revoked.split("_")[1]
    signing_key = (server.home / AGENT_TOKEN_KEY_FILE).read_bytes()
    token = AgentTokens(signing_key).issue(run_id=RUN_ID, node_id=NODE_ID, attempt=1).token
    return [
        Credential("no key", None),
        Credential("scheme only", "Bearer"),
        Credential("not a key", "Bearer not-a-key"),
        Credential("basic scheme", f"Basic {server.admin_key}"),
        Credential("wrong secret", f"Bearer mlk_{key_id}_{'x' * 32}"),
        Credential("bare key", server.admin_key),
        Credential("revoked admin key", f"Bearer {revoked}"),
        Credential("read key", f"Bearer {read}", scope="read"),
        Credential("write key", f"Bearer {write}", scope="write"),
        Credential("admin key", f"Bearer {server.admin_key}", scope="admin"),
        Credential("agent token", f"Bearer {token}", agent=True),
    ]


@pytest.fixture(scope="module")
def operations(server: Server) -> list[Operation]:
    auth = {"Authorization": f"Bearer {server.admin_key}"}
    spec = httpx.get(f"{server.url}/openapi.json", headers=auth, timeout=30).json()
    found = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            security = operation.get("security")
            names = [name for item in security for name in item] if security else None
            found.append(Operation(method.upper(), path, names))
    return found


def expected(rule: Rule, credential: Credential) -> int | None:
    """401 or 403 when ``credential`` must be refused; None when it must be let through."""
    if rule is Rule.OPEN:
        return None
    if rule is Rule.AGENT:
        return None if credential.agent else 401
    if credential.scope is None:
        return 401  # an agent token is no API key either
    return None if SCOPE_RANK[credential.scope] >= RULE_RANK[rule] else 403


def test_every_operation_is_classified_and_documented_as_such(
    operations: list[Operation],
) -> None:
    unclassified, undocumented = [], []
    for operation in operations:
        try:
            rule = rule_for(operation.method, operation.path)
        except UnclassifiedError as exc:
            unclassified.append(str(exc))
            continue
        declared = {Rule.OPEN: None, Rule.AGENT: ["AgentToken"]}.get(rule, ["HTTPBearer"])
        if operation.security != declared:
            undocumented.append(
                f"{operation.method} {operation.path}: security {operation.security}, "
                f"rule {rule.name}"
            )
    assert unclassified == []
    assert undocumented == []  # the document tells clients which credential to send
    assert len(operations) >= 20
    # Every rule has an operation: the matrix exercises each kind of refusal.
    assert {rule_for(o.method, o.path) for o in operations} == set(Rule)


def test_the_authorization_matrix(
    server: Server, operations: list[Operation], credentials: list[Credential]
) -> None:
    mismatches = []
    checked = 0
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for operation in operations:
            rule = rule_for(operation.method, operation.path)
            for credential in credentials:
                headers = {"Authorization": credential.header} if credential.header else {}
                # No body: an admitted request fails validation (422) or finds nothing (404),
                # so the matrix changes nothing on the server.
                answer = http.request(operation.method, operation.url(), headers=headers)
                checked += 1
                if problem := _mismatch(answer, expected(rule, credential)):
                    mismatches.append(
                        f"{operation.method} {operation.path} ({rule.name}) with "
                        f"{credential.name}: {problem}"
                    )
    assert mismatches == []
    assert checked == len(operations) * len(credentials)


def _mismatch(answer: httpx.Response, want: int | None) -> str | None:
    got = answer.status_code
    if want is None:
        return f"refused with {got}: {answer.text[:200]}" if got in (401, 403) else None
    if got != want:
        return f"expected {want}, got {got}: {answer.text[:200]}"
    problem: dict[str, Any] = answer.json()
    slug = {401: "unauthenticated", 403: "insufficient-scope"}[want]
    if problem.get("type") != f"urn:mentatlab:problem:{slug}":
        return f"problem type {problem.get('type')!r}, expected {slug!r}"
    if "bearer" not in answer.headers.get("www-authenticate", "").lower():
        return "no WWW-Authenticate challenge"
    return None


def test_a_key_stops_working_when_revoked(server: Server) -> None:
    with server.client() as admin:
        key = admin.create_key("matrix-short-lived", ["read"]).key
    with server.http(key) as http:
        assert http.get(f"{API}/runs").status_code == 200
        with server.client() as admin:
            admin.revoke_key("matrix-short-lived")
        refused = http.get(f"{API}/runs")
    assert refused.status_code == 401
    assert refused.json()["detail"] == "the API key is unknown or revoked"
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert key not in refused.text


def test_agent_tokens_open_only_their_own_unexpired_attempt(server: Server) -> None:
    signing_key = (server.home / AGENT_TOKEN_KEY_FILE).read_bytes()
    body = {"events": [{"type": "log", "message": "hello"}]}
    url = f"{API}/runs/{RUN_ID}/nodes/{NODE_ID}/events"

    def post(token: str, path: str = url) -> httpx.Response:
        return httpx.post(
            server.url + path, json=body, headers={"Authorization": f"Bearer {token}"}
        )

    expired = AgentTokens(signing_key, ttl_seconds=-5).issue(
        run_id=RUN_ID, node_id=NODE_ID, attempt=1
    )
    answer = post(expired.token)
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]

    foreign = AgentTokens(generate_key().encode().ljust(32, b"k")).issue(
        run_id=RUN_ID, node_id=NODE_ID, attempt=1
    )
    assert post(foreign.token).status_code == 401  # signed by another server's key

    own = AgentTokens(signing_key).issue(run_id=RUN_ID, node_id=NODE_ID, attempt=1)
    other_node = post(own.token, f"{API}/runs/{RUN_ID}/nodes/other/events")
    assert other_node.status_code == 403
    assert other_node.json()["type"] == "urn:mentatlab:problem:wrong-attempt"
    # Its own node, but no such attempt is running: authenticated, and still refused.
    ended = post(own.token)
    assert ended.status_code == 403
    assert ended.json()["type"] == "urn:mentatlab:problem:attempt-ended"
    # An API key, even the admin's, is not an agent token.
    assert post(server.admin_key).status_code == 401


def test_metrics_can_be_opened_to_scrapers(tmp_path: Path) -> None:
    for metrics_open, status in [(False, 401), (True, 200)]:
        with open_store(tmp_path / str(metrics_open)) as store:
            app = create_app(Settings(store=store, metrics_open=metrics_open))
            with TestClient(app) as http:
                assert http.get("/metrics").status_code == status
                assert http.get(f"{API}/runs").status_code == 401  # nothing else opens
