"""The policy's word on the pods a run is about to create, before it creates any of them.

Each agent node's pod is built exactly as the Kubernetes driver will build it (same options,
same manifest), then checked against the policy's Pod Security Standard and service accounts:
a FlowRun (or a server's Kubernetes run) whose options or agents would produce one
non-compliant pod starts none. A
long-running agent's Deployment is checked the same way, with its agent's manifest.
"""

from __future__ import annotations

from pathlib import Path

from lightkube.resources.apps_v1 import Deployment

from mentatlab.engine.drivers.base import AttemptSpec
from mentatlab.engine.drivers.kubernetes import PodOptions, attempt_name
from mentatlab.engine.drivers.kubernetes.pods import build_pod
from mentatlab.engine.plan import FlowPlan
from mentatlab.model.manifest import AgentManifest
from mentatlab.model.policy import Policy
from mentatlab.validation.pod_security import pod_violations
from mentatlab.validation.policy import Violation, manifest_violations

__all__ = ["deployment_policy_problems", "pod_policy_problems"]


def pod_policy_problems(
    plan: FlowPlan, options: PodOptions, policy: Policy, *, namespace: str
) -> list[str]:
    """``rule at path: message`` for every policy violation of the pods ``plan`` would create."""
    problems: list[str] = []
    for node_id, binding in plan.agents.items():
        manifest = binding.manifest
        spec = AttemptSpec(
            run_id="admission",
            node_id=node_id,
            attempt=1,
            agent_id=manifest.id,
            agent_version=manifest.version,
            command=manifest.command or (),
            workdir=Path("/"),
            image=manifest.image,
        )
        name = attempt_name(options, node_id, 1)
        pod = build_pod(spec, options, name=name, namespace=namespace, manifest=manifest)
        violations = pod_violations(pod.to_dict(), policy.pod_security)
        problems += _described(violations, f"the pod of node {node_id!r}", policy)
    return problems


def deployment_policy_problems(
    manifest: AgentManifest, deployment: Deployment, policy: Policy
) -> list[str]:
    """The policy violations of a long-running agent and of its Deployment's pods.

    The agent is an ``Agent`` resource, with no Cog-Pak files: a policy requiring signatures
    refuses it.
    """
    template = deployment.to_dict()["spec"]["template"]
    return [
        *_described(
            manifest_violations(manifest, policy, cogpak=None), f"agent {manifest.ref!r}", policy
        ),
        *_described(pod_violations(template, policy.pod_security), "the pod template", policy),
    ]


def _described(violations: list[Violation], where: str, policy: Policy) -> list[str]:
    return [
        f"{v.rule} at {v.path} of {where}: {v.message} (policy {policy.name!r})" for v in violations
    ]
