"""MentatLab's CustomResourceDefinitions: Agent, Flow, FlowRun and AgentDeployment.

The spec schemas of Agent and Flow (and FlowRun's inline ``flow``, AgentDeployment's
``scaling``) are generated from ``schemas/agent-manifest.v1.schema.json`` and
``schemas/flow.v1.schema.json`` by :func:`mentatlab.k8s.openapi.to_structural`; the rest
(run options, statuses) is Kubernetes vocabulary written here. CEL rules
(``x-kubernetes-validations``) add what the schemas cannot say. ``docs/kubernetes-resources.md``
is the reference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

from mentatlab.k8s.naming import COMMON_LABELS, GROUP, VERSION
from mentatlab.k8s.openapi import PRESERVE_UNKNOWN, to_structural
from mentatlab.k8s.status import (
    MESSAGE_MAX_LENGTH,
    NODE_OUTPUTS_LIMIT_BYTES,
    FlowRunPhase,
    NodePhase,
    PodGC,
)

__all__ = [
    "CATEGORY",
    "FLOW_SCHEMA_ID",
    "MANIFEST_SCHEMA_ID",
    "CustomResource",
    "agent_spec_schema",
    "custom_resource_definitions",
    "flow_spec_schema",
]

CATEGORY: Final = "mentatlab"
"""``kubectl get mentatlab`` lists every MentatLab object."""
MANIFEST_SCHEMA_ID: Final = "https://mentatlab.io/schemas/agent-manifest.v1.schema.json"
FLOW_SCHEMA_ID: Final = "https://mentatlab.io/schemas/flow.v1.schema.json"
_SCHEMA_FILES: Final = ("agent-manifest.v1.schema.json", "flow.v1.schema.json")
_DOCUMENT_HEADER: Final = ("apiVersion", "kind")  # the object's own, not part of the spec


@dataclass(frozen=True)
class CustomResource:
    """One kind: its names, schemas and ``kubectl get`` columns."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    description: str
    spec: dict[str, Any]
    status: dict[str, Any]
    columns: tuple[dict[str, Any], ...]

    def definition(self) -> dict[str, Any]:
        """The CustomResourceDefinition object."""
        root = {
            "type": "object",
            "description": self.description,
            "required": ["spec"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": self.spec,
                "status": self.status,
            },
        }
        version = {
            "name": VERSION,
            "served": True,
            "storage": True,
            "subresources": {"status": {}},
            "additionalPrinterColumns": [
                *self.columns,
                _column("Age", "metadata.creationTimestamp", "date"),
            ],
            "schema": {"openAPIV3Schema": root},
        }
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{self.plural}.{GROUP}", "labels": dict(COMMON_LABELS)},
            "spec": {
                "group": GROUP,
                "scope": "Namespaced",
                "names": {
                    "kind": self.kind,
                    "listKind": f"{self.kind}List",
                    "plural": self.plural,
                    "singular": self.kind.lower(),
                    "shortNames": list(self.short_names),
                    "categories": [CATEGORY],
                },
                "versions": [version],
            },
        }


def custom_resource_definitions() -> list[dict[str, Any]]:
    """The four CRDs, in the order they are installed."""
    return [resource.definition() for resource in _resources()]


def agent_spec_schema() -> dict[str, Any]:
    """An Agent's spec: the agent manifest v1 without ``apiVersion``/``kind``."""
    spec = _document_body(MANIFEST_SCHEMA_ID, "The agent manifest v1 (manifest.yaml of a Cog-Pak).")
    spec["properties"]["scaling"]["x-kubernetes-validations"] = [_SCALING_RANGE]
    return spec


def flow_spec_schema() -> dict[str, Any]:
    """A Flow's spec: the flow v1 document without ``apiVersion``/``kind``."""
    return _document_body(FLOW_SCHEMA_ID, "The flow v1 document: meta, graph, layout, runConfig.")


_SCALING_RANGE: Final = {
    "rule": (
        "!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas"
    ),
    "message": "minReplicas must not be greater than maxReplicas",
}


@cache
def _documents() -> dict[str, dict[str, Any]]:
    folder = resources.files("mentatlab").joinpath("schemas")
    loaded = [json.loads(folder.joinpath(name).read_text("utf-8")) for name in _SCHEMA_FILES]
    return {document["$id"]: document for document in loaded}


def _document_body(schema_id: str, description: str) -> dict[str, Any]:
    document = _documents()[schema_id]
    # Top-level 'x-' extension keys are for tools; the models drop them, so no spec has them.
    body = {
        "type": "object",
        "description": description,
        "required": [key for key in document["required"] if key not in _DOCUMENT_HEADER],
        "additionalProperties": False,
        "properties": {
            key: value
            for key, value in document["properties"].items()
            if key not in _DOCUMENT_HEADER
        },
    }
    return to_structural(body, base=schema_id, documents=_documents())


