"""The API server enforces the CRDs: what each one accepts, and what it refuses with 422.

Every object here is sent as a server-side dry run (``dryRun=All``): the API server runs
defaulting, pruning, schema validation and CEL rules, then stores nothing. Rules about changes
(``oldSelf``) need a stored object; those tests create theirs in a namespace of their own.
Each refused case is also checked against the local approximation (``schema_errors``), so it
and the server agree on everything except CEL, which only the server evaluates.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import pytest
from crd_helpers import REPO, custom_object, schema_errors
from lightkube import ApiError, Client, KubeConfig
from lightkube.generic_resource import GenericNamespacedResource, create_namespaced_resource
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType

from mentatlab.k8s import agent_to_cr, custom_resource_definitions, flow_to_cr
from mentatlab.k8s.naming import GROUP, VERSION
from mentatlab.validation import AgentCatalog, load_flow, load_manifest

NAMESPACE: Final = "default"  # dry runs store nothing, so any existing namespace will do
REMOVE: Final = object()
"""As a value in a change: delete the field."""

RESOURCES: Final[dict[str, type[GenericNamespacedResource]]] = {
    crd["spec"]["names"]["kind"]: create_namespaced_resource(
        GROUP, VERSION, crd["spec"]["names"]["kind"], crd["spec"]["names"]["plural"]
    )
    for crd in custom_resource_definitions()
}


def _agent() -> dict[str, Any]:
    manifest, findings = load_manifest(REPO / "agents" / "echo")
    assert manifest is not None, findings
    obj = agent_to_cr(manifest, name="valid")
    obj["spec"]["retries"] = {"limit": 2, "backoff": {"initialSeconds": 1, "jitter": 0.5}}
    obj["spec"]["scaling"] = {"minReplicas": 1, "maxReplicas": 3}
    return obj


def _flow() -> dict[str, Any]:
    flow, findings = load_flow(
        REPO / "examples" / "hello.flow.yaml", AgentCatalog([REPO / "agents"])
    )
    assert flow is not None, findings
    return flow_to_cr(flow, name="valid")


VALID: Final[dict[str, dict[str, Any]]] = {
    "Agent": _agent(),
    "Flow": _flow(),
    "FlowRun": custom_object(
        "FlowRun",
        {
            "flowRef": "examples.hello",
            "inputs": {"text.text": "hi", "keywords.top_k": 3, "x.y": None},
            "maxParallel": 2,
            "podGC": "OnPodCompletion",
            "ttlSecondsAfterFinished": 60,
            "nodeSelector": {"pool": "cpu"},
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {}},
            "cancel": False,
        },
        name="valid",
    ),
    "FlowRun/inline": custom_object("FlowRun", {"flow": _flow()["spec"]}, name="valid"),
    "AgentDeployment": custom_object(
        "AgentDeployment",
        {
            "agentRef": "mentatlab.echo-1.0.0",
            "scaling": {"minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 70},
        },
        name="valid",
    ),
    "AgentDeployment/fixed": custom_object(
        "AgentDeployment", {"agentRef": "mentatlab.echo-1.0.0", "replicas": 2}, name="valid"
    ),
}


def _segments(path: str) -> list[str | int]:
    return [int(part) if part.isdigit() else part for part in path.split(".")]


def changed(obj: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` with each dotted path (``spec.inputs.0.type``) set or removed."""
    result = copy.deepcopy(dict(obj))
    for path, value in changes.items():
        *parents, last = _segments(path)
        node: Any = result
        for part in parents:
            node = node[part]
        if value is REMOVE:
            del node[last]
        else:
            node[last] = value
    return result


def field_name(path: str) -> str:
    """A dotted path as the API server names the field: ``spec.inputs[0].type``."""
    return "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in _segments(path)
    ).lstrip(".")


@pytest.fixture(scope="module")
def kube() -> Iterator[Client]:
    with Client(KubeConfig.from_file(os.environ["KUBECONFIG"])) as client:
        yield client


def dry_run_create(kube: Client, obj: Mapping[str, Any]) -> dict[str, Any]:
    created = kube.create(RESOURCES[obj["kind"]](obj), namespace=NAMESPACE, dry_run=True)
    data: dict[str, Any] = created.to_dict()
    return data


