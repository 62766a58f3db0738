"""How a run's pods run on Kubernetes: the options a FlowRun's spec and a server run share.

A FlowRun carries them in its spec (``mentatlab.k8s.objects.FlowRunOptions`` adds what only
a custom resource has); a run submitted to a server carries them as its ``kubernetes`` object
(``mentatlab.model.api.RunCreate``). Same names, same meaning, one model.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_MAX_PARALLEL_PODS", "KubernetesRunOptions", "PodGC"]

DEFAULT_MAX_PARALLEL_PODS: Final = 32
"""Pods of one run at once when neither the run nor its flow says; the pods run on the
cluster's nodes, so the CPU count of the process running the engine says nothing about them;
bounded so one wide run does not flood the API server and the scheduler."""


class PodGC(StrEnum):
    """When a run's pods are deleted (``podGC``; default ``OnRunCompletion``)."""

    ON_POD_COMPLETION = "OnPodCompletion"
    ON_RUN_COMPLETION = "OnRunCompletion"
    NEVER = "Never"


class KubernetesRunOptions(BaseModel):
    """Where and how the pods of one run are scheduled, and when they are deleted."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    max_parallel: int | None = Field(
        default=None,
        ge=1,
        alias="maxParallel",
        description=(
            "Nodes running at once, at most (default: the flow's runConfig.maxParallel, "
            f"else {DEFAULT_MAX_PARALLEL_PODS})"
        ),
    )
    service_account_name: str | None = Field(
        default=None, alias="serviceAccountName", description="The pods' service account"
    )
    node_selector: dict[str, str] = Field(default_factory=dict, alias="nodeSelector")
    tolerations: tuple[dict[str, Any], ...] = Field(
        default=(), description="Kubernetes tolerations (core/v1 Toleration objects)"
    )
    affinity: dict[str, Any] | None = Field(
        default=None, description="A Kubernetes affinity (core/v1 Affinity object)"
    )
    priority_class_name: str | None = Field(default=None, alias="priorityClassName")
    pod_gc: PodGC = Field(default=PodGC.ON_RUN_COMPLETION, alias="podGC")