def _scaling_schema() -> dict[str, Any]:
    scaling = to_structural(
        {"$ref": "#/$defs/scaling"}, base=MANIFEST_SCHEMA_ID, documents=_documents()
    )
    return {**scaling, "x-kubernetes-validations": [_SCALING_RANGE]}


def _column(
    name: str, path: str, kind: str = "string", *, priority: int = 0, description: str = ""
) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": kind, "jsonPath": f".{path}"}
    if priority:
        column["priority"] = priority
    if description:
        column["description"] = description
    return column


def _string(description: str, **checks: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **checks}


def _integer(description: str, minimum: int = 0) -> dict[str, Any]:
    return {"type": "integer", "format": "int64", "minimum": minimum, "description": description}


def _timestamp(description: str) -> dict[str, Any]:
    return _string(description, format="date-time")


def _enum(description: str, values: Sequence[str]) -> dict[str, Any]:
    return _string(description, enum=list(values))


def _object(description: str, properties: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "description": description, "properties": dict(properties), **extra}


def _any_object(description: str) -> dict[str, Any]:
    return {"type": "object", "description": description, PRESERVE_UNKNOWN: True}


_CONDITIONS: Final = {
    "type": "array",
    "description": "Standard conditions (metav1.Condition), one per type, e.g. Ready.",
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
    "items": _object(
        "The latest observation of one aspect of the object.",
        {
            "type": _string("Condition type, e.g. Ready.", minLength=1, maxLength=316),
            "status": _enum("True, False or Unknown.", ("True", "False", "Unknown")),
            "observedGeneration": _integer("metadata.generation the condition was set for."),
            "lastTransitionTime": _timestamp("When status last changed."),
            "reason": _string(
                "CamelCase machine-readable cause.",
                minLength=1,
                maxLength=1024,
                pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
            ),
            "message": _string("What a person should know.", maxLength=32768),
        },
        required=["type", "status", "lastTransitionTime", "reason", "message"],
    ),
}
_OBSERVED_GENERATION: Final = _integer("metadata.generation the operator last acted on.")


def _validity_status(kind: str) -> dict[str, Any]:
    return _object(
        f"What the operator observed about this {kind}.",
        {"observedGeneration": _OBSERVED_GENERATION, "conditions": _CONDITIONS},
    )


_TOLERATION: Final = _object(
    "A core/v1 Toleration, copied into every pod of the run.",
    {
        "key": _string("Taint key; empty with operator Exists matches every taint."),
        "operator": _enum("Equal (default) or Exists.", ("Equal", "Exists")),
        "value": _string("Taint value, for operator Equal."),
        "effect": _enum(
            "Taint effect; empty matches all.", ("NoSchedule", "PreferNoSchedule", "NoExecute")
        ),
        "tolerationSeconds": {
            "type": "integer",
            "format": "int64",
            "description": "For NoExecute: how long the pod stays bound after the taint appears.",
        },
    },
)


_IMMUTABLE: Final = {"rule": "self == oldSelf", "message": "is immutable"}


def _flowrun_spec() -> dict[str, Any]:
    return _object(
        "One execution of a flow: which flow, its inputs, and how its pods run.",
        {
            "flowRef": _string(
                "Name of a Flow in the FlowRun's namespace. Exactly one of flowRef and flow.",
                minLength=1,
                maxLength=253,
                **{"x-kubernetes-validations": [_IMMUTABLE]},
            ),
            "flow": {
                **flow_spec_schema(),
                "description": "An inline flow (a Flow's spec). Exactly one of flowRef and flow.",
            },
            "inputs": _any_object(
                "Run inputs by 'NODE.PIN', any JSON values (as mentatctl run -i NODE.PIN=VALUE)."
            ),
            "maxParallel": _integer("Most agent pods of this run at once.", minimum=1),
            "serviceAccountName": _string("Service account of the run's pods.", maxLength=253),
            "nodeSelector": {
                "type": "object",
                "description": "Node labels every pod of the run requires.",
                "additionalProperties": {"type": "string"},
            },
            "tolerations": {
                "type": "array",
                "description": "Tolerations of the run's pods.",
                "items": _TOLERATION,
            },
            "affinity": _any_object(
                "A core/v1 Affinity for the run's pods (checked when the pods are created)."
            ),
            "priorityClassName": _string("PriorityClass of the run's pods.", maxLength=253),
            "ttlSecondsAfterFinished": _integer(
                "Delete the FlowRun (and its pods) this long after it finished."
            ),
            "podGC": _enum(
                "When pods are deleted: OnPodCompletion, OnRunCompletion (default) or Never.",
                [policy.value for policy in PodGC],
            ),
            "cancel": {
                "type": "boolean",
                "description": "Set to true to cancel the run; running agents are stopped.",
                "x-kubernetes-validations": [
                    {"rule": "self || !oldSelf", "message": "a cancelled FlowRun stays cancelled"}
                ],
            },
        },
        **{
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.flowRef) != has(self.flow)",
                    "message": "set exactly one of flowRef (a Flow's name) and flow (inline)",
                }
            ]
        },
    )


