"""Models become custom resource objects and back without losing anything."""

from __future__ import annotations

import re
from typing import Any

import pytest
from crd_helpers import crd_schema, known_flows, known_manifests, pruned_paths, schema_errors

from mentatlab.k8s import (
    FlowRunOptions,
    InvalidResourceError,
    PodGC,
    agent_object_name,
    agent_to_cr,
    cr_to_flow,
    cr_to_flowrun,
    cr_to_manifest,
    flow_to_cr,
    flowrun_cr,
    label_value,
    object_name,
)
from mentatlab.model.flow import Flow
from mentatlab.model.manifest import AgentManifest

MANIFESTS = known_manifests()
FLOWS = known_flows()
SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def test_every_known_document_is_covered() -> None:
    # 5 loadable originals (the templates hold placeholders) + the 7 agents of this repo.
    assert len(MANIFESTS) == 12
    # 4 original flows + 4 examples.
    assert len(FLOWS) == 8


def written(model: AgentManifest | Flow) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_manifest_round_trip(name: str) -> None:
    manifest = MANIFESTS[name]
    obj = agent_to_cr(manifest, namespace="team-a")
    assert schema_errors(obj) == []
    assert list(pruned_paths(obj["spec"], crd_schema("Agent")["properties"]["spec"])) == []
    back = cr_to_manifest(obj)
    assert back == manifest
    assert written(back) == written(manifest)


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_flow_round_trip(name: str) -> None:
    flow = FLOWS[name]
    obj = flow_to_cr(flow)
    assert schema_errors(obj) == []
    assert list(pruned_paths(obj["spec"], crd_schema("Flow")["properties"]["spec"])) == []
    assert all(isinstance(edge["from"], str) for edge in obj["spec"]["graph"]["edges"])
    back = cr_to_flow(obj)
    assert back == flow
    assert written(back) == written(flow)


def test_original_flow_api_version_is_kept_in_an_annotation() -> None:
    flow = FLOWS["flows/hello_chat.json"]
    assert flow.api_version == "v1alpha1"
    obj = flow_to_cr(flow)
    assert obj["metadata"]["annotations"] == {"mentatlab.io/flow-api-version": "v1alpha1"}
    del obj["metadata"]["annotations"]
    assert cr_to_flow(obj).api_version == "mentatlab.io/v1"


def test_agent_object_name_and_labels() -> None:
    obj = agent_to_cr(MANIFESTS["echo/manifest.yaml"])
    assert obj["metadata"] == {
        "name": "mentatlab.echo-1.0.0",
        "labels": {
            "mentatlab.io/agent-id": "mentatlab.echo",
            "mentatlab.io/agent-version": "1.0.0",
        },
    }
    assert agent_to_cr(MANIFESTS["echo/manifest.yaml"], name="echo")["metadata"]["name"] == "echo"


def test_a_manifest_built_in_code_gets_the_pin_lists_the_schema_requires() -> None:
    manifest = AgentManifest(id="a", version="1.0.0", description="d")
    obj = agent_to_cr(manifest)
    assert (obj["spec"]["inputs"], obj["spec"]["outputs"]) == ([], [])
    assert schema_errors(obj) == []
    assert cr_to_manifest(obj) == manifest


@pytest.mark.parametrize(
    "text",
    [
        "Acme_Tools.Summarize-2.0.0-RC.1+build.5",
        "-leading.and.trailing-",
        "a..b",
        "x" * 300,
        "ünïcode",
        "_",
    ],
)
def test_names_and_labels_are_encoded_only_when_they_must_be(text: str) -> None:
    name, label = object_name(text), label_value(text)
    assert SUBDOMAIN.match(name) and len(name) <= 253
    assert LABEL.match(label) and 0 < len(label) <= 63
    # Encoded names carry a hash of the original: texts that sanitise alike stay apart.
    assert object_name(text + "!") != name
    assert label_value(text + "!") != label


def test_valid_names_are_kept() -> None:
    assert object_name("mentatlab.echo-1.0.0") == "mentatlab.echo-1.0.0"
    assert label_value("1.0.0-rc.1") == "1.0.0-rc.1"
    assert agent_object_name("mentatlab.echo", "1.0.0+b1").startswith("mentatlab.echo-1.0.0-b1-")


def test_flowrun_of_a_flow_object() -> None:
    options = FlowRunOptions(
        max_parallel=2,
        pod_gc=PodGC.NEVER,
        tolerations=({"key": "gpu", "operator": "Exists"},),
        ttl_seconds_after_finished=600,
    )
    obj = flowrun_cr("examples.hello", {"prompt.text": "hi"}, options, namespace="team-a")
    assert obj["metadata"] == {
        "generateName": "examples.hello-",
        "labels": {"mentatlab.io/flow": "examples.hello"},
        "namespace": "team-a",
    }
    assert obj["spec"] == {
        "flowRef": "examples.hello",
        "inputs": {"prompt.text": "hi"},
        "maxParallel": 2,
        "podGC": "Never",
        "tolerations": [{"key": "gpu", "operator": "Exists"}],
        "ttlSecondsAfterFinished": 600,
    }
    assert schema_errors(obj) == []
    spec = cr_to_flowrun(obj)
    assert (spec.flow_ref, spec.flow, spec.inputs, spec.options) == (
        "examples.hello",
        None,
        {"prompt.text": "hi"},
        options,
    )


def test_flowrun_with_an_inline_flow() -> None:
    flow = FLOWS["examples/fanout.flow.yaml"]
    obj = flowrun_cr(flow, name="fan-1")
    assert obj["metadata"]["name"] == "fan-1"
    assert schema_errors(obj) == []
    spec = cr_to_flowrun(obj)
    assert spec.flow == flow
    assert spec.options == FlowRunOptions()


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"apiVersion": "v1", "kind": "Agent", "spec": {}}, "expected a mentatlab.io/v1 Agent"),
        ({"apiVersion": "mentatlab.io/v1", "kind": "Agent"}, "Agent (unnamed): spec is missing"),
        (
            {
                "apiVersion": "mentatlab.io/v1",
                "kind": "Agent",
                "metadata": {"name": "a", "namespace": "ns"},
                "spec": {"id": "a", "version": "one", "description": "d"},
            },
            "Agent ns/a: spec.version: String should match pattern",
        ),
    ],
)
def test_invalid_agent_objects(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidResourceError, match=re.escape(message)):
        cr_to_manifest(obj)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "set exactly one of flowRef"),
        ({"flowRef": "a", "flow": {}}, "spec.flow.meta: Field required"),
        ({"flowRef": "a", "podGC": "Sometimes"}, "spec.podGC: Input should be"),
        ({"flowRef": "a", "maxParalel": 2}, "spec.maxParalel: Extra inputs are not permitted"),
    ],
)
def test_invalid_flowrun_objects(spec: dict[str, Any], message: str) -> None:
    obj = {"apiVersion": "mentatlab.io/v1", "kind": "FlowRun", "metadata": {"name": "r"}}
    with pytest.raises(InvalidResourceError, match=re.escape(message)):
        cr_to_flowrun({**obj, "spec": spec})
