"""``mentatctl … --server``: the CLI as a subprocess against a real server process."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from api_harness import (
    MENTATCTL,
    REPO,
    Keys,
    Server,
    free_port,
    quick_flow,
    ticker_flow,
    wait_until,
)

from mentatlab.model.run import RunStatus


def mentatctl(
    *args: str, server: Server | None = None, key: str | None = None, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTATLAB_")}
    if server is not None:
        env["MENTATLAB_SERVER"] = server.url
    if key is not None:
        env["MENTATLAB_API_KEY"] = key
    if home is not None:
        env["MENTATLAB_HOME"] = str(home)
    return subprocess.run(
        [MENTATCTL, *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


def write_flow(tmp_path: Path, flow: dict[str, Any]) -> Path:
    path = tmp_path / f"{flow['meta']['id']}.flow.json"
    path.write_text(json.dumps(flow))
    return path


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("mentatctl: ")
    assert text in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_run_on_the_server_follows_live_and_exits_as_locally(
    server: Server, keys: Keys, tmp_path: Path
) -> None:
    flow = write_flow(tmp_path, ticker_flow(steps=5, interval=0.05))
    text = mentatctl("run", str(flow), server=server, key=keys.write)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith("run ") and lines[0].endswith(" started")
    assert "tick succeeded" in text.stdout
    assert f"run {lines[0].split()[1]} succeeded" in text.stdout

    as_json = mentatctl("run", str(flow), "--output", "json", server=server, key=keys.write)
    assert as_json.returncode == 0, as_json.stderr
    record = json.loads(as_json.stdout)
    assert record["status"] == "succeeded"
    with server.client() as client:
        assert client.get_run(record["id"]).model_dump(mode="json") == record

    # An agent that fails fails the run: exit 1, as a local run.
    bad = write_flow(tmp_path, ticker_flow(steps=1, interval=0.0, flow_id="t.bad"))
    bad.write_text(bad.read_text().replace('"steps": 1', '"steps": "x"'))
    failed = mentatctl("run", str(bad), "--output", "json", server=server, key=keys.write)
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["status"] == "failed"


def test_runs_commands_act_on_the_server(server: Server, keys: Keys, tmp_path: Path) -> None:
    with server.client(keys.write) as client:
        quick = client.create_run(quick_flow())
        # Long enough to outlast the CLI calls below on a busy machine; cancelled at the end.
        slow = client.create_run(ticker_flow(steps=2000, interval=0.5))
    with server.client() as admin:
        wait_until(lambda: admin.get_run(quick.id).status is RunStatus.SUCCEEDED)

    listed = mentatctl("runs", "list", "--output", "json", server=server, key=keys.read)
    assert listed.returncode == 0, listed.stderr
    assert {quick.id, slow.id} <= {run["id"] for run in json.loads(listed.stdout)}

    got = mentatctl("runs", "get", quick.id, "--output", "json", server=server, key=keys.read)
    assert json.loads(got.stdout)["status"] == "succeeded"

    logs = mentatctl("runs", "logs", quick.id, server=server, key=keys.read)
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.splitlines()[-1].split()[2:4] == ["run.status", "succeeded"]
    # Without --follow, a run still going shows the events stored so far and the command ends.
    so_far = mentatctl("runs", "logs", slow.id, "--output", "json", server=server, key=keys.read)
    assert so_far.returncode == 0, so_far.stderr
    seen = [json.loads(line) for line in so_far.stdout.splitlines()]
    assert [event["seq"] for event in seen] == list(range(1, len(seen) + 1))
    assert seen[0]["type"] == "run.status"
    assert all(event["data"].get("status") != "cancelled" for event in seen)

    watcher = subprocess.Popen(
        [MENTATCTL, "runs", "watch", slow.id, "--output", "json", "--server", server.url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "MENTATLAB_API_KEY": keys.read},
    )
    assert watcher.stdout is not None
    first = json.loads(watcher.stdout.readline())  # events arrive while the run goes on
    assert first["seq"] == 1

    denied = mentatctl("runs", "cancel", slow.id, server=server, key=keys.read)
    assert_one_line_error(denied, 1, "403")
    cancelled = mentatctl("runs", "cancel", slow.id, server=server, key=keys.write)
    assert cancelled.returncode == 0, cancelled.stderr
    # Not communicate(): it reads the pipe itself, missing what readline() buffered.
    out = watcher.stdout.read()
    watcher.stdout.close()
    assert watcher.wait(timeout=60) == 1  # the run did not succeed
    seqs = [first["seq"]] + [json.loads(line)["seq"] for line in out.splitlines()]
    assert seqs == list(range(1, len(seqs) + 1))
    assert json.loads(out.splitlines()[-1])["data"]["status"] == "cancelled"

    again = mentatctl("runs", "cancel", slow.id, server=server, key=keys.write)
    assert_one_line_error(again, 1, "already finished")
    missing = mentatctl("runs", "get", "nosuchrun", server=server, key=keys.read)
    assert_one_line_error(missing, 1, "404")


def test_runs_watch_tails_the_local_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    flow = write_flow(tmp_path, quick_flow())
    ran = mentatctl("run", str(flow), "--output", "json", home=home)
    run_id = json.loads(ran.stdout)["id"]
    watched = mentatctl("runs", "watch", run_id, home=home)
    assert watched.returncode == 0, watched.stderr
    assert f"run {run_id} succeeded" in watched.stdout
    events = mentatctl("runs", "watch", run_id, "--output", "json", "--after", "1", home=home)
    assert next(json.loads(line)["seq"] for line in events.stdout.splitlines()) == 2


def test_apikey_and_audit_commands_act_on_the_server(server: Server, keys: Keys) -> None:
    created = mentatctl(
        "apikey", "create", "--name", "ci", "--scopes", "read", server=server, key=keys.admin
    )
    assert created.returncode == 0, created.stderr
    new_key = created.stdout.strip()
    assert new_key.startswith("mlk_")
    with server.client(new_key) as client:
        assert list(client.list_runs()) == []

    listed = mentatctl("apikey", "list", "--output", "json", server=server, key=keys.admin)
    assert "ci" in {key["name"] for key in json.loads(listed.stdout)}
    taken = mentatctl(
        "apikey", "create", "--name", "ci", "--scopes", "read", server=server, key=keys.admin
    )
    assert_one_line_error(taken, 1, "409")
    revoked = mentatctl("apikey", "revoke", "ci", server=server, key=keys.admin)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked API key 'ci'" in revoked.stdout
    twice = mentatctl("apikey", "revoke", "ci", server=server, key=keys.admin)
    assert "already revoked" in twice.stdout

    audit = mentatctl("audit", "list", "--output", "json", server=server, key=keys.admin)
    actions = [entry["action"] for entry in json.loads(audit.stdout)]
    assert "apikey.revoke" in actions
    verified = mentatctl("audit", "verify", server=server, key=keys.admin)
    assert verified.returncode == 0, verified.stderr
    assert "chain intact" in verified.stdout
    not_admin = mentatctl("audit", "verify", server=server, key=keys.write)
    assert_one_line_error(not_admin, 1, "403")


def test_usage_and_auth_errors_are_one_line(server: Server) -> None:
    for args, code, text in [
        (["runs", "list", "--db", "sqlite:///x.db"], 2, "--server and --db"),
        (["runs", "list"], 1, "401"),
        (["run", "nosuch.yaml"], 2, "no such file"),
        (["apikey", "create", "--name", "a b", "--scopes", "read"], 2, "invalid name"),
    ]:
        assert_one_line_error(mentatctl(*args, server=server, key="mlk_wrong"), code, text)


def test_an_unreachable_server_is_one_clear_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["runs", "list"], ["run", str(write_flow(tmp_path, quick_flow()))]):
        result = mentatctl(*args, "--server", url, "--api-key", "mlk_x")
        assert_one_line_error(result, 1, f"cannot connect to the server at {url}")
