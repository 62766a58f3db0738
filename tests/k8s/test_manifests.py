"""Deploy manifests: the rendered stream, the checked-in kustomize base, RBAC, the operator pod."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from crd_helpers import REPO
from ruamel.yaml import YAML

from mentatlab.k8s import deploy_manifests, kustomize_files, to_yaml, write_kustomize
from mentatlab.k8s.render import GENERATED_HEADER

DEPLOY = REPO / "deploy"
MENTATCTL = Path(sys.executable).with_name("mentatctl")
KINDS = {
    "Namespace",
    "CustomResourceDefinition",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Deployment",
}


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in YAML(typ="safe", pure=True).load_all(text) if doc is not None]


def by_kind(kind: str) -> dict[str, Any]:
    [found] = [obj for obj in deploy_manifests() if obj["kind"] == kind]
    return found


def test_render_prints_every_manifest_as_one_yaml_stream() -> None:
    result = subprocess.run(
        [MENTATCTL, "k8s", "render"], capture_output=True, text=True, check=True
    )
    documents = load_all(result.stdout)
    assert documents == deploy_manifests()
    assert {doc["kind"] for doc in documents} == KINDS
    crds = [
        doc["metadata"]["name"] for doc in documents if doc["kind"] == "CustomResourceDefinition"
    ]
    assert crds == [
        "agents.mentatlab.io",
        "flows.mentatlab.io",
        "flowruns.mentatlab.io",
        "agentdeployments.mentatlab.io",
    ]


def test_yaml_quotes_strings_that_yaml_1_1_reads_as_other_types() -> None:
    values = {"a": "yes", "b": "on", "c": "0777", "d": "1e3", "e": "~", "f": "2025-01-31"}
    text = to_yaml([values])
    assert "a: 'yes'" in text and "b: 'on'" in text
    assert load_all(text) == [values]


def test_checked_in_deploy_directory_is_current() -> None:
    actual = {
        path.relative_to(DEPLOY).as_posix(): path.read_text("utf-8")
        for path in sorted(DEPLOY.rglob("*"))
        if path.is_file()
    }
    assert actual == kustomize_files(), "deploy/ is out of date: run `make deploy`"


def test_kustomization_lists_every_file() -> None:
    files = kustomize_files()
    [kustomization] = load_all(files["kustomization.yaml"])
    assert kustomization["resources"] == [name for name in files if name != "kustomization.yaml"]
    assert all(text.startswith(GENERATED_HEADER) for text in files.values())


def test_write_kustomize_removes_stale_generated_files_only(tmp_path: Path) -> None:
    (tmp_path / "crds").mkdir()
    stale = tmp_path / "crds" / "old.mentatlab.io.yaml"
    stale.write_text(GENERATED_HEADER + "---\n{}\n", encoding="utf-8")
    own = tmp_path / "crds" / "mine.yaml"
    own.write_text("kind: Mine\n", encoding="utf-8")
    written = write_kustomize(tmp_path)
    assert not stale.exists()
    assert own.exists()
    assert {p.relative_to(tmp_path).as_posix() for p in written} == set(kustomize_files())


def test_rbac_has_no_wildcards_and_no_peering() -> None:
    rules = by_kind("ClusterRole")["rules"]
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field] and all("*" not in value for value in rule[field])
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule
    groups = {group for rule in rules for group in rule["apiGroups"]}
    assert "kopf.zalando.org" not in groups and "coordination.k8s.io" not in groups
    secrets = [rule for rule in rules if "secrets" in rule["resources"]]
    assert all(set(rule["verbs"]) <= {"get", "list", "create", "delete"} for rule in secrets)


def test_rbac_covers_what_the_operator_touches() -> None:
    granted = {
        (group, resource, verb)
        for rule in by_kind("ClusterRole")["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    needed = {
        ("mentatlab.io", "flowruns", "watch"),
        ("mentatlab.io", "flowruns/status", "patch"),
        ("mentatlab.io", "flowruns/finalizers", "update"),
        ("mentatlab.io", "agentdeployments/status", "patch"),
        ("", "pods", "create"),
        ("", "pods", "delete"),
        ("", "pods/log", "get"),
        ("", "events", "create"),
        ("events.k8s.io", "events", "create"),
        ("apps", "deployments", "create"),
        ("", "services", "create"),
        ("autoscaling", "horizontalpodautoscalers", "create"),
    }
    assert needed <= granted
    binding = by_kind("ClusterRoleBinding")
    account = by_kind("ServiceAccount")["metadata"]
    assert binding["roleRef"]["name"] == by_kind("ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]


def test_operator_pod_meets_the_restricted_pod_security_standard() -> None:
    deployment = by_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"] == ["mentatctl", "operator", "run"]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert pod["serviceAccountName"] == by_kind("ServiceAccount")["metadata"]["name"]
    assert deployment["metadata"]["namespace"] == by_kind("Namespace")["metadata"]["name"]
    labels = by_kind("Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
