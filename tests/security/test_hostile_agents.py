"""Hostile agents, as real processes run by the real engine (local driver, a real store):
floods of events, lines of megabytes, invalid UTF-8, fork bombs, and an agent that uses its
token against another run. Each is contained with a clear node error or a clear notice
(``docs/security.md``, "Threat model"; ``docs/protocol.md`` lists the limits)."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mentatlab.engine.drivers.base import DEFAULT_MAX_EVENTS, DEFAULT_MAX_PROCESSES
from mentatlab.engine.limits import (
    MAX_EVENTS_VARIABLE,
    MAX_PROCESSES_VARIABLE,
    execution_limits,
    limit_from_environment,
)
from mentatlab.model.manifest import AgentManifest
from mentatlab.testing.flows import FlowResult, run_flow

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_harness import Server, free_port

MiB = 1024 * 1024

MANIFEST = """\
apiVersion: mentatlab.io/v1
kind: Agent
id: hostile.{name}
version: 1.0.0
description: a hostile agent
command: [python, main.py]
inputs: []
outputs: [{{name: result, type: json}}]
resources: {{timeoutSeconds: 120}}
"""

AGENTS = {
    # 100,000 lines as fast as it can, on stdout and stderr, then its result.
    "flood": """
        import json, sys
        sys.stdin.read()
        for i in range(100_000):
            (sys.stdout if i % 2 else sys.stderr).write(f"line {i}\\n")
        print(json.dumps({"type": "output", "pin": "result", "value": "survived"}))
    """,
    # One line of 3 MiB (accepted), then one of 40 MB without a newline (refused).
    "long-lines": """
        import json, sys
        envelope = json.loads(sys.stdin.read())
        value = "v" * (3 * 1024 * 1024)
        print(json.dumps({"type": "output", "pin": "result", "value": value}), flush=True)
        if envelope["params"].get("huge"):
            sys.stdout.write("x" * 40_000_000)
            sys.stdout.flush()
    """,
    # Bytes that are not UTF-8, inside and outside JSON, on both streams.
    "bad-utf8": """
        import os, sys
        sys.stdin.read()
        os.write(1, b"\\xff\\xfe plain text\\n")
        os.write(2, b"stderr \\xc3\\x28\\n")
        os.write(1, b'{"type": "log", "message": "caf\\xe9"}\\n')
        os.write(1, b'{"type": "output", "pin": "result", "value": "na\\xefve"}\\n')
    """,
    # Forks sleeping children without end (a cap of 600 protects the test machine should
    # the engine fail): some leave the process group, some orphan a grandchild.
    "fork-bomb": """
        import os, sys, time
        sys.stdin.read()
        pids = open("pids.txt", "a")
        for i in range(600):
            pid = os.fork()
            if pid == 0:
                if i % 3 == 0:
                    os.setpgid(0, 0)
                elif i % 3 == 1 and os.fork() != 0:
                    os._exit(0)  # its child lives on, an orphan
                pids.write(f"{os.getpid()}\\n")
                pids.flush()
                time.sleep(120)
                os._exit(0)
        time.sleep(120)
    """,
}


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    for name, source in AGENTS.items():
        directory = root / name
        directory.mkdir()
        (directory / "manifest.yaml").write_text(MANIFEST.format(name=name))
        (directory / "main.py").write_text(textwrap.dedent(source))
    return root


def run_one(agents: Path, tmp_path: Path, name: str, **params: Any) -> FlowResult:
    flow = {
        "apiVersion": "mentatlab.io/v1",
        "kind": "Flow",
        "meta": {"id": f"hostile.{name}", "name": name},
        "graph": {
            "nodes": [{"id": "x", "type": f"hostile.{name}", "params": params}],
            "edges": [],
        },
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(flow))
    return run_flow(path, agents=[agents], home=tmp_path / "home")


def logs(result: FlowResult) -> list[str]:
    return [str(event.data["message"]) for event in result.events_of(node="x", type="log")]


def test_limits_have_defaults_and_come_from_the_environment() -> None:
    manifest = AgentManifest.model_validate(
        {"id": "t.a", "version": "1.0.0", "description": "d", "command": ["x"]}
    )
    limits = execution_limits(manifest)
    assert (limits.max_events, limits.max_processes) == (DEFAULT_MAX_EVENTS, 256)
    assert limit_from_environment(MAX_PROCESSES_VARIABLE, 256, {MAX_PROCESSES_VARIABLE: "9"}) == 9
    assert limit_from_environment(MAX_EVENTS_VARIABLE, 5, {MAX_EVENTS_VARIABLE: "0"}) is None
    assert limit_from_environment(MAX_EVENTS_VARIABLE, 5, {MAX_EVENTS_VARIABLE: "lots"}) == 5
    assert DEFAULT_MAX_PROCESSES == 256


def test_a_flood_of_lines_is_cut_short_and_the_run_goes_on(
    agents: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAX_EVENTS_VARIABLE, "500")
    tracemalloc.start()
    try:
        result = run_one(agents, tmp_path, "flood")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    result.assert_succeeded()
    assert result.node("x").outputs == {"result": "survived"}  # read past the limit
    messages = logs(result)
    assert len(messages) == 501  # 500 lines and one notice; the log holds no more
    assert all(message.startswith("line ") for message in messages[:500])
    assert messages[-1].startswith("event limit: more than 500 events from this attempt")
    assert peak < 64 * MiB  # nothing of the 100,000 lines accumulates


def test_a_line_of_megabytes_is_read_and_one_too_long_fails_the_node(
    agents: Path, tmp_path: Path
) -> None:
    accepted = run_one(agents, tmp_path / "ok", "long-lines")
    accepted.assert_succeeded()
    assert len(accepted.node("x").outputs["result"]) == 3 * MiB

    tracemalloc.start()
    try:
        refused = run_one(agents, tmp_path / "huge", "long-lines", huge=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    error = refused.node("x").error
    assert error is not None
    assert error.reason == "output_limit"
    assert "wrote a line longer than 8388608 bytes" in error.message
    assert peak < 40 * MiB  # at most one line's limit of the 40 MB is held


def test_invalid_utf8_is_replaced_never_fatal(agents: Path, tmp_path: Path) -> None:
    result = run_one(agents, tmp_path, "bad-utf8")
    result.assert_succeeded()
    assert result.node("x").outputs == {"result": "na\ufffdve"}
    messages = logs(result)
    assert "\ufffd\ufffd plain text" in messages
    assert "stderr \ufffd(" in messages
    assert "caf\ufffd" in messages


def test_a_fork_bomb_is_stopped_at_the_process_limit(
    agents: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAX_PROCESSES_VARIABLE, "30")
    pids_file = agents / "fork-bomb" / "pids.txt"
    pids_file.unlink(missing_ok=True)
    result = run_one(agents, tmp_path, "fork-bomb")
    error = result.node("x").error
    assert error is not None
    assert error.reason == "process_limit"
    assert "process limit: ran more than 30 processes at once" in error.message
    assert result.node("x").attempts == 1  # no retry policy: one attempt, then the verdict
    pids = [int(line) for line in pids_file.read_text().split()]
    assert len(pids) >= 20  # it did fork: what it forked is what must be gone
    survivors = [pid for pid in pids if _alive(pid)]
    assert survivors == []


def _alive(pid: int, within: float = 10.0) -> bool:
    """Whether ``pid`` still runs after ``within`` seconds (a zombie counts as gone)."""
    deadline = time.monotonic() + within
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        if state in {"Z", "X"} or time.monotonic() > deadline:
            return state not in {"Z", "X"}
        time.sleep(0.05)


# --- an agent's token against another run ---------------------------------------------------

WAITER = """
import json, os, sys, time
envelope = json.loads(sys.stdin.read())
release = envelope["params"]["release"]
while not os.path.exists(release):
    print(json.dumps({"type": "heartbeat"}), flush=True)
    time.sleep(0.05)
