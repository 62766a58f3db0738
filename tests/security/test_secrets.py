"""Run secrets: resolution, delivery to the agents that may receive them, and redaction from
everything MentatLab records or prints (``docs/security.md``, "Secrets")."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from secret_harness import AGENTS, FRAGMENTS, PEM, TOKEN, leak_flow, leaks, scan_files, write_flow

from mentatlab.engine.redaction import Redactor
from mentatlab.engine.secrets import (
    EnvironmentSecrets,
    MappingSecrets,
    MissingSecretsError,
    RunSecrets,
    SecretsFileError,
    chain_sources,
    load_secrets_file,
    resolve_secrets,
)
from mentatlab.model.manifest import AgentManifest
from mentatlab.model.protocol import ErrorEvent, LogEvent, OutputEvent, ProgressEvent
from mentatlab.sdk import Context, FatalError
from mentatlab.sdk._writer import EventWriter

MENTATCTL = str(Path(sys.executable).with_name("mentatctl"))


def _manifest(**fields: object) -> AgentManifest:
    base = {"id": "t.a", "version": "1.0.0", "description": "t", "command": ["true"]}
    return AgentManifest.model_validate(base | fields)


# --- resolution -----------------------------------------------------------------------------


def test_environment_source_uses_the_prefixed_variable_only() -> None:
    source = EnvironmentSecrets({"MENTATLAB_SECRET_API_TOKEN": "v", "PATH": "/bin", "EMPTY": ""})
    assert resolve_secrets(["API_TOKEN"], source) == {"API_TOKEN": "v"}
    with pytest.raises(MissingSecretsError) as caught:
        resolve_secrets(["PATH", "API_TOKEN", "bad-name"], source)
    assert caught.value.names == ("PATH", "bad-name")
    assert "$MENTATLAB_SECRET_PATH" in str(caught.value)


def test_an_empty_value_counts_as_missing() -> None:
    with pytest.raises(MissingSecretsError):
        resolve_secrets(["A"], EnvironmentSecrets({"MENTATLAB_SECRET_A": ""}))


def test_the_file_wins_over_the_environment() -> None:
    environ = {
        "MENTATLAB_SECRET_A": "env",  # pragma: allowlist secret
        "MENTATLAB_SECRET_B": "env-b",  # pragma: allowlist secret
    }
    source = chain_sources(
        MappingSecrets({"A": "from-file"}, "secrets file f"), EnvironmentSecrets(environ)
    )
    assert resolve_secrets(["A", "B"], source) == {"A": "from-file", "B": "env-b"}
    with pytest.raises(
        MissingSecretsError, match=r"key C of secrets file f or \$MENTATLAB_SECRET_C"
    ):
        resolve_secrets(["C"], source)


@pytest.mark.parametrize(
    "text",
    [
        'A: "x: y"\nB: two\n',
        "# comment\nexport A='x: y'\nB=two\n",
    ],
    ids=["yaml", "dotenv"],
)
def test_secrets_file_formats(tmp_path: Path, text: str) -> None:
    path = tmp_path / "secrets"
    path.write_text(text)
    path.chmod(0o600)
    source, warnings = load_secrets_file(path)
    assert warnings == []
    assert resolve_secrets(["A", "B"], source) == {"A": "x: y", "B": "two"}


def test_a_secrets_file_others_can_read_is_used_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "secrets"
    path.write_text("A=1\n")
    path.chmod(0o644)
    _, warnings = load_secrets_file(path)
    assert warnings and "mode 0644" in warnings[0] and "chmod 600" in warnings[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A: [s3cr3t-list]\n", "must be a string"),
        ("- s3cr3t-item\n", "must map secret names"),
        ("A: s3cr3t\n  b: [\n", "neither a YAML mapping"),
        ("bad-name: s3cr3t\n", "not a secret name"),
    ],
)
def test_a_malformed_secrets_file_is_refused_without_quoting_it(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "secrets"
    path.write_text(text)
    with pytest.raises(SecretsFileError, match=message) as caught:
        load_secrets_file(path)
    assert "s3cr3t" not in str(caught.value)


# --- who receives what ----------------------------------------------------------------------


def test_only_agents_declaring_the_capability_receive_secrets() -> None:
    secrets = RunSecrets({"A": "1", "B": "2"})
    assert secrets.for_agent(_manifest()) == ({}, ())
    assert secrets.for_agent(_manifest(capabilities={"secrets": True})) == (
        {"A": "1", "B": "2"},
        (),
    )
    legacy = _manifest(protocol="legacy", capabilities={"secrets": True})
    assert secrets.for_agent(legacy) == ({}, ("A", "B"))


def test_a_policy_decides_which_secret_an_agent_may_receive() -> None:
    secrets = RunSecrets({"A": "1", "B": "2"}, allow=lambda agent, name: name == "B")
    assert secrets.for_agent(_manifest(capabilities={"secrets": True})) == ({"B": "2"}, ("A",))


# --- redaction ------------------------------------------------------------------------------


def test_redaction_covers_plain_json_escaped_multiline_and_cut_off_forms() -> None:
    redactor = Redactor({"API_TOKEN": TOKEN, "PEM_KEY": PEM})
    marker = "[REDACTED:API_TOKEN]"
    assert redactor.text(f"a {TOKEN} b") == f"a {marker} b"
    assert redactor.text(json.dumps({"t": TOKEN})) == f'{{"t": "{marker}"}}'
    assert redactor.text(json.dumps({"t": TOKEN}, ensure_ascii=False)) == f'{{"t": "{marker}"}}'
    for line in PEM.splitlines()[1:3]:
        assert redactor.text(f"stderr: {line}") == "stderr: [REDACTED:PEM_KEY]"
    assert redactor.text(f"excerpt {TOKEN[:12]}… (300 characters)") == (
        f"excerpt {marker}… (300 characters)"
    )
    assert redactor.value({TOKEN: [TOKEN, 1, None]}) == {marker: [marker, 1, None]}
    assert Redactor({"N": "424242"}).value(424242) == "[REDACTED:N]"
    assert redactor.text("nothing secret here: -----") == "nothing secret here: -----"


def test_redaction_of_events_keeps_them_valid() -> None:
    redactor = Redactor({"T": "hunter2-pass"})
    assert redactor.event(LogEvent(message="pw hunter2-pass")) == LogEvent(
        message="pw [REDACTED:T]"
    )
    assert redactor.event(ProgressEvent(percent=5, message="hunter2-pass")) == ProgressEvent(
        percent=5, message="[REDACTED:T]"
    )
    error = redactor.event(ErrorEvent(code="hunter2-pass", message="x hunter2-pass"))
    assert error == ErrorEvent(code="[REDACTED:T]", message="x [REDACTED:T]")
    output = redactor.event(OutputEvent(pin="p", value={"k": "hunter2-pass"}))
    assert output == OutputEvent(pin="p", value={"k": "[REDACTED:T]"})


# --- a real agent that leaks its secret, run by mentatctl -----------------------------------


def _mentatctl(
    *args: str, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "MENTATLAB_HOME": str(home), **(env or {})}
    environment.pop("MENTATLAB_SECRETS_FILE", None)
    return subprocess.run(
        [MENTATCTL, *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def _store_files(home: Path) -> list[Path]:
    return [home / name for name in ("store.db", "store.db-wal", "store.db-shm")]


@pytest.mark.parametrize("fail", [False, True], ids=["succeeds", "fails"])
def test_a_leaking_agent_leaves_no_trace_of_its_secret(tmp_path: Path, fail: bool) -> None:
    home = tmp_path / "home"
    flow = write_flow(tmp_path / "leak.flow.json", leak_flow(fail=fail, pem=True))
    secrets_file = tmp_path / "dev.secrets"
    secrets_file.write_text(json.dumps({"API_TOKEN": TOKEN, "PEM_KEY": PEM}))  # JSON is YAML
    secrets_file.chmod(0o600)

    ran = _mentatctl(
        "run", str(flow), "--agents", str(AGENTS), "--secrets-file", str(secrets_file),
        "--output", "json", home=home,
    )  # fmt: skip
    assert ran.returncode == (1 if fail else 0), ran.stderr
    assert leaks((ran.stdout + ran.stderr).encode()) == []
    record = json.loads(ran.stdout)
    user = record["nodes"]["user"]
    if fail:
        assert user["error"]["message"].endswith("the API refused [REDACTED:API_TOKEN]")
    else:
        assert user["outputs"]["result"] == "<[REDACTED:API_TOKEN]>"
        # Downstream nodes get the redacted value: no secret reaches an agent without the
        # capability, not even through an edge.
        assert record["nodes"]["after"]["outputs"]["text"] == "<[REDACTED:API_TOKEN]>"
    # The agent without the capability got an envelope without secrets.
    assert record["nodes"]["plain"]["outputs"]["fields"] == [
        "inputs", "params", "protocol", "resume", "run",
    ]  # fmt: skip

    logs = _mentatctl("runs", "logs", record["id"], "--output", "json", home=home)
    assert logs.returncode == 0, logs.stderr
    events = [json.loads(line) for line in logs.stdout.splitlines()]
    messages = [e["data"].get("message") for e in events if e["type"] in ("log", "progress")]
    assert "the token is [REDACTED:API_TOKEN]" in messages
    assert "stderr: [REDACTED:API_TOKEN]" in messages
    assert "calling the API with [REDACTED:API_TOKEN]" in messages
    assert '{"config": {"token": "[REDACTED:API_TOKEN]"}}' in messages
    assert "[REDACTED:PEM_KEY]" in messages
    assert leaks(logs.stdout.encode()) == []
    shown = _mentatctl("runs", "get", record["id"], home=home)
    assert shown.returncode == 0, shown.stderr
    assert "[REDACTED:API_TOKEN]" in shown.stdout
    assert leaks((shown.stdout + shown.stderr).encode()) == []

    # The raw bytes of the SQLite store, its write-ahead log included.
    with sqlite3.connect(home / "store.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(FULL)")
    assert any(path.is_file() for path in _store_files(home))
    assert scan_files(*_store_files(home)) == {}
    assert all(fragment not in ran.stdout for fragment in FRAGMENTS)


def test_a_missing_secret_fails_the_run_before_any_agent_starts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    flow = write_flow(tmp_path / "leak.flow.json", leak_flow())
    ran = _mentatctl(
        "run", str(flow), "--agents", str(AGENTS), "--output", "json", home=home,
        env={"MENTATLAB_SECRET_API_TOKEN": ""},
    )  # fmt: skip
    assert ran.returncode == 1
    record = json.loads(ran.stdout)
    assert record["status"] == "failed"
    assert record["error"]["reason"] == "secret_missing"
    assert "'API_TOKEN' (looked in $MENTATLAB_SECRET_API_TOKEN)" in record["error"]["message"]
    assert all(node["attempts"] == 0 for node in record["nodes"].values())


def test_secrets_come_from_the_environment_without_a_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    flow = write_flow(tmp_path / "leak.flow.json", leak_flow())
    ran = _mentatctl(
        "run", str(flow), "--agents", str(AGENTS), "--output", "json", home=home,
        env={"MENTATLAB_SECRET_API_TOKEN": TOKEN},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["nodes"]["user"]["outputs"]["result"] == "<[REDACTED:API_TOKEN]>"
    assert leaks(ran.stdout.encode()) == []


def test_an_unusable_secrets_file_is_a_usage_error(tmp_path: Path) -> None:
    flow = write_flow(tmp_path / "leak.flow.json", leak_flow())
    ran = _mentatctl(
        "run", str(flow), "--agents", str(AGENTS), "--secrets-file", str(tmp_path / "nope"),
        home=tmp_path / "home",
    )  # fmt: skip
    assert ran.returncode == 2
    assert "cannot read secrets file" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_the_sdk_hands_out_only_the_secrets_it_received() -> None:
    ctx = Context(
        writer=EventWriter(io.BytesIO()),
        run_id="r",
        node_id="n",
        attempt=1,
        inputs={},
        params={},
        resume=None,
        secrets={"API_TOKEN": TOKEN},
    )
    assert ctx.secret("API_TOKEN") == TOKEN
    with pytest.raises(FatalError) as caught:
        ctx.secret("OTHER")
    assert caught.value.code == "secret_unavailable"
