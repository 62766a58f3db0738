"""The run store seen through the CLI: runs list/get/logs/cancel, crashes, scaffolding."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from cli_harness import MENTATCTL, REPO, Cli

SLOW_AGENT = """\
apiVersion: mentatlab.io/v1
kind: Agent
id: t.slow
version: 1.0.0
description: sleeps
command: [python, main.py]
inputs: []
outputs: [{name: done, type: boolean}]
"""

SLOW_MAIN = """\
import json, os, sys, time
sys.stdin.read()
with open("agent.pid", "w") as pid_file:
    pid_file.write(str(os.getpid()))
print(json.dumps({"type": "progress", "percent": 10}), flush=True)
time.sleep(60)
"""

SLOW_FLOW = """\
apiVersion: mentatlab.io/v1
kind: Flow
meta: {id: t.slow-flow, name: slow}
graph:
  nodes: [{id: nap, type: t.slow}, {id: after, type: ui.console}]
  edges: [{from: nap.done, to: after.done}]
"""


def _slow_flow(tmp_path: Path) -> Path:
    agent = tmp_path / "agents" / "slow"
    agent.mkdir(parents=True)
    (agent / "manifest.yaml").write_text(SLOW_AGENT)
    (agent / "main.py").write_text(SLOW_MAIN)
    flow = tmp_path / "slow.flow.yaml"
    flow.write_text(SLOW_FLOW)
    return flow


def _start_run(flow: Path, home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "MENTATLAB_HOME": str(home)}
    return subprocess.Popen(
        [MENTATCTL, "run", str(flow)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for_running_node(cli: Cli) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listing = cli("runs", "list", "--output", "json")
        if listing.returncode == 0 and json.loads(listing.stdout):
            run_id = json.loads(listing.stdout)[0]["id"]
            record = json.loads(cli("runs", "get", run_id, "--output", "json").stdout)
            if record["nodes"]["nap"]["status"] == "running" and record["nodes"]["nap"]["progress"]:
                return str(run_id)
        time.sleep(0.2)
    raise AssertionError("the run never started its node")


def _gone(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_runs_list_get_and_logs_show_a_finished_run(cli: Cli) -> None:
    ran = cli("run", "examples/hello.flow.yaml", "--output", "json")
    run_id = json.loads(ran.stdout)["id"]
    listing = cli("runs", "list")
    assert run_id in listing.stdout and "succeeded" in listing.stdout
    shown = cli("runs", "get", run_id)
    assert "mood" in shown.stdout and "report.sentiment = positive" in shown.stdout
    logs = cli("runs", "logs", run_id, "--output", "json")
    events = [json.loads(line) for line in logs.stdout.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "run.status" and events[-1]["data"]["status"] == "succeeded"
    later = cli("runs", "logs", run_id, "--after", str(len(events) - 1), "--output", "json")
    assert len(later.stdout.splitlines()) == 1


def test_unknown_run_ids_are_clear_errors(cli: Cli) -> None:
    for verb in ("get", "logs", "cancel"):
        result = cli("runs", verb, "r-does-not-exist")
        assert result.returncode == 1
        assert "no run 'r-does-not-exist'" in result.stderr


def test_cancel_from_another_process_stops_the_run(cli: Cli, home: Path, tmp_path: Path) -> None:
    process = _start_run(_slow_flow(tmp_path), home)
    try:
        run_id = _wait_for_running_node(cli)
        assert cli("runs", "cancel", run_id).returncode == 0
        assert process.wait(timeout=30) == 1
    finally:
        process.kill()
        process.communicate()
    record = json.loads(cli("runs", "get", run_id, "--output", "json").stdout)
    assert record["status"] == "cancelled"
    assert record["nodes"]["nap"]["status"] == "cancelled"
    assert record["nodes"]["after"]["status"] == "cancelled"
    again = cli("runs", "cancel", run_id)
    assert again.returncode == 1 and "already finished" in again.stderr


def test_sigterm_to_mentatctl_cancels_cleanly(cli: Cli, home: Path, tmp_path: Path) -> None:
    process = _start_run(_slow_flow(tmp_path), home)
    try:
        run_id = _wait_for_running_node(cli)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 1
    finally:
        process.kill()
        process.communicate()
    assert json.loads(cli("runs", "get", run_id, "--output", "json").stdout)["status"] == (
        "cancelled"
    )


def test_killed_mentatctl_leaves_no_run_running(cli: Cli, home: Path, tmp_path: Path) -> None:
    process = _start_run(_slow_flow(tmp_path), home)
    try:
        run_id = _wait_for_running_node(cli)
        process.kill()  # SIGKILL: no chance to clean up
        process.wait(timeout=10)
    finally:
        process.kill()
        process.communicate()
    agent_pid = int((tmp_path / "agents" / "slow" / "agent.pid").read_text())
    assert _gone(agent_pid), "the agent outlived the mentatctl process running it"
    record = json.loads(cli("runs", "get", run_id, "--output", "json").stdout)
    assert record["status"] == "failed"
    assert record["error"]["reason"] == "interrupted"
    assert record["nodes"]["nap"]["status"] == "failed"
    assert record["nodes"]["after"]["status"] == "skipped"
    events = json.loads(
        "[" + ",".join(cli("runs", "logs", run_id, "--output", "json").stdout.splitlines()) + "]"
    )
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    # the store is still healthy: a new run works
    assert cli("run", "examples/hello.flow.yaml").returncode == 0


def test_agent_init_scaffolds_a_cogpak_that_validates_runs_and_tests(
    cli: Cli, tmp_path: Path
) -> None:
    created = cli("agent", "init", "acme.greeter", "--lang", "python", "--dir", str(tmp_path))
    assert created.returncode == 0, created.stderr
    cogpak = tmp_path / "acme.greeter"
    assert cli("validate", str(cogpak)).returncode == 0
    ran = cli("run", str(cogpak / "example.flow.yaml"), "--output", "json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["outputs"]["show"] == {
        "result": "Hi, MentatLab agents run in seconds",
        "words": 5,
    }
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(cogpak)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout
    again = cli("agent", "init", "acme.greeter", "--dir", str(tmp_path))
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = cli("agent", "init", "Bad Name!", "--dir", str(tmp_path))
    assert bad.returncode == 2


def test_validate_exit_codes_and_json_report(cli: Cli, tmp_path: Path) -> None:
    assert cli("validate", "agents/echo", "examples/hello.flow.yaml").returncode == 0
    missing = cli("validate", "nowhere.yaml")
    assert missing.returncode == 2 and "nowhere.yaml" in missing.stderr
    bad = tmp_path / "manifest.yaml"
    bad.write_text(
        "id: x\nversion: 1.0\nimage: a:latest\ndescription: d\ninputs: []\noutputs: []\n"
    )
    result = cli("validate", str(bad), "--output", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert set(report["errors"][0]) == {"file", "path", "line", "rule", "message"}
    assert any(e["rule"].startswith("schema.") and e["line"] == 2 for e in report["errors"])
    permissive = cli(
        "validate",
        str(REPO.parent / "shared/compat/mentatlab-original/agents/psyche-sim.manifest.yaml"),
        "--mode",
        "permissive",
    )
    assert permissive.returncode == 0


def test_concurrent_mentatctl_processes_share_one_store(cli: Cli, home: Path) -> None:
    env = {**os.environ, "MENTATLAB_HOME": str(home)}
    processes = [
        subprocess.Popen(
            [MENTATCTL, "run", "examples/fanout.flow.yaml", "--output", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    run_ids = {json.loads(stdout)["id"] for stdout, _ in outputs}
    assert len(run_ids) == 3
    for run_id in run_ids:
        logs = cli("runs", "logs", run_id, "--output", "json").stdout.splitlines()
        assert [json.loads(line)["seq"] for line in logs] == list(range(1, len(logs) + 1))
        record = json.loads(cli("runs", "get", run_id, "--output", "json").stdout)
        assert record["status"] == "succeeded"
