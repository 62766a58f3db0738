"""Pod Security Standards on the pods MentatLab creates, and on pods that break them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mentatlab.engine.drivers.base import AttemptSpec
from mentatlab.engine.drivers.kubernetes.pods import Owner, PodOptions, build_pod
from mentatlab.k8s.agent_service import AgentDeploymentSpec, agent_service_objects
from mentatlab.k8s.manifests import deploy_manifests
from mentatlab.model.manifest import AgentManifest
from mentatlab.model.policy import PodSecurityProfile, PodSecurityRules
from mentatlab.validation.pod_security import pod_violations

OWNER = Owner(api_version="mentatlab.io/v1", kind="FlowRun", name="r", uid="u")
RESTRICTED = PodSecurityRules()
BASELINE = PodSecurityRules(profile=PodSecurityProfile.BASELINE)
MANIFEST = AgentManifest.model_validate(
    {
        "id": "t.agent",
        "version": "1.0.0",
        "description": "d",
        "image": "example.org/t:1.0",
        "command": ["python", "agent.py"],
        "longRunning": True,
    }
)


def operator_pod(**options: Any) -> dict[str, Any]:
    """A pod exactly as the Kubernetes driver builds it for an attempt."""
    pod_options = PodOptions(owner=OWNER, flowrun="r", **options)
    spec = AttemptSpec(
        run_id="run",
        node_id="n",
        attempt=1,
        agent_id=MANIFEST.id,
        agent_version=MANIFEST.version,
        command=("python", "agent.py"),
        workdir=Path("/"),
        image=MANIFEST.image,
    )
    pod = build_pod(spec, pod_options, name="p", namespace="ns", manifest=MANIFEST)
    result: dict[str, Any] = pod.to_dict()
    return result


def test_the_pods_the_operator_builds_are_restricted() -> None:
    assert pod_violations(operator_pod(), RESTRICTED) == []


def test_the_pods_of_long_running_agents_are_restricted() -> None:
    spec = AgentDeploymentSpec.model_validate({"agentRef": "t-agent"})
    objects = agent_service_objects("d", "ns", spec, MANIFEST, owner=OWNER)
    template = objects.deployment.to_dict()["spec"]["template"]
    assert pod_violations(template, RESTRICTED) == []


def test_the_operators_own_pod_is_restricted() -> None:
    [deployment] = [obj for obj in deploy_manifests() if obj["kind"] == "Deployment"]
    assert pod_violations(deployment["spec"]["template"], RESTRICTED) == []


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod["spec"]["containers"][0]
    return container


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(pod: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = pod
        for key in parents:
            target = target[int(key)] if key.isdigit() else target.setdefault(key, {})
        target[last] = value

    return change


CONTAINER = "spec.containers.0.securityContext"
# (what breaks the pod, the path reported, the lowest profile that reports it)
BROKEN: list[tuple[Callable[[dict[str, Any]], None], str, PodSecurityProfile]] = [
    (_set("spec.hostNetwork", True), "$.spec.hostNetwork", PodSecurityProfile.BASELINE),
    (_set("spec.hostPID", True), "$.spec.hostPID", PodSecurityProfile.BASELINE),
    (
        _set(f"{CONTAINER}.privileged", True),
        "$.spec.containers[0].securityContext.privileged",
        PodSecurityProfile.BASELINE,
    ),
    (
        _set(f"{CONTAINER}.capabilities.add", ["SYS_ADMIN"]),
        "$.spec.containers[0].securityContext.capabilities.add[0]",
        PodSecurityProfile.BASELINE,
    ),
    (
        _set("spec.volumes", [{"name": "h", "hostPath": {"path": "/"}}]),
        "$.spec.volumes[0].hostPath",
        PodSecurityProfile.BASELINE,
    ),
    (
        _set("spec.containers.0.ports", [{"containerPort": 80, "hostPort": 80}]),
        "$.spec.containers[0].ports[0].hostPort",
        PodSecurityProfile.BASELINE,
    ),
    (
        _set("spec.securityContext.seccompProfile", {"type": "Unconfined"}),
        "$.spec.securityContext.seccompProfile.type",
        PodSecurityProfile.BASELINE,
    ),
    (
        _set("spec.securityContext.sysctls", [{"name": "kernel.msgmax", "value": "1"}]),
        "$.spec.securityContext.sysctls[0].name",
        PodSecurityProfile.BASELINE,
    ),
    (
        _set(f"{CONTAINER}.allowPrivilegeEscalation", True),
        "$.spec.containers[0].securityContext.allowPrivilegeEscalation",
        PodSecurityProfile.RESTRICTED,
    ),
    (
        _set(f"{CONTAINER}.runAsNonRoot", False),
        "$.spec.containers[0].securityContext.runAsNonRoot",
        PodSecurityProfile.RESTRICTED,
    ),
    (
        _set("spec.securityContext.runAsUser", 0),
        "$.spec.securityContext.runAsUser",
        PodSecurityProfile.RESTRICTED,
    ),
    (
        _set(f"{CONTAINER}.capabilities.drop", []),
        "$.spec.containers[0].securityContext.capabilities.drop",
        PodSecurityProfile.RESTRICTED,
    ),
    (
        _set(f"{CONTAINER}.capabilities.add", ["CHOWN"]),
        "$.spec.containers[0].securityContext.capabilities.add[0]",
        PodSecurityProfile.RESTRICTED,
    ),
    (
        _set("spec.volumes", [{"name": "n", "nfs": {"server": "s", "path": "/"}}]),
        "$.spec.volumes[0]",
        PodSecurityProfile.RESTRICTED,
    ),
]


@pytest.mark.parametrize(("change", "path", "lowest"), BROKEN, ids=[case[1] for case in BROKEN])
def test_a_broken_pod_is_reported_at_the_field(
    change: Callable[[dict[str, Any]], None], path: str, lowest: PodSecurityProfile
) -> None:
    pod = copy.deepcopy(operator_pod())
    change(pod)
    violations = pod_violations(pod, RESTRICTED)
    assert path in [v.path for v in violations]
    assert all(v.rule == "policy.pod-security" and "'restricted'" in v.message for v in violations)
    baseline = pod_violations(pod, BASELINE)
    assert bool(baseline) is (lowest is PodSecurityProfile.BASELINE)
    privileged = PodSecurityRules(profile=PodSecurityProfile.PRIVILEGED)
    assert pod_violations(pod, privileged) == []


def test_seccomp_and_non_root_may_come_from_the_pod_or_every_container() -> None:
    pod = operator_pod()
    del pod["spec"]["securityContext"]["seccompProfile"]
    paths = [v.path for v in pod_violations(pod, RESTRICTED)]
    assert paths == ["$.spec.containers[0].securityContext.seccompProfile.type"]
    _container(pod)["securityContext"]["seccompProfile"] = {"type": "RuntimeDefault"}
    assert pod_violations(pod, RESTRICTED) == []


def test_service_accounts_are_checked_in_every_profile() -> None:
    rules = PodSecurityRules(
        profile=PodSecurityProfile.PRIVILEGED, allowedServiceAccounts=("agents-*",)
    )
    assert pod_violations(operator_pod(), rules) == []  # the namespace's default account
    assert pod_violations(operator_pod(service_account="agents-ro"), rules) == []
    [violation] = pod_violations(operator_pod(service_account="cluster-admin"), rules)
    assert (violation.rule, violation.path) == (
        "policy.service-account",
        "$.spec.serviceAccountName",
    )
    assert "'cluster-admin'" in violation.message
