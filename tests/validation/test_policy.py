"""The security policy: its file, the default it ships, and every rule on agents and flows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML
from validation_helpers import WriteFile, errors, flow, manifest

from mentatlab.model.policy import Policy
from mentatlab.validation import (
    POLICY_RULES,
    AgentCatalog,
    Mode,
    PolicyError,
    Severity,
    UsageError,
    default_policy,
    load_flow,
    load_manifest,
    load_policy,
    policy_in_force,
    validate_data,
    validate_paths,
)
from mentatlab.validation.signing import generate_keypair, sign_cogpak

REPO = Path(__file__).resolve().parents[2]
ORIGINAL = REPO / ".." / "shared" / "compat" / "mentatlab-original"
DIGEST = "@sha256:" + "a" * 64


def policy(**sections: Any) -> Policy:
    return Policy.model_validate({"apiVersion": "mentatlab.io/v1", "kind": "Policy", **sections})


# --- the policy file and the default ----------------------------------------------------


def test_the_packaged_default_is_what_a_policy_file_leaves_out() -> None:
    shipped = default_policy()
    assert shipped.name == "default"
    assert shipped.model_copy(update={"metadata": Policy().metadata}) == Policy()


def test_the_default_policy_file_matches_the_schema() -> None:
    schema = json.loads((REPO / "schemas" / "policy.v1.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    data = default_policy().model_dump(mode="json", by_alias=True)
    assert list(Draft202012Validator(schema).iter_errors(data)) == []


def test_every_shipped_example_and_original_passes_the_default_policy() -> None:
    paths = [
        *sorted((REPO / "examples").iterdir()),
        *sorted((REPO / "agents").iterdir()),
        *sorted((ORIGINAL / "flows").iterdir()),
        *sorted((ORIGINAL / "agents").iterdir()),
    ]
    for mode in Mode:
        with_policy = validate_paths(paths, mode=mode, policy=default_policy())
        assert with_policy == validate_paths(paths, mode=mode)


def test_a_policy_file_with_problems_gets_located_findings(write: WriteFile) -> None:
    path = write(
        "bad.policy.yaml",
        "apiVersion: mentatlab.io/v1\nkind: Policy\nimages:\n  requireDigest: maybe\n"
        "capabilities:\n  allowed: [network, teleport]\nsignatures: {required: true}\n",
    )
    loaded, findings = load_policy(path)
    assert loaded is None
    located = {(f.rule, f.path, f.line) for f in findings}
    assert located == {
        ("schema.type", "$.images.requireDigest", 4),
        ("schema.enum", "$.capabilities.allowed[1]", 6),
        ("schema.required", "$.signatures.trustDir", 7),
    }
    with pytest.raises(PolicyError) as raised:
        policy_in_force(path)
    assert raised.value.findings == findings and "bad.policy.yaml:4" in str(raised.value)


def test_a_missing_policy_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        policy_in_force(tmp_path / "absent.yaml")


def test_trust_dir_is_relative_to_the_policy_file(write: WriteFile, tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    text = (
        "apiVersion: mentatlab.io/v1\nkind: Policy\nsignatures: {required: true, trustDir: keys}\n"
    )
    loaded = policy_in_force(write("p.yaml", text))
    assert loaded.signatures.trust_dir == tmp_path / "keys"
    missing = write("q.yaml", text.replace("keys}", "nowhere}"))
    _, findings = load_policy(missing)
    assert [(f.rule, f.path, f.line) for f in findings] == [
        ("policy.trust-dir", "$.signatures.trustDir", 3)
    ]
    assert "does not exist" in findings[0].message


def test_no_section_given_means_the_default_for_it() -> None:
    custom = policy(images={"forbidLatest": True})
    assert custom.images.forbid_latest and custom.resources == default_policy().resources


# --- rules on one agent -----------------------------------------------------------------

# (rule, policy sections, manifest fields that break it, fields that keep it, field path)
AGENT_RULES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], str]] = [
    (
        "policy.image-registry",
        {"images": {"allowedRegistries": ["ghcr.io/acme"]}},
        {"image": "ghcr.io/acmecorp/x:1.0"},
        {"image": "ghcr.io/acme/x:1.0"},
        "$.image",
    ),
    (
        "policy.image-registry",
        {"images": {"allowedRegistries": ["quay.io"]}},
        {"image": "nginx:1.27"},  # Docker Hub's implicit registry
        {"image": "quay.io/nginx:1.27"},
        "$.image",
    ),
    (
        "policy.image-digest",
        {"images": {"requireDigest": True}},
        {"image": "example.org/x:1.0"},
        {"image": f"example.org/x:1.0{DIGEST}"},
        "$.image",
    ),
    (
        "policy.image-latest",
        {"images": {"forbidLatest": True}},
        {"image": "example.org/x:latest"},
        {"image": "example.org/x:1.0"},
        "$.image",
    ),
    (
        "policy.resources-required",
        {"resources": {"requireLimits": ["memory"]}},
        {"resources": {"limits": {"cpu": "1"}}},
        {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
        "$.resources.limits.memory",
    ),
    (
        "policy.resources-maximum",
        {"resources": {"maxLimits": {"memory": "1Gi"}}},
        {"resources": {"limits": {"memory": "2Gi"}}},
        {"resources": {"limits": {"memory": "1024Mi"}}},
        "$.resources.limits.memory",
    ),
    (
        "policy.resources-maximum",
        {"resources": {"maxLimits": {"cpu": "2"}}},
        {"resources": {"requests": {"cpu": "2500m"}}},
        {"resources": {"requests": {"cpu": "2"}}},
        "$.resources.requests.cpu",
    ),
    (
        "policy.resources-maximum",
        {},  # the default: at most 8 GPUs
        {"resources": {"limits": {"gpu": 9}}},
        {"resources": {"limits": {"gpu": 8}}},
        "$.resources.limits.gpu",
    ),
    (
        "policy.capability",
        {"capabilities": {"allowed": ["secrets"]}},
        {"capabilities": {"network": True}},
        {"capabilities": {"secrets": True, "supports_progress": True}},
        "$.capabilities.network",
    ),
    (
        "policy.secret-access",
        {"secrets": {"grants": [{"agents": ["test.*"], "secrets": ["db-*"]}]}},
        {"env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "cloud", "key": "k"}}}]},
        {"env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "db-ro", "key": "k"}}}]},
        "$.env[0].valueFrom.secretKeyRef.name",
    ),
]


@pytest.mark.parametrize(
    ("rule", "sections", "bad", "good", "path"),
    AGENT_RULES,
    ids=[f"{case[0]}-{index}" for index, case in enumerate(AGENT_RULES)],
)
def test_agent_rule(
    write: WriteFile,
    *,
    rule: str,
    sections: dict[str, Any],
    bad: dict[str, Any],
    good: dict[str, Any],
    path: str,
) -> None:
    enforced = policy(metadata={"name": "house"}, **sections)
    good_report = validate_data(manifest(**good), policy=enforced)
    assert good_report.valid, good_report.findings
    written = write("x/manifest.yaml", manifest(**bad))
    # Permissive: 'latest' is then only a warning of manifest.image-tag, policy rules stay errors.
    found, findings = load_manifest(written.parent, policy=enforced, mode=Mode.PERMISSIVE)
    assert found is None
    [finding] = [f for f in findings if f.severity is Severity.ERROR]
    assert (finding.rule, finding.path) == (rule, path)
    assert finding.line is not None
    assert "agent 'test.agent@1.0.0'" in finding.message and "policy 'house'" in finding.message


def test_policy_rules_are_errors_in_permissive_mode_too() -> None:
    enforced = policy(capabilities={"allowed": []})
    report = validate_data(
        manifest(capabilities={"gpu": True}), policy=enforced, mode=Mode.PERMISSIVE
    )
    assert [f.rule for f in report.errors] == ["policy.capability"]


def test_image_rules_leave_local_agents_alone() -> None:
    strict = policy(
        images={"allowedRegistries": ["x.io"], "requireDigest": True, "forbidLatest": True}
    )
    local = manifest(command=["python", "agent.py"])
    del local["image"]
    assert validate_data(local, policy=strict).valid


def test_a_manifest_with_other_errors_gets_no_policy_findings_on_top() -> None:
    report = validate_data(
        manifest(image="example.org/x:latest"), policy=policy(images={"forbidLatest": True})
    )
    assert errors(report.findings) == {"manifest.image-tag"}


# --- signatures -------------------------------------------------------------------------


def test_signature_rule(tmp_path: Path, write: WriteFile) -> None:
    key = generate_keypair("release", tmp_path / "keys")
    trust = tmp_path / "trusted"
    trust.mkdir()
    key.public_path.rename(trust / "release.pub")
    enforced = policy(signatures={"required": True, "trustDir": str(trust)})
    cogpak = write("pak/manifest.yaml", manifest()).parent
    _, unsigned = load_manifest(cogpak, policy=enforced)
    assert [(f.rule, f.path) for f in unsigned] == [("policy.signature", "$")]
    sign_cogpak(cogpak, key.private_path)
    assert load_manifest(cogpak, policy=enforced)[0] is not None
    (cogpak / "extra.txt").write_text("slipped in")
    _, changed = load_manifest(cogpak, policy=enforced)
    assert [f.rule for f in changed] == ["policy.signature"] and "extra.txt" in changed[0].message
    in_memory = validate_data(manifest(), policy=enforced)
    assert "not a Cog-Pak directory" in in_memory.errors[0].message


# --- rules on flows ---------------------------------------------------------------------


def test_a_flow_reports_its_agents_violations_at_the_node(
    catalog: AgentCatalog, write: WriteFile
) -> None:
    enforced = policy(images={"allowedRegistries": ["ghcr.io"]})
    nodes = [
        {"id": "ui", "type": "ui.prompt"},
        {"id": "t", "type": "t.text", "inputs": {"text": "x"}},
    ]
    path = write("f.flow.yaml", flow(nodes))
    found, findings = load_flow(path, catalog, policy=enforced)
    assert found is None
    [finding] = findings
    assert (finding.rule, finding.path) == ("policy.image-registry", "$.graph.nodes[1].type")
    assert finding.line is not None
    assert finding.message.startswith("agent 't.text@1.0.0' of node 't', at $.image: ")


def test_pinned_nodes_start_no_agent_and_are_not_checked(catalog: AgentCatalog) -> None:
    enforced = policy(images={"allowedRegistries": ["ghcr.io"]})
    pinned = flow([{"id": "t", "type": "t.text", "outputs": {"result": "fixed"}}])
    report = validate_data(pinned, agent_dirs=catalog.directories, policy=enforced)
    assert report.valid, report.findings


def test_flow_secrets_reach_only_granted_agents(tmp_path: Path, write: WriteFile) -> None:
    root = tmp_path / "agents"
    write("agents/keeper/manifest.yaml", manifest("acme.keeper", capabilities={"secrets": True}))
    write("agents/other/manifest.yaml", manifest("acme.other"))  # no capability: gets nothing
    grants = {"grants": [{"agents": ["acme.keeper"], "secrets": ["DB_*"]}]}
    enforced = policy(secrets=grants)
    document = flow([{"id": "k", "type": "acme.keeper"}, {"id": "o", "type": "acme.other"}])
    nodes = document["graph"]["nodes"]
    for node in nodes:
        node["inputs"] = {"text": "x"}
    allowed = {**document, "runConfig": {"secrets": ["DB_PASSWORD"]}}
    assert validate_data(allowed, agent_dirs=[root], policy=enforced).valid
    refused = {**document, "runConfig": {"secrets": ["DB_PASSWORD", "CLOUD_TOKEN"]}}
    [finding] = validate_data(refused, agent_dirs=[root], policy=enforced).errors
    assert (finding.rule, finding.path) == ("policy.secret-access", "$.runConfig.secrets[1]")
    assert "'CLOUD_TOKEN'" in finding.message and "node 'k'" in finding.message


def test_docs_describe_every_policy_rule() -> None:
    text = (REPO / "docs" / "policy.md").read_text(encoding="utf-8")
    assert [rule.id for rule in POLICY_RULES if f"`{rule.id}`" not in text] == []


def _schema_and_model_verdicts(document: dict[str, Any]) -> tuple[bool, bool]:
    schema = json.loads((REPO / "schemas" / "policy.v1.schema.json").read_text())
    try:
        Policy.model_validate(document)
    except ValueError:
        by_model = False
    else:
        by_model = True
    return Draft202012Validator(schema).is_valid(document), by_model


HEADER = {"apiVersion": "mentatlab.io/v1", "kind": "Policy"}
AGREEMENT: list[tuple[dict[str, Any], bool]] = [
    (HEADER, True),
    ({**HEADER, "x-owner": "platform team"}, True),
    ({**HEADER, "resources": {"maxLimits": {"cpu": None, "memory": "1.5Gi", "gpu": 0}}}, True),
    ({**HEADER, "kind": "Flow"}, False),
    ({**HEADER, "images": {"registries": []}}, False),
    ({**HEADER, "capabilities": {"allowed": ["actions"]}}, False),
    ({**HEADER, "resources": {"maxLimits": {"memory": "lots"}}}, False),
    ({**HEADER, "resources": {"requireLimits": ["disk"]}}, False),
    ({**HEADER, "resources": {"maxLimits": {"gpu": -1}}}, False),
    ({**HEADER, "secrets": {"grants": [{"agents": ["*"]}]}}, False),
    ({**HEADER, "podSecurity": {"profile": "strict"}}, False),
    ({**HEADER, "signatures": {"required": True}}, False),
]


@pytest.mark.parametrize(("document", "valid"), AGREEMENT)
def test_the_schema_and_the_model_agree(document: dict[str, Any], valid: bool) -> None:
    assert _schema_and_model_verdicts(document) == (valid, valid)


def test_the_documented_example_is_a_valid_policy() -> None:
    text = (REPO / "docs" / "policy.md").read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    document = YAML(typ="safe").load(example)
    assert _schema_and_model_verdicts(document) == (True, True)
