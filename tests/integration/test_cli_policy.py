"""``mentatctl policy``, and ``--policy``/``MENTATLAB_POLICY`` on the commands enforcing it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_harness import Cli
from ruamel.yaml import YAML

from mentatlab.validation import default_policy

STRICT = """\
apiVersion: mentatlab.io/v1
kind: Policy
metadata: {name: strict}
images: {allowedRegistries: [registry.acme.io]}
capabilities: {allowed: []}
"""
BROKEN = """\
apiVersion: mentatlab.io/v1
kind: Policy
images:
  requireDigest: sometimes
"""
# An agent that leaves a file behind when it starts: a refused run must leave none.
MARKER_AGENT = """\
import json, pathlib, sys
json.load(sys.stdin)
pathlib.Path("started").write_text("yes")
print(json.dumps({"type": "output", "pin": "result", "value": "ran"}))
"""


@pytest.fixture
def strict(tmp_path: Path) -> Path:
    path = tmp_path / "strict.policy.yaml"
    path.write_text(STRICT)
    return path


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.policy.yaml"
    path.write_text(BROKEN)
    return path


def _marker_flow(tmp_path: Path) -> tuple[Path, Path]:
    """A flow of one local agent declaring the network capability; returns it and its Cog-Pak."""
    cogpak = tmp_path / "agents" / "marker"
    cogpak.mkdir(parents=True)
    (cogpak / "agent.py").write_text(MARKER_AGENT)
    manifest = {
        "apiVersion": "mentatlab.io/v1",
        "kind": "Agent",
        "id": "test.marker",
        "version": "1.0.0",
        "description": "leaves a marker",
        "command": ["python", "agent.py"],
        "inputs": [],
        "outputs": [{"name": "result", "type": "string"}],
        "capabilities": {"network": True},
    }
    (cogpak / "manifest.yaml").write_text(json.dumps(manifest))
    flow = tmp_path / "marker.flow.yaml"
    flow.write_text(
        "apiVersion: mentatlab.io/v1\nkind: Flow\nmeta: {id: m, name: m}\n"
        "graph: {nodes: [{id: m, type: test.marker}], edges: []}\n"
    )
    return flow, cogpak


def test_policy_show_prints_the_default_and_round_trips(cli: Cli, tmp_path: Path) -> None:
    result = cli("policy", "show")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# policy 'default': MentatLab's default policy")
    shown = YAML(typ="safe").load(result.stdout)
    assert shown == default_policy().model_dump(mode="json", by_alias=True)
    copy = tmp_path / "copy.yaml"
    copy.write_text(result.stdout)
    assert cli("policy", "validate", str(copy)).returncode == 0


def test_policy_show_prints_the_selected_policy(
    cli: Cli, strict: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_option = cli("policy", "show", "--policy", str(strict))
    assert by_option.returncode == 0 and f"# policy 'strict': from {strict}" in by_option.stdout
    assert "registry.acme.io" in by_option.stdout
    monkeypatch.setenv("MENTATLAB_POLICY", str(strict))
    assert "registry.acme.io" in cli("policy", "show").stdout


def test_policy_validate_exit_codes_and_located_errors(
    cli: Cli, strict: Path, broken: Path
) -> None:
    assert cli("policy", "validate", str(strict)).returncode == 0
    bad = cli("policy", "validate", str(broken))
    assert bad.returncode == 1
    assert f"{broken}:4: error schema.type at $.images.requireDigest" in bad.stdout
    report = json.loads(cli("policy", "validate", str(broken), "--output", "json").stdout)
    assert [(e["rule"], e["path"], e["line"]) for e in report["errors"]] == [
        ("schema.type", "$.images.requireDigest", 4)
    ]
    missing = cli("policy", "validate", "nowhere.yaml")
    assert missing.returncode == 2 and "nowhere.yaml" in missing.stderr


def test_validate_enforces_the_selected_policy(
    cli: Cli, strict: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("validate", "examples/hello.flow.yaml", "agents/echo").returncode == 0
    result = cli("validate", "agents/echo", "--policy", str(strict), "--output", "json")
    assert result.returncode == 1
    [error] = json.loads(result.stdout)["errors"]
    assert (error["rule"], error["path"], error["line"]) == ("policy.image-registry", "$.image", 5)
    assert "agent 'mentatlab.echo@1.0.0'" in error["message"]
    monkeypatch.setenv("MENTATLAB_POLICY", str(strict))
    assert cli("validate", "agents/echo").returncode == 1


def test_a_broken_policy_stops_every_command_with_located_errors(
    cli: Cli, broken: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = [
        ("validate", "agents/echo"),
        ("run", "examples/hello.flow.yaml"),
        ("serve", "--port", "0"),
        ("operator", "run", "-n", "nowhere"),
    ]
    for command in commands:
        result = cli(*command, "--policy", str(broken))
        assert result.returncode == 2, (command, result.stderr)
        assert f"{broken}:4: error schema.type at $.images.requireDigest" in result.stderr
        assert "invalid policy, nothing done" in result.stderr
    monkeypatch.setenv("MENTATLAB_POLICY", str(broken))
    assert cli("validate", "agents/echo").returncode == 2


def test_a_local_run_refused_by_policy_starts_nothing(
    cli: Cli, strict: Path, tmp_path: Path
) -> None:
    flow, cogpak = _marker_flow(tmp_path)
    refused = cli("run", str(flow), "--policy", str(strict))
    assert refused.returncode == 1
    assert "policy.capability at $.graph.nodes[0].type" in refused.stderr
    assert "$.capabilities.network" in refused.stderr
    assert "not run, it breaks policy 'strict'" in refused.stderr
    assert not (cogpak / "started").exists()
    assert json.loads(cli("runs", "list", "--output", "json").stdout) == []
    allowed = cli("run", str(flow))  # the default policy allows the network capability
    assert allowed.returncode == 0, allowed.stderr
    assert (cogpak / "started").exists()
