"""Agent manifests: schema findings, legacy normalisation and every manifest rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from validation_helpers import WriteFile, errors, manifest, warnings

from mentatlab.validation import Mode, Severity, load_manifest


def check(write: WriteFile, data: dict[str, Any] | str, mode: Mode = Mode.STRICT) -> Any:
    return load_manifest(write("agent/manifest.yaml", data), mode=mode)


def test_valid_manifest(write: WriteFile) -> None:
    agent, findings = check(write, manifest())
    assert findings == [] and agent is not None and agent.id == "test.agent"


def test_schema_findings_carry_rule_path_and_line(write: WriteFile) -> None:
    text = (
        "apiVersion: mentatlab.io/v1\nkind: Agent\nid: a\nversion: one\ndescription: d\n"
        "image: x:1\ninputs:\n  - name: text\n    type: strnig\n    colour: red\noutputs: []\n"
    )
    agent, findings = check(write, text)
    assert agent is None
    found = {(f.rule, f.path, f.line) for f in findings}
    assert found == {
        ("schema.pattern", "$.version", 4),
        ("schema.enum", "$.inputs[0].type", 9),
        ("schema.additionalProperties", "$.inputs[0].colour", 10),
    }
    messages = " ".join(f.message for f in findings)
    assert "Semantic Version" in messages and "unknown property 'colour'" in messages


def test_missing_required_property_points_at_the_key(write: WriteFile) -> None:
    data = manifest()
    del data["description"]
    _, findings = check(write, data)
    assert [(f.rule, f.path, f.message) for f in findings] == [
        ("schema.required", "$.description", "missing required property 'description'")
    ]


def test_one_of_failures_descend_to_the_meant_branch(write: WriteFile) -> None:
    env = [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s"}}}, 5]
    _, findings = check(write, manifest(env=env))
    assert {(f.rule, f.path) for f in findings} == {
        ("schema.required", "$.env[0].valueFrom.secretKeyRef.key"),
        ("schema.type", "$.env[1]"),
    }
    assert "valid under" not in " ".join(f.message for f in findings)


def test_extension_keys_are_allowed(write: WriteFile) -> None:
    assert check(write, manifest(**{"x-team": "ai"}))[1] == []


# --- legacy format ------------------------------------------------------------------------------

LEGACY = """\
id: old.agent
version: 0.1.0
image: example.org/old:0.1.0
description: An agent in the original format.
inputs:
  - name: text
    type: string
    description: pin-level description is fine
outputs:
  - name: result
    type: string
resources:
  cpu: "500m"
  memory: 128Mi
  gpu: "1"
  timeout_seconds: 30
  max_concurrent: 2
env:
  - "A=1"
  - name: B
    value: "2"
