"""lightkube resource types for MentatLab's custom resources (group ``mentatlab.io``)."""

from __future__ import annotations

from typing import Any, cast

from lightkube.generic_resource import GenericNamespacedResource, create_namespaced_resource

__all__ = [
    "AgentDeploymentResource",
    "AgentResource",
    "FlowResource",
    "FlowRunResource",
    "as_dict",
]

AgentResource = create_namespaced_resource("mentatlab.io", "v1", "Agent", "agents")
FlowResource = create_namespaced_resource("mentatlab.io", "v1", "Flow", "flows")
FlowRunResource = create_namespaced_resource("mentatlab.io", "v1", "FlowRun", "flowruns")
AgentDeploymentResource = create_namespaced_resource(
    "mentatlab.io", "v1", "AgentDeployment", "agentdeployments"
)


def as_dict(obj: GenericNamespacedResource) -> dict[str, Any]:
    """A custom resource object as plain JSON data."""
    return cast(dict[str, Any], obj.to_dict())  # type: ignore[no-untyped-call]