def assert_invalid(error: ApiError, field: str, text: str) -> None:
    """422 Invalid, the field named in the message and among the causes, with ``text``."""
    status = error.status
    assert (status.code, status.reason) == (422, "Invalid"), status
    message = status.message or ""
    assert f"{field}: " in message and text in message, message
    causes = status.details.causes if status.details is not None else None
    assert field in [cause.field for cause in causes or []], causes


@pytest.mark.parametrize("key", sorted(VALID))
def test_a_valid_object_is_accepted_unchanged_and_nothing_is_stored(kube: Client, key: str) -> None:
    obj = VALID[key]
    assert schema_errors(obj) == []
    created = dry_run_create(kube, obj)
    assert created["spec"] == obj["spec"]  # nothing pruned, nothing defaulted
    assert created["metadata"]["uid"]  # the server really processed it
    with pytest.raises(ApiError) as missing:
        kube.get(RESOURCES[obj["kind"]], obj["metadata"]["name"], namespace=NAMESPACE)
    assert missing.value.status.code == 404


@dataclass(frozen=True)
class Refusal:
    """``VALID[key]`` with ``changes`` is refused; the message names ``field`` and has ``text``."""

    key: str
    changes: Mapping[str, Any]
    field: str
    text: str
    cel: bool
    """Refused by a CEL rule (which the local approximation cannot evaluate)."""


def case(
    key: str, changes: Mapping[str, Any], text: str, *, field: str | None = None, cel: bool = False
) -> Any:
    """A refused change of ``VALID[key]``; the field is the first changed path by default."""
    named = field or field_name(next(iter(changes)))
    words = text.replace(" ", "-")
    refusal = Refusal(key, changes, named, text, cel)
    return pytest.param(refusal, id=f"{key}:{named}:{words}"[:90])


MIN_OVER_MAX: Final = "minReplicas must not be greater than maxReplicas"