print(json.dumps({"type": "output", "pin": "result", "value": "untouched"}), flush=True)
"""

INTRUDER = """
import json, sys, urllib.error, urllib.request
envelope = json.loads(sys.stdin.read())
token, url = envelope["identity"]["token"], envelope["identity"]["events_url"]
base = url.split("/api/v1/")[0]
victim = envelope["params"]["victim"]

def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        "Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code

inject = {"events": [{"type": "output", "pin": "result", "value": "forged"}]}
print(json.dumps({"type": "output", "pin": "result", "value": {
    "inject_into_victim": call("POST", f"/api/v1/runs/{victim}/nodes/wait/events", inject),
    "read_victim": call("GET", f"/api/v1/runs/{victim}"),
    "stream_victim": call("GET", f"/api/v1/runs/{victim}/events"),
    "cancel_victim": call("POST", f"/api/v1/runs/{victim}/cancel"),
    "list_runs": call("GET", "/api/v1/runs"),
    "list_keys": call("GET", "/api/v1/keys"),
}}), flush=True)
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    agents = tmp_path / "agents"
    for name, source in [("waiter", WAITER), ("intruder", INTRUDER)]:
        (agents / name).mkdir(parents=True)
        (agents / name / "manifest.yaml").write_text(MANIFEST.format(name=name))
        (agents / name / "main.py").write_text(source)
    started = Server(home=tmp_path / "home", agents=agents, log=tmp_path / "server.log")
    started.port = free_port()
    started.start()
    yield started
    if started.process is not None:
        started.stop()
    shutil.rmtree(agents)


def _flow(name: str, node: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "mentatlab.io/v1",
        "kind": "Flow",
        "meta": {"id": f"hostile.{name}", "name": name},
        "graph": {
            "nodes": [{"id": node, "type": f"hostile.{name}", "params": params}],
            "edges": [],
        },
    }


def _finished(http: httpx.Client, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        record: dict[str, Any] = http.get(f"/api/v1/runs/{run_id}").json()
        if record["status"] in ("succeeded", "failed", "cancelled"):
            return record
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


def test_an_agent_token_cannot_reach_another_run(server: Server, tmp_path: Path) -> None:
    release = tmp_path / "release"
    with server.http(server.admin_key) as http:
        victim = http.post(
            "/api/v1/runs", json={"flow": _flow("waiter", "wait", {"release": str(release)})}
        ).json()["id"]
        # The victim's attempt is running (and so accepting its own token) during the attack.
        while http.get(f"/api/v1/runs/{victim}").json()["nodes"]["wait"]["status"] != "running":
            time.sleep(0.05)
        intruder = http.post(
            "/api/v1/runs", json={"flow": _flow("intruder", "attack", {"victim": victim})}
        ).json()["id"]
        attack = _finished(http, intruder)
        release.touch()
        victim_record = _finished(http, victim)
        victim_events = http.get(f"/api/v1/runs/{victim}/events").text
    assert attack["status"] == "succeeded", attack
    assert attack["nodes"]["attack"]["outputs"]["result"] == {
        "inject_into_victim": 403,  # a valid token, for another run's node
        "read_victim": 401,  # an agent token is no API key
        "stream_victim": 401,
        "cancel_victim": 401,
        "list_runs": 401,
        "list_keys": 401,
    }
    assert victim_record["status"] == "succeeded"
    assert victim_record["nodes"]["wait"]["outputs"] == {"result": "untouched"}
    assert "forged" not in victim_events
