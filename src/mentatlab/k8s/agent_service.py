"""What an AgentDeployment looks like in Kubernetes: a Deployment, a Service and, when the
agent scales, a HorizontalPodAutoscaler.

A long-running agent (``longRunning: true``) is a server rather than a per-attempt process:
it listens on ``$MENTAT_PORT`` (8080) and is reached through the Service of the same name as
the AgentDeployment. Its pods get the same restricted security context and the same
resource defaults as the pods of a FlowRun. Pure functions, no API calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.autoscaling_v2 import (
    CrossVersionObjectReference,
    HorizontalPodAutoscalerSpec,
    MetricSpec,
    MetricTarget,
    ResourceMetricSource,
)
from lightkube.models.core_v1 import (
    Container,
    ContainerPort,
    EmptyDirVolumeSource,
    EnvVar,
    PodSpec,
    PodTemplateSpec,
    Probe,
    ServicePort,
    ServiceSpec,
    TCPSocketAction,
    Volume,
    VolumeMount,
)
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta, OwnerReference
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler
from lightkube.resources.core_v1 import Service
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mentatlab.engine.drivers.kubernetes.pods import (
    AGENT_CONTAINER,
    DEFAULT_LIMITS,
    DEFAULT_REQUESTS,
    LABEL_AGENT,
    NONROOT_USER,
    Owner,
    manifest_env,
    resource_requirements,
    restricted_pod_security_context,
    restricted_security_context,
)
from mentatlab.k8s.naming import label_value
from mentatlab.k8s.objects import InvalidResourceError
from mentatlab.model.manifest import AgentManifest, Scaling

__all__ = [
    "AGENT_PORT",
    "LABEL_AGENT_DEPLOYMENT",
    "AgentDeploymentSpec",
    "AgentServiceObjects",
    "agent_service_objects",
    "cr_to_agent_deployment",
]

AGENT_PORT: Final = 8080
"""The port a long-running agent listens on (also in ``$MENTAT_PORT``)."""
LABEL_AGENT_DEPLOYMENT: Final = "mentatlab.io/agentdeployment"
_DEFAULT_CPU_TARGET: Final = 80
_MANAGED_BY: Final = "mentatlab-operator"


class AgentDeploymentSpec(BaseModel):
    """An AgentDeployment's spec."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    agent_ref: str = Field(min_length=1, alias="agentRef")
    replicas: int | None = Field(default=None, ge=0)
    scaling: Scaling | None = None


@dataclass(frozen=True)
class AgentServiceObjects:
    deployment: Deployment
    service: Service
    autoscaler: HorizontalPodAutoscaler | None
    """None when the replica count is fixed: a leftover autoscaler is then deleted."""


def cr_to_agent_deployment(obj: Mapping[str, Any]) -> AgentDeploymentSpec:
    try:
        return AgentDeploymentSpec.model_validate(obj.get("spec") or {})
    except ValidationError as exc:
        raise InvalidResourceError(f"invalid AgentDeployment spec: {exc}") from exc