def _flowrun_status() -> dict[str, Any]:
    node = _object(
        "One node of the run (for_each instances are named NODE[i]).",
        {
            "phase": _enum("Where the node is.", [phase.value for phase in NodePhase]),
            "attempts": _integer("Attempts started so far."),
            "podName": _string("Pod of the latest attempt."),
            "startedAt": _timestamp("When the first attempt started."),
            "finishedAt": _timestamp("When the node finished."),
            "exitReason": _string(
                "Why it failed, as in run records: exit_code, timeout, input_error, ..."
            ),
            "message": _string("What went wrong, for a person.", maxLength=MESSAGE_MAX_LENGTH),
            "outputs": _any_object(
                f"Output values by pin, if their compact JSON fits in {NODE_OUTPUTS_LIMIT_BYTES} "
                "bytes; otherwise read them from the run's event log."
            ),
            "outputsTruncated": {
                "type": "boolean",
                "description": "Outputs were left out of the status because of their size.",
            },
        },
    )
    return _object(
        "Progress and result of the run, written by the operator.",
        {
            "phase": _enum("Where the run is.", [phase.value for phase in FlowRunPhase]),
            "progress": _string("Finished nodes / all nodes, e.g. 3/5.", pattern=r"^\d+/\d+$"),
            "runId": _string("Id of the run in MentatLab's run store and event log."),
            "startedAt": _timestamp("When the run started."),
            "finishedAt": _timestamp("When the run finished."),
            "message": _string("Why the run failed, for a person.", maxLength=MESSAGE_MAX_LENGTH),
            "nodes": {
                "type": "object",
                "description": "Per node, by node id.",
                "additionalProperties": node,
            },
            "observedGeneration": _OBSERVED_GENERATION,
            "conditions": _CONDITIONS,
        },
    )


def _agent_deployment_spec() -> dict[str, Any]:
    return _object(
        "A long-running agent kept as Deployment + Service (+ HorizontalPodAutoscaler).",
        {
            "agentRef": _string(
                "Name of an Agent (longRunning: true) in the same namespace.",
                minLength=1,
                maxLength=253,
            ),
            "replicas": _integer("A fixed number of replicas (no autoscaling)."),
            "scaling": {
                **_scaling_schema(),
                "description": "Overrides the manifest's scaling (HorizontalPodAutoscaler).",
            },
        },
        required=["agentRef"],
        **{
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.replicas) && has(self.scaling))",
                    "message": "set replicas (fixed) or scaling (autoscaled), not both",
                }
            ]
        },
    )


def _agent_deployment_status() -> dict[str, Any]:
    return _object(
        "The Deployment's state, written by the operator.",
        {
            "replicas": _integer("Pods the Deployment has."),
            "readyReplicas": _integer("Pods ready to serve."),
            "serviceName": _string("Service that reaches the agent."),
            "observedGeneration": _OBSERVED_GENERATION,
            "conditions": _CONDITIONS,
        },
    )


def _resources() -> tuple[CustomResource, ...]:
    return (
        CustomResource(
            kind="Agent",
            plural="agents",
            short_names=("mla",),
            description="A registered Cog-Pak: its spec is the agent manifest v1.",
            spec=agent_spec_schema(),
            status=_validity_status("agent"),
            columns=(
                _column("ID", "spec.id"),
                _column("Version", "spec.version"),
                _column("Image", "spec.image"),
                _column("Long-Running", "spec.longRunning", "boolean", priority=1),
            ),
        ),
        CustomResource(
            kind="Flow",
            plural="flows",
            short_names=("mlf",),
            description="A flow: its spec is a flow v1 document's meta, graph, layout, runConfig.",
            spec=flow_spec_schema(),
            status=_validity_status("flow"),
            columns=(_column("Flow-ID", "spec.meta.id"), _column("Title", "spec.meta.name")),
        ),
        CustomResource(
            kind="FlowRun",
            plural="flowruns",
            short_names=("fr", "mlfr"),
            description="One execution of a flow, run as pods by the MentatLab operator.",
            spec=_flowrun_spec(),
            status=_flowrun_status(),
            columns=(
                _column("Flow", "spec.flowRef"),
                _column("Phase", "status.phase"),
                _column("Progress", "status.progress"),
                _column("Run-ID", "status.runId", priority=1),
                _column("Started", "status.startedAt", "date", priority=1),
            ),
        ),
        CustomResource(
            kind="AgentDeployment",
            plural="agentdeployments",
            short_names=("mlad",),
            description="A long-running agent kept as Deployment, Service and autoscaler.",
            spec=_agent_deployment_spec(),
            status=_agent_deployment_status(),
            columns=(
                _column("Agent", "spec.agentRef"),
                _column("Replicas", "status.replicas", "integer"),
                _column("Ready", "status.readyReplicas", "integer"),
            ),
        ),
    )