REFUSED: Final = [
    # Agent: the agent manifest v1.
    case("Agent", {"spec.id": REMOVE}, "Required value"),
    case("Agent", {"spec.version": REMOVE}, "Required value"),
    case("Agent", {"spec.description": REMOVE}, "Required value"),
    case("Agent", {"spec.inputs": REMOVE}, "Required value"),
    case("Agent", {"spec.outputs.0.type": REMOVE}, "Required value"),
    case("Agent", {"spec.id": "echo agent!"}, "should match"),
    case("Agent", {"spec.id": ""}, "should be at least 1 chars long"),
    case("Agent", {"spec.version": "1.0"}, "should match"),
    case("Agent", {"spec.version": "v1.0.0"}, "should match"),
    case("Agent", {"spec.version": "01.0.0"}, "should match"),
    case("Agent", {"spec.version": 1}, "must be of type string"),
    case("Agent", {"spec.inputs": "text"}, "must be of type array"),
    case("Agent", {"spec.inputs.0.name": "1st"}, "should match"),
    case("Agent", {"spec.inputs.0.type": "text"}, "Unsupported value"),
    case("Agent", {"spec.command": []}, "should have at least 1 items"),
    case("Agent", {"spec.longRunning": "yes"}, "must be of type boolean"),
    case("Agent", {"spec.resources.timeoutSeconds": 0}, "should be greater than 0"),
    case("Agent", {"spec.resources.limits.memory": "lots"}, "should match"),
    case("Agent", {"spec.resources.limits.cpu": "1.5 cores"}, "should match"),
    case("Agent", {"spec.retries.limit": 101}, "should be less than or equal to 100"),
    case("Agent", {"spec.retries.backoff.jitter": 2}, "should be less than or equal to 1"),
    case("Agent", {"spec.scaling.maxReplicas": 0}, "should be greater than or equal to 1"),
    case(
        "Agent",
        {"spec.scaling.minReplicas": 4, "spec.scaling.maxReplicas": 2},
        MIN_OVER_MAX,
        field="spec.scaling",
        cel=True,
    ),
    # Flow: a flow v1 document's body.
    case("Flow", {"spec.meta": REMOVE}, "Required value"),
    case("Flow", {"spec.graph.edges": REMOVE}, "Required value"),
    case("Flow", {"spec.meta.id": ""}, "should be at least 1 chars long"),
    case("Flow", {"spec.meta.createdAt": "yesterday"}, "must be of type date-time"),
    case("Flow", {"spec.graph.nodes.0.id": "text node"}, "should match"),
    case("Flow", {"spec.graph.nodes.0.type": REMOVE}, "Required value"),
    case(
        "Flow",
        {"spec.graph.nodes.1.retries": {"limit": -1}},
        "should be greater than or equal to 0",
        field="spec.graph.nodes[1].retries.limit",
    ),
    case("Flow", {"spec.graph.edges.0.from": "text"}, "should match"),
    case("Flow", {"spec.graph.nodes": {}}, "must be of type array"),
    case(
        "Flow",
        {"spec.runConfig": {"maxParallel": 0}},
        "should be greater than or equal to 1",
        field="spec.runConfig.maxParallel",
    ),
    # FlowRun: run options, and the inline flow checked like a Flow.
    case("FlowRun", {"spec.flowRef": REMOVE}, "set exactly one of flowRef", field="spec", cel=True),
    case(
        "FlowRun",
        {"spec.flow": VALID["Flow"]["spec"]},
        "set exactly one of flowRef",
        field="spec",
        cel=True,
    ),
    case("FlowRun", {"spec.flowRef": ""}, "should be at least 1 chars long"),
    case("FlowRun", {"spec.podGC": "Sometimes"}, "Unsupported value"),
    case("FlowRun", {"spec.maxParallel": 0}, "should be greater than or equal to 1"),
    case("FlowRun", {"spec.maxParallel": "2"}, "must be of type integer"),
    case("FlowRun", {"spec.ttlSecondsAfterFinished": -1}, "should be greater than or equal to 0"),
    case("FlowRun", {"spec.tolerations.0.operator": "Maybe"}, "Unsupported value"),
    case("FlowRun", {"spec.nodeSelector.pool": 1}, "must be of type string"),
    case("FlowRun", {"spec.inputs": ["text.text"]}, "must be of type object"),
    case("FlowRun", {"spec.cancel": "yes"}, "must be of type boolean"),
    case("FlowRun/inline", {"spec.flow.graph.nodes.0.id": "a b"}, "should match"),
    case("FlowRun/inline", {"spec.flow.meta.name": REMOVE}, "Required value"),
    # AgentDeployment.
    case("AgentDeployment", {"spec.agentRef": REMOVE}, "Required value"),
    case("AgentDeployment", {"spec.agentRef": ""}, "should be at least 1 chars long"),
    case(
        "AgentDeployment",
        {"spec.scaling.targetCPUUtilizationPercentage": 101},
        "should be less than or equal to 100",
    ),
    case("AgentDeployment", {"spec.scaling.minReplicas": -1}, "greater than or equal to 0"),
    case(
        "AgentDeployment",
        {"spec.scaling.minReplicas": 6},
        MIN_OVER_MAX,
        field="spec.scaling",
        cel=True,
    ),
    case(
        "AgentDeployment",
        {"spec.replicas": 2},
        "set replicas (fixed) or scaling (autoscaled), not both",
        field="spec",
        cel=True,
    ),
    case("AgentDeployment/fixed", {"spec.replicas": -1}, "should be greater than or equal to 0"),
    case("AgentDeployment/fixed", {"spec.replicas": "two"}, "must be of type integer"),
]


@pytest.mark.parametrize("refusal", REFUSED)
def test_an_invalid_object_is_refused_with_422_naming_the_field(
    kube: Client, refusal: Refusal
) -> None:
    obj = changed(VALID[refusal.key], refusal.changes)
    # The local approximation agrees, except on CEL rules, which only the server evaluates.
    assert (schema_errors(obj) == []) is refusal.cel, schema_errors(obj)
    with pytest.raises(ApiError) as refused:
        dry_run_create(kube, obj)
    assert_invalid(refused.value, refusal.field, refusal.text)


def test_every_schema_error_is_reported_and_cel_waits_for_a_valid_schema(kube: Client) -> None:
    obj = changed(
        VALID["AgentDeployment"],
        {
            "spec.agentRef": REMOVE,
            "spec.scaling.targetCPUUtilizationPercentage": 101,
            "spec.replicas": 1,  # breaks a CEL rule, which is not evaluated this time
        },
    )
    with pytest.raises(ApiError) as refused:
        dry_run_create(kube, obj)
    status = refused.value.status
    assert status.details is not None
    fields = {cause.field for cause in status.details.causes or []}
    assert {"spec.agentRef", "spec.scaling.targetCPUUtilizationPercentage"} <= fields
    assert "spec" not in fields
    assert "some validation rules were not checked" in (status.message or "")


