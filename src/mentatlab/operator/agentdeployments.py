"""Reconciling one AgentDeployment: keep its Deployment, Service and autoscaler as its spec
and its Agent say, and report the Deployment's state in its status.

Level-triggered: every pass computes the desired objects and server-side applies them (an
unchanged object is a no-op for the API server), so a Deployment edited or deleted by hand
is put back on the next pass, and a changed Agent rolls out its new image.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler

from mentatlab.engine.drivers.kubernetes import Owner
from mentatlab.k8s.admission import deployment_policy_problems
from mentatlab.k8s.agent_service import agent_service_objects, cr_to_agent_deployment
from mentatlab.k8s.naming import API_VERSION
from mentatlab.k8s.objects import InvalidResourceError, cr_to_manifest
from mentatlab.model.manifest import AgentManifest
from mentatlab.model.policy import Policy
from mentatlab.operator.resources import AgentResource, as_dict
from mentatlab.operator.status import ready_condition

__all__ = ["FIELD_MANAGER", "AgentDeploymentOutcome", "reconcile_agent_deployment"]

FIELD_MANAGER = "mentatlab-operator"
_NOT_FOUND = 404


@dataclass(frozen=True)
class AgentDeploymentOutcome:
    status: dict[str, Any]
    """The AgentDeployment's new status."""
    ready_changed: bool
    """The Ready condition changed status (worth a Kubernetes Event)."""


async def reconcile_agent_deployment(
    client: AsyncClient, body: Mapping[str, Any], *, policy: Policy
) -> AgentDeploymentOutcome:
    """One pass for the AgentDeployment ``body``: apply its objects, return its status.

    Nothing is created or updated while the agent or its pods break ``policy``.
    """
    metadata = body["metadata"]
    name, namespace = str(metadata["name"]), str(metadata["namespace"])
    generation = int(metadata.get("generation", 1))
    previous: Sequence[Mapping[str, Any]] = (body.get("status") or {}).get("conditions") or ()
    now = datetime.now(UTC)
    try:
        spec = cr_to_agent_deployment(body)
        manifest = await _manifest(client, spec.agent_ref, namespace)
        objects = agent_service_objects(
            name,
            namespace,
            spec,
            manifest,
            owner=Owner(
                api_version=API_VERSION, kind="AgentDeployment", name=name, uid=metadata["uid"]
            ),
        )
    except InvalidResourceError as exc:
        return _refused("Invalid", str(exc), generation, now, previous)
    problems = deployment_policy_problems(manifest, objects.deployment, policy)
    if problems:
        message = f"the agent breaks policy {policy.name!r}: " + "; ".join(problems)
        return _refused("PolicyViolation", message, generation, now, previous)
    for obj in (objects.deployment, objects.service, objects.autoscaler):
        if obj is not None:
            await client.apply(obj, field_manager=FIELD_MANAGER, force=True)
    if objects.autoscaler is None:  # switched from autoscaled to a fixed count
        with contextlib.suppress(ApiError):
            await client.delete(HorizontalPodAutoscaler, name, namespace=namespace)
    deployment = await client.get(Deployment, name, namespace=namespace)
    state = deployment.status
    replicas = (state.replicas if state else None) or 0
    ready = (state.readyReplicas if state else None) or 0
    wanted = deployment.spec.replicas if deployment.spec and deployment.spec.replicas else 0
    if objects.autoscaler is not None and objects.autoscaler.spec is not None:
        # A new Deployment asks for one replica until the autoscaler has scaled it to its
        # minimum: ready means at least that minimum.
        wanted = max(wanted, objects.autoscaler.spec.minReplicas or 1)
    available = (state.availableReplicas if state else None) or 0
    is_ready = available >= wanted and ready >= wanted
    condition = ready_condition(
        is_ready,
        "Available" if is_ready else "Progressing",
        f"{ready}/{wanted} replicas ready",
        generation=generation,
        now=now,
        previous=previous,
    )
    status = {
        "replicas": replicas,
        "readyReplicas": ready,
        "serviceName": name,
        "observedGeneration": generation,
        "conditions": [condition],
    }
    return _outcome(status, previous)


async def _manifest(client: AsyncClient, agent: str, namespace: str) -> AgentManifest:
    try:
        obj = await client.get(AgentResource, agent, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == _NOT_FOUND:
            raise InvalidResourceError(f"Agent {agent!r} not found") from None
        raise
    return cr_to_manifest(as_dict(obj))


def _refused(
    reason: str,
    message: str,
    generation: int,
    now: datetime,
    previous: Sequence[Mapping[str, Any]],
) -> AgentDeploymentOutcome:
    condition = ready_condition(
        False, reason, message, generation=generation, now=now, previous=previous
    )
    return _outcome({"observedGeneration": generation, "conditions": [condition]}, previous)


def _outcome(
    status: dict[str, Any], previous: Sequence[Mapping[str, Any]]
) -> AgentDeploymentOutcome:
    before = {c.get("type"): c.get("status") for c in previous}
    now_ready = status["conditions"][0]["status"]
    return AgentDeploymentOutcome(status, before.get("Ready") != now_ready)
