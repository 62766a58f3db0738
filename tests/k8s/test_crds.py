"""The CRDs: structural schemas generated from schemas/, names, columns, CEL rules, statuses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from crd_helpers import crd_schema, custom_object, schema_errors

from mentatlab.k8s import (
    CATEGORY,
    GROUP,
    MESSAGE_MAX_LENGTH,
    NODE_OUTPUTS_LIMIT_BYTES,
    FlowRunPhase,
    agent_spec_schema,
    custom_resource_definitions,
    flow_spec_schema,
    structural_violations,
)
from mentatlab.model.run import NodeError, NodeRecord, NodeStatus, RunRecord, RunStatus
from mentatlab.operator.status import flowrun_status, invalid_status

KINDS = {
    "Agent": ("agents", ["mla"]),
    "Flow": ("flows", ["mlf"]),
    "FlowRun": ("flowruns", ["fr", "mlfr"]),
    "AgentDeployment": ("agentdeployments", ["mlad"]),
}


def crd(kind: str) -> dict[str, Any]:
    [found] = [c for c in custom_resource_definitions() if c["spec"]["names"]["kind"] == kind]
    return found


def keywords(schema: Any) -> set[str]:
    """Every keyword used anywhere in ``schema`` (property names are not keywords)."""
    if isinstance(schema, list):
        return {k for value in schema for k in keywords(value)}
    if not isinstance(schema, dict):
        return set()
    children = [v for key, v in schema.items() if key != "properties"]
    children += list(schema.get("properties", {}).values())
    return set(schema) | {k for value in children for k in keywords(value)}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_schema_is_structural(kind: str) -> None:
    schema = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert structural_violations(schema, crd_root=True) == []
    assert not keywords(schema) & {"$ref", "$defs", "const", "patternProperties", "default"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_names_status_and_columns(kind: str) -> None:
    definition = crd(kind)
    plural, short_names = KINDS[kind]
    names = definition["spec"]["names"]
    assert definition["metadata"]["name"] == f"{plural}.{GROUP}"
    assert (names["plural"], names["shortNames"], names["categories"]) == (
        plural,
        short_names,
        [CATEGORY],
    )
    [version] = definition["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    assert version["additionalPrinterColumns"][-1]["name"] == "Age"
    for column in version["additionalPrinterColumns"]:
        # Every column points at a field the schema declares.
        node = version["schema"]["openAPIV3Schema"]
        for part in column["jsonPath"].strip(".").split("."):
            if part in ("metadata", "creationTimestamp"):
                break
            node = node["properties"][part]


def test_columns_people_look_for() -> None:
    def columns(kind: str) -> list[str]:
        return [
            c["name"]
            for c in crd(kind)["spec"]["versions"][0]["additionalPrinterColumns"]
            if not c.get("priority")
        ]

    assert columns("FlowRun") == ["Flow", "Phase", "Progress", "Age"]
    assert columns("Agent") == ["ID", "Version", "Image", "Age"]


def test_agent_spec_is_the_manifest_without_its_header() -> None:
    spec = agent_spec_schema()
    assert "apiVersion" not in spec["properties"]
    assert spec["required"] == ["id", "version", "description", "inputs", "outputs"]
    pin = spec["properties"]["inputs"]["items"]
    assert pin["properties"]["type"]["enum"][:2] == ["string", "number"]
    assert pin["properties"]["default"] == {
        "description": "Inputs only: value used when nothing is connected or given.",
        "x-kubernetes-preserve-unknown-fields": True,
        "nullable": True,
    }
    timeout = spec["properties"]["resources"]["properties"]["timeoutSeconds"]
    assert (timeout["minimum"], timeout["exclusiveMinimum"]) == (0, True)
    # KEY=VALUE strings or objects: any value here, checked by the operator's validation.
    assert spec["properties"]["env"]["items"]["x-kubernetes-preserve-unknown-fields"] is True


def test_flow_spec_keeps_arbitrary_values_and_checks_the_rest() -> None:
    spec = flow_spec_schema()
    node = spec["properties"]["graph"]["properties"]["nodes"]["items"]
    for free in ("params", "inputs", "outputs"):
        assert node["properties"][free]["x-kubernetes-preserve-unknown-fields"] is True
    assert spec["properties"]["layout"]["x-kubernetes-preserve-unknown-fields"] is True
    edge = spec["properties"]["graph"]["properties"]["edges"]["items"]
    assert edge["properties"]["from"]["pattern"] == r"^[^.]+\.[^.]+$"
    # The cross-schema $ref to the manifest's retry policy is inlined.
    retries = node["properties"]["retries"]["properties"]
    assert retries["limit"] == {
        "description": "Retries after the first attempt.",
        "type": "integer",
        "minimum": 0,
        "maximum": 100,
    }


def rules(schema: dict[str, Any]) -> list[str]:
    return [rule["rule"] for rule in schema.get("x-kubernetes-validations", [])]


def test_cel_rules() -> None:
    flowrun = crd_schema("FlowRun")["properties"]["spec"]
    assert rules(flowrun) == ["has(self.flowRef) != has(self.flow)"]
    assert rules(flowrun["properties"]["flowRef"]) == ["self == oldSelf"]
    assert rules(flowrun["properties"]["cancel"]) == ["self || !oldSelf"]
    scaling_range = (
        "!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas"
    )
    deployment = crd_schema("AgentDeployment")["properties"]["spec"]
    assert rules(deployment["properties"]["scaling"]) == [scaling_range]
    assert rules(crd_schema("Agent")["properties"]["spec"]["properties"]["scaling"]) == [
        scaling_range
    ]


def test_flowrun_status_shape() -> None:
    status = crd_schema("FlowRun")["properties"]["status"]["properties"]
    assert status["phase"]["enum"] == [phase.value for phase in FlowRunPhase]
    node = status["nodes"]["additionalProperties"]["properties"]
    assert set(node) == {
        "phase",
        "attempts",
        "podName",
        "startedAt",
        "finishedAt",
        "exitReason",
        "message",
        "outputs",
        "outputsTruncated",
    }
    condition = status["conditions"]["items"]
    assert condition["required"] == ["type", "status", "lastTransitionTime", "reason", "message"]


def flowrun(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return custom_object("FlowRun", spec, status=status)


def test_schema_accepts_a_full_flowrun() -> None:
    status = {
        "phase": "Running",
        "progress": "3/5",
        "runId": "r01",
        "startedAt": "2025-01-31T12:00:00Z",
        "nodes": {
            "words[0]": {"phase": "Succeeded", "attempts": 1, "outputs": {"k": None}},
            "show": {"phase": "Failed", "exitReason": "timeout", "message": "took too long"},
        },
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Accepted",
                "message": "",
                "lastTransitionTime": "2025-01-31T12:00:00Z",
                "observedGeneration": 1,
            }
        ],
    }
    spec = {
        "flowRef": "hello",
        "inputs": {"prompt.text": "hi", "x.y": None},
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "nodeSelector": {"pool": "cpu"},
        "podGC": "OnPodCompletion",
        "maxParallel": 2,
    }
    assert schema_errors(flowrun(spec, status)) == []


@pytest.mark.parametrize(
    ("spec", "status"),
    [
        ({"flowRef": "f", "podGC": "Sometimes"}, None),
        ({"flowRef": "f", "maxParallel": 0}, None),
        ({"flowRef": "f", "tolerations": [{"operator": "Maybe"}]}, None),
        ({"flowRef": "f"}, {"phase": "Done"}),
        ({"flowRef": "f"}, {"progress": "three of five"}),
        ({"flowRef": "f"}, {"nodes": {"a": {"phase": "pending"}}}),
        ({"flowRef": "f"}, {"message": "x" * (MESSAGE_MAX_LENGTH + 1)}),
    ],
)
def test_schema_rejects_invalid_flowruns(spec: dict[str, Any], status: dict[str, Any]) -> None:
    assert schema_errors(flowrun(spec, status)) != []


def test_the_operators_status_projection_fits_the_schema() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    error = NodeError(node="b", attempt=2, reason="upstream_failed", message="x" * 5000)
    nodes = {
        "a[0]": NodeRecord(status=NodeStatus.SUCCEEDED, attempts=1, outputs={"v": None}),
        "a[1]": NodeRecord(status=NodeStatus.SUCCEEDED, attempts=1, outputs={"v": "x" * 5000}),
        "b": NodeRecord(status=NodeStatus.FAILED, attempts=2, error=error),
        "c": NodeRecord(status=NodeStatus.SKIPPED),
    }
    record = RunRecord(
        id="r1",
        status=RunStatus.FAILED,
        created_at=now,
        started_at=now,
        finished_at=now,
        nodes=nodes,
        error=error,
    )
    status = flowrun_status(record, generation=2, pod_name=lambda n, a: f"p-{a}", now=now)
    assert schema_errors(flowrun({"flowRef": "f"}, status)) == []
    refused = invalid_status("unknown agent", generation=1, now=now)
    assert schema_errors(flowrun({"flowRef": "f"}, refused)) == []
    oversized = {"v": "x" * NODE_OUTPUTS_LIMIT_BYTES}
    record = record.model_copy(
        update={"nodes": {"a": NodeRecord(status=NodeStatus.SUCCEEDED, outputs=oversized)}}
    )
    status = flowrun_status(record, generation=2, pod_name=lambda n, a: f"p-{a}", now=now)
    assert status["nodes"]["a"] == {"phase": "Succeeded", "attempts": 0, "outputsTruncated": True}
    assert schema_errors(flowrun({"flowRef": "f"}, status)) == []