ui: {title: Old}
capabilities: {supports_progress: true}
longRunning: false
"""


def test_legacy_manifest_is_normalised(write: WriteFile) -> None:
    agent, findings = check(write, LEGACY)
    assert agent is not None
    assert [(f.rule, f.severity) for f in findings] == [
        ("manifest.legacy-format", Severity.WARNING)
    ]
    assert agent.api_version == "mentatlab.io/v1" and agent.kind == "Agent"
    assert agent.resources.requests is not None and agent.resources.limits is not None
    assert (agent.resources.requests.cpu, agent.resources.limits.memory) == ("500m", "128Mi")
    assert agent.resources.limits.gpu == 1 and agent.resources.requests.gpu is None
    assert (agent.resources.timeout_seconds, agent.resources.max_concurrent) == (30, 2)
    assert agent.env[0] == "A=1" and agent.ui == {"title": "Old"}
    assert agent.capabilities.supports_progress and agent.inputs[0].description


@pytest.mark.parametrize(("gpu", "expected"), [(1, 1), ("2", 2), (True, 1), (False, 0)])
def test_legacy_gpu_forms(write: WriteFile, gpu: object, expected: int) -> None:
    data = manifest(resources={"gpu": gpu})
    del data["apiVersion"], data["kind"]
    agent, _ = check(write, data)
    assert agent is not None and agent.resources.limits is not None
    assert agent.resources.limits.gpu == expected


def test_findings_on_legacy_manifests_point_at_the_original(write: WriteFile) -> None:
    text = LEGACY.replace('cpu: "500m"', "cpu: lots").replace(
        "timeout_seconds: 30", "timeout_seconds: -1"
    )
    _, findings = check(write, text)
    assert {(f.rule, f.path, f.line) for f in findings if f.severity is Severity.ERROR} == {
        ("schema.pattern", "$.resources.cpu", 13),
        ("schema.exclusiveMinimum", "$.resources.timeout_seconds", 16),
    }


def test_template_placeholders(write: WriteFile) -> None:
    text = 'id: {{AGENT_ID}}\nversion: "{{VERSION}}"\ndescription: d\ninputs: []\noutputs: []\n'
    agent, findings = check(write, text, Mode.PERMISSIVE)
    assert agent is None
    assert [(f.rule, f.path, f.line, f.severity) for f in findings] == [
        ("manifest.template-placeholder", "$.id", 1, Severity.ERROR),
        ("manifest.template-placeholder", "$.version", 2, Severity.ERROR),
    ]


# --- semantic rules: one failing and one passing case each ------------------------------------

RULE_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "manifest.pin-unique",
        {"outputs": [{"name": "a", "type": "json"}, {"name": "a", "type": "json"}]},
        {"outputs": [{"name": "a", "type": "json"}, {"name": "b", "type": "json"}]},
    ),
    ("manifest.image-tag", {"image": "example.org/a:latest"}, {"image": "example.org/a:1.2"}),
    ("manifest.image-tag", {"image": "localhost:5000/a"}, {"image": "a@sha256:" + "0" * 64}),
    ("manifest.env-format", {"env": ["NOVALUE"]}, {"env": ["A=", "B=x=y"]}),
    ("manifest.env-format", {"env": ["1BAD=x"]}, {"env": ["_OK1=x"]}),
    (
        "manifest.env-duplicate",
        {"env": ["A=1", {"name": "A", "value": "2"}]},
        {"env": ["A=1", {"name": "B", "value": "2"}]},
    ),
    (
        "manifest.pin-mime-type",
        {"inputs": [{"name": "a", "type": "audio"}]},
        {"inputs": [{"name": "a", "type": "audio", "metadata": {"mimeType": "audio/wav"}}]},
    ),
    ("manifest.runnable", {"image": None}, {"image": None, "command": ["/bin/true"]}),
    (
        "manifest.scaling-range",
        {"longRunning": True, "scaling": {"minReplicas": 3, "maxReplicas": 2}},
        {"longRunning": True, "scaling": {"minReplicas": 2, "maxReplicas": 2}},
    ),
    (
        "manifest.resources-range",
        {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1500m"}}},
        {"resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1500m"}}},
    ),
    (
        "manifest.resources-range",
        {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1G"}}},
        {
            "resources": {
                "requests": {"memory": "1Gi", "gpu": 1},
                "limits": {"memory": "2G", "gpu": 1},
            }
        },
    ),
]


def _with(fields: dict[str, Any]) -> dict[str, Any]:
    data = manifest(**fields)
    return {key: value for key, value in data.items() if value is not None}


@pytest.mark.parametrize(("rule", "bad", "good"), RULE_CASES)
def test_manifest_rule(
    write: WriteFile, rule: str, bad: dict[str, Any], good: dict[str, Any]
) -> None:
    agent, findings = check(write, _with(bad))
    assert agent is None and errors(findings) == {rule}, findings
    agent, findings = check(write, _with(good))
    assert agent is not None and findings == [], findings


def test_permissive_mode_turns_rule_errors_into_warnings(write: WriteFile) -> None:
    agent, findings = check(write, _with({"image": "a:latest"}), Mode.PERMISSIVE)
    assert agent is not None and warnings(findings) == {"manifest.image-tag"}
    data = _with({"image": "a:latest", "version": "x"})
    agent, findings = check(write, data, Mode.PERMISSIVE)
    assert agent is None and errors(findings) == {"schema.pattern"}


def test_scaling_without_long_running_is_a_warning_in_both_modes(write: WriteFile) -> None:
    for mode in Mode:
        agent, findings = check(write, manifest(scaling={"maxReplicas": 2}), mode)
        assert agent is not None and warnings(findings) == {"manifest.scaling-long-running"}


@pytest.mark.parametrize(
    ("command", "files", "ok"),
    [
        (["python", "main.py"], ["main.py"], True),
        (["python", "main.py"], [], False),
        (["python", "-m", "agent"], [], True),
        (["./run.sh"], ["run.sh"], True),
        (["bin/agent", "--fast"], [], False),
        (["my-agent-on-path"], [], True),
    ],
)
def test_command_exists_in_cogpak(
    tmp_path: Path, command: list[str], files: list[str], ok: bool
) -> None:
    pak = tmp_path / "pak"
    pak.mkdir()
    for name in files:
        (pak / name).write_text("")
    import json

    (pak / "manifest.yaml").write_text(json.dumps(manifest(command=command)))
    agent, findings = load_manifest(pak)
    assert (agent is not None) is ok
    assert errors(findings) == (set() if ok else {"manifest.command-exists"})
