"""The objects of an AgentDeployment, as pure functions of its spec and its Agent."""

from __future__ import annotations

from typing import Any

import pytest

from mentatlab.engine.drivers.kubernetes import Owner
from mentatlab.k8s.agent_service import (
    AgentDeploymentSpec,
    agent_service_objects,
    cr_to_agent_deployment,
)
from mentatlab.k8s.objects import InvalidResourceError
from mentatlab.model.manifest import AgentManifest

OWNER = Owner(api_version="mentatlab.io/v1", kind="AgentDeployment", name="svc", uid="u-1")


def manifest(**fields: Any) -> AgentManifest:
    return AgentManifest.model_validate(
        {
            "id": "t.svc",
            "version": "1.2.3",
            "image": "registry.example/svc:1.2.3",
            "description": "a service",
            "longRunning": True,
            **fields,
        }
    )


def objects(spec: dict[str, Any], **fields: Any) -> Any:
    return agent_service_objects(
        "svc",
        "ns",
        AgentDeploymentSpec.model_validate({"agentRef": "svc-agent", **spec}),
        manifest(**fields),
        owner=OWNER,
    )


@pytest.mark.parametrize(
    ("spec", "manifest_scaling", "replicas", "autoscaled"),
    [
        ({}, None, 1, None),
        ({"replicas": 4}, {"minReplicas": 1, "maxReplicas": 9}, 4, None),
        ({}, {"minReplicas": 2}, 2, None),
        ({}, {"minReplicas": 2, "maxReplicas": 6}, None, (2, 6, 80)),
        ({}, {"minReplicas": 0, "maxReplicas": 3}, None, (1, 3, 80)),  # no scale-to-zero
        (
            {"scaling": {"maxReplicas": 7, "targetCPUUtilizationPercentage": 50}},
            {"minReplicas": 2, "maxReplicas": 3},
            None,
            (1, 7, 50),
        ),
    ],
)
def test_replicas_come_from_the_spec_then_the_manifest(
    spec: dict[str, Any],
    manifest_scaling: dict[str, Any] | None,
    replicas: int | None,
    autoscaled: tuple[int, int, int] | None,
) -> None:
    made = objects(spec, scaling=manifest_scaling)
    assert made.deployment.spec.replicas == replicas
    if autoscaled is None:
        assert made.autoscaler is None
    else:
        hpa = made.autoscaler.spec
        target = hpa.metrics[0].resource.target.averageUtilization
        assert (hpa.minReplicas, hpa.maxReplicas, target) == autoscaled


def test_every_object_is_owned_labelled_and_selected_alike() -> None:
    made = objects({}, scaling={"maxReplicas": 2})
    for obj in (made.deployment, made.service, made.autoscaler):
        assert obj.metadata.ownerReferences[0].uid == "u-1"
        assert obj.metadata.labels["mentatlab.io/agent"] == "t.svc"
        assert obj.metadata.labels["app.kubernetes.io/version"] == "1.2.3"
    selector = made.deployment.spec.selector.matchLabels
    assert made.service.spec.selector == selector
    assert made.deployment.spec.template.metadata.labels.items() >= selector.items()


def test_secret_env_stays_a_reference() -> None:
    made = objects(
        {},
        env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
    )
    (container,) = made.deployment.spec.template.spec.containers
    token = next(var for var in container.env if var.name == "TOKEN")
    assert token.value is None and token.valueFrom.secretKeyRef.name == "s"


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"longRunning": False}, "not longRunning"), ({"image": None}, "has no image")],
)
def test_an_unfit_agent_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidResourceError, match=message):
        objects({}, **fields)


def test_an_invalid_spec_is_refused() -> None:
    with pytest.raises(InvalidResourceError, match="agentRef"):
        cr_to_agent_deployment({"spec": {"replicas": 2}})