def agent_service_objects(
    name: str,
    namespace: str,
    spec: AgentDeploymentSpec,
    manifest: AgentManifest,
    *,
    owner: Owner,
) -> AgentServiceObjects:
    """The objects keeping ``manifest`` running as the AgentDeployment ``name``.

    Raises :class:`InvalidResourceError` for an agent that cannot run as a service.
    """
    if not manifest.long_running:
        raise InvalidResourceError(f"agent {manifest.ref} is not longRunning")
    if manifest.image is None:
        raise InvalidResourceError(f"agent {manifest.ref} has no image")
    replicas, autoscaled = _replicas(spec, manifest)
    selector = {LABEL_AGENT_DEPLOYMENT: label_value(name)}
    labels = {
        "app.kubernetes.io/name": "mentatlab-agent",
        "app.kubernetes.io/instance": label_value(name),
        "app.kubernetes.io/component": "service",
        "app.kubernetes.io/version": label_value(manifest.version),
        "app.kubernetes.io/managed-by": _MANAGED_BY,
        LABEL_AGENT: label_value(manifest.id),
        **selector,
    }
    metadata = ObjectMeta(
        name=name,
        namespace=namespace,
        labels=labels,
        ownerReferences=[
            OwnerReference(
                apiVersion=owner.api_version,
                kind=owner.kind,
                name=owner.name,
                uid=owner.uid,
                controller=True,
                blockOwnerDeletion=True,
            )
        ],
    )
    deployment = Deployment(
        metadata=metadata,
        spec=DeploymentSpec(
            # Left out when autoscaled: the autoscaler owns the count, the operator must not
            # reset it on every reconciliation.
            replicas=None if autoscaled is not None else replicas,
            selector=LabelSelector(matchLabels=selector),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=labels),
                spec=_pod_spec(manifest),
            ),
        ),
    )
    service = Service(
        metadata=metadata,
        spec=ServiceSpec(
            selector=selector,
            ports=[ServicePort(name="http", port=80, targetPort="http", protocol="TCP")],
        ),
    )
    autoscaler = None
    if autoscaled is not None:
        low, high, cpu = autoscaled
        autoscaler = HorizontalPodAutoscaler(
            metadata=metadata,
            spec=HorizontalPodAutoscalerSpec(
                scaleTargetRef=CrossVersionObjectReference(
                    apiVersion="apps/v1", kind="Deployment", name=name
                ),
                minReplicas=low,
                maxReplicas=high,
                metrics=[
                    MetricSpec(
                        type="Resource",
                        resource=ResourceMetricSource(
                            name="cpu",
                            target=MetricTarget(type="Utilization", averageUtilization=cpu),
                        ),
                    )
                ],
            ),
        )
    return AgentServiceObjects(deployment, service, autoscaler)


def _replicas(
    spec: AgentDeploymentSpec, manifest: AgentManifest
) -> tuple[int, tuple[int, int, int] | None]:
    """A fixed count, or the autoscaler's (min, max, CPU target)."""
    if spec.replicas is not None:
        return spec.replicas, None
    scaling = spec.scaling or manifest.scaling
    if scaling is None:
        return 1, None
    if scaling.max_replicas is None:
        return scaling.min_replicas if scaling.min_replicas is not None else 1, None
    # An autoscaler cannot scale to zero without an alpha feature gate: at least one replica.
    low = max(scaling.min_replicas or 1, 1)
    cpu = scaling.target_cpu_utilization_percentage or _DEFAULT_CPU_TARGET
    return low, (low, max(scaling.max_replicas, low), cpu)


def _pod_spec(manifest: AgentManifest) -> PodSpec:
    port_env = [
        EnvVar(name="MENTAT_PORT", value=str(AGENT_PORT)),
        EnvVar(name="MENTAT_AGENT_ID", value=manifest.id),
        EnvVar(name="MENTAT_AGENT_VERSION", value=manifest.version),
    ]
    container = Container(
        name=AGENT_CONTAINER,
        image=manifest.image,
        command=list(manifest.command) if manifest.command else None,
        env=manifest_env(manifest) + port_env,
        ports=[ContainerPort(name="http", containerPort=AGENT_PORT, protocol="TCP")],
        readinessProbe=Probe(tcpSocket=TCPSocketAction(port="http"), periodSeconds=5),
        resources=resource_requirements(
            manifest,
            default_requests=DEFAULT_REQUESTS,
            default_limits=DEFAULT_LIMITS,
            memory_bytes=None,
        ),
        securityContext=restricted_security_context(),
        volumeMounts=[VolumeMount(name="tmp", mountPath="/tmp")],  # noqa: S108 - an emptyDir
    )
    return PodSpec(
        containers=[container],
        automountServiceAccountToken=False,
        enableServiceLinks=False,
        securityContext=restricted_pod_security_context(NONROOT_USER),
        volumes=[Volume(name="tmp", emptyDir=EmptyDirVolumeSource())],
    )