def test_unknown_fields_are_pruned_by_default(kube: Client) -> None:
    obj = changed(VALID["FlowRun"], {"spec.maxParalel": 3, "spec.tolerations.0.colour": "red"})
    created = dry_run_create(kube, obj)  # lightkube leaves fieldValidation to the server: Warn
    assert created["spec"] == VALID["FlowRun"]["spec"]


def test_kubectl_refuses_unknown_fields(tmp_path: Any) -> None:
    # kubectl validates strictly by default: a typo is an error, not a silently dropped field.
    obj = changed(VALID["FlowRun"], {"spec.maxParalel": 3})
    path = tmp_path / "flowrun.json"
    path.write_text(json.dumps(obj), encoding="utf-8")
    result = subprocess.run(
        ["kubectl", "create", "--dry-run=server", "-n", NAMESPACE, "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout
    assert 'unknown field "spec.maxParalel"' in result.stderr


# --- rules about changes: they need an object stored first ---------------------------------


@pytest.fixture(scope="module")
def stored(kube: Client) -> Iterator[str]:
    """A namespace holding FlowRun ``running`` (cancel unset) and ``cancelled`` (cancel set).

    No operator watches it, so the FlowRuns never run.
    """
    namespace = f"crd-validation-{uuid.uuid4().hex[:8]}"
    kube.create(Namespace.from_dict({"metadata": {"name": namespace}}))
    try:
        for name, cancel in (("running", False), ("cancelled", True)):
            obj = changed(VALID["FlowRun"], {"metadata.name": name, "spec.cancel": cancel})
            kube.create(RESOURCES["FlowRun"](obj), namespace=namespace)
        yield namespace
    finally:
        kube.delete(Namespace, namespace)


def dry_run_patch(kube: Client, namespace: str, name: str, patch: dict[str, Any]) -> None:
    kube.patch(
        RESOURCES["FlowRun"],
        name,
        patch,
        namespace=namespace,
        patch_type=PatchType.MERGE,
        dry_run=True,
    )


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("running", {"flowRef": "examples.hello"}),  # unchanged
        ("running", {"cancel": True}),
        ("running", {"maxParallel": 8, "podGC": "Never"}),
        ("cancelled", {"cancel": True}),
    ],
)
def test_allowed_changes(kube: Client, stored: str, name: str, spec: dict[str, Any]) -> None:
    dry_run_patch(kube, stored, name, {"spec": spec})


@pytest.mark.parametrize(
    ("name", "spec", "field", "text"),
    [
        ("running", {"flowRef": "examples.other"}, "spec.flowRef", "is immutable"),
        ("cancelled", {"cancel": False}, "spec.cancel", "a cancelled FlowRun stays cancelled"),
    ],
)
def test_refused_changes(
    kube: Client, stored: str, *, name: str, spec: dict[str, Any], field: str, text: str
) -> None:
    with pytest.raises(ApiError) as refused:
        dry_run_patch(kube, stored, name, {"spec": spec})
    assert_invalid(refused.value, field, text)


@pytest.mark.parametrize(
    ("status", "field", "text"),
    [
        ({"phase": "Done"}, "status.phase", "Unsupported value"),
        ({"progress": "three of five"}, "status.progress", "should match"),
        ({"nodes": {"a": {"phase": "pending"}}}, "status.nodes.a.phase", "Unsupported value"),
        ({"nodes": {"a": {"attempts": -1}}}, "status.nodes.a.attempts", "greater than or equal"),
        ({"startedAt": "noon"}, "status.startedAt", "must be of type date-time"),
        (
            {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "x"}]},
            "status.conditions[0].reason",
            "Required value",
        ),
    ],
)
def test_the_status_subresource_is_validated_too(
    kube: Client, stored: str, status: dict[str, Any], field: str, text: str
) -> None:
    with pytest.raises(ApiError) as refused:
        kube.patch(
            RESOURCES["FlowRun"].Status,
            "running",
            {"status": status},
            namespace=stored,
            patch_type=PatchType.MERGE,
            dry_run=True,
        )
    assert_invalid(refused.value, field, text)
