"""The pydantic models mirror the JSON Schemas of agent manifests and flows.

Three angles: the properties and required keys of every object level, a table of documents
that both accept or both reject, and documents generated from the schemas that the models must
parse with the same verdict. Known, deliberate differences: ``MODEL_DEFAULTS`` (keys the
models default), explicit ``null`` for optional keys, pydantic's lax coercions (``"1"`` for an
integer), and open objects (``ui``, pin ``metadata``, ``layout``, ``params``) that the models
keep as plain dicts.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from mentatlab.model import flow as flow_model
from mentatlab.model import manifest as manifest_model

MANIFEST = "agent-manifest.v1.schema.json"
FLOW = "flow.v1.schema.json"

# Required by the schema, defaulted by the model so code can build models without them.
MODEL_DEFAULTS = {
    (manifest_model.AgentManifest, "apiVersion"),
    (manifest_model.AgentManifest, "kind"),
    (manifest_model.AgentManifest, "inputs"),
    (manifest_model.AgentManifest, "outputs"),
    (flow_model.Flow, "kind"),
    (flow_model.Graph, "edges"),
}


@cache
def schema(name: str) -> dict[str, Any]:
    text = resources.files("mentatlab").joinpath("schemas", name).read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def flow_schema_inlined() -> dict[str, Any]:
    """The flow schema with its one cross-schema $ref inlined (for hypothesis-jsonschema)."""
    result = copy.deepcopy(schema(FLOW))
    result["$defs"]["retryPolicy"] = copy.deepcopy(schema(MANIFEST)["$defs"]["retryPolicy"])
    return result


def defs(name: str, key: str) -> dict[str, Any]:
    return schema(name)["$defs"][key]  # type: ignore[no-any-return]


LEVELS: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (manifest_model.AgentManifest, schema(MANIFEST)),
    (manifest_model.Pin, defs(MANIFEST, "pin")),
    (manifest_model.ResourceAmounts, defs(MANIFEST, "resourceAmounts")),
    (manifest_model.Resources, defs(MANIFEST, "resources")),
    (manifest_model.RetryPolicy, defs(MANIFEST, "retryPolicy")),
    (manifest_model.Backoff, defs(MANIFEST, "retryPolicy")["properties"]["backoff"]),
    (manifest_model.Scaling, defs(MANIFEST, "scaling")),
    (manifest_model.Capabilities, defs(MANIFEST, "capabilities")),
    (manifest_model.KeyRef, defs(MANIFEST, "keyRef")),
    (manifest_model.EnvVar, defs(MANIFEST, "envVar")["oneOf"][1]),
    (manifest_model.EnvVarSource, defs(MANIFEST, "envVar")["oneOf"][1]["properties"]["valueFrom"]),
    (flow_model.Flow, schema(FLOW)),
    (flow_model.FlowMeta, schema(FLOW)["properties"]["meta"]),
    (flow_model.Graph, schema(FLOW)["properties"]["graph"]),
    (flow_model.RunConfig, schema(FLOW)["properties"]["runConfig"]),
    (flow_model.Node, defs(FLOW, "node")),
    (flow_model.Edge, defs(FLOW, "edge")),
    (flow_model.Targets, defs(FLOW, "targets")),
    (flow_model.ForEachConfig, defs(FLOW, "forEach")),
]


def model_properties(model: type[BaseModel]) -> tuple[set[str], set[str]]:
    names, required = set(), set()
    for name, field in model.model_fields.items():
        alias = field.alias or name
        names.add(alias)
        if field.is_required() and (model, alias) not in MODEL_DEFAULTS:
            required.add(alias)
    return names, required


@pytest.mark.parametrize("model, subschema", LEVELS, ids=[model.__name__ for model, _ in LEVELS])
def test_properties_and_required_keys_agree(
    model: type[BaseModel], subschema: dict[str, Any]
) -> None:
    names, required = model_properties(model)
    assert names == set(subschema["properties"])
    schema_required = {
        key for key in subschema.get("required", []) if (model, key) not in MODEL_DEFAULTS
    }
    assert required == schema_required
    closed = subschema.get("additionalProperties") is False
    assert closed == (model.model_config.get("extra") == "forbid")


def test_conditional_config_covers_both_branches() -> None:
    conditional = defs(FLOW, "conditional")
    keys = {key for branch in conditional["oneOf"] for key in branch["properties"]}
    assert model_properties(flow_model.ConditionalConfig)[0] == keys


def _verdicts(name: str, model: type[BaseModel], document: Any) -> tuple[bool, bool]:
    validator = Draft202012Validator(
        flow_schema_inlined() if name == FLOW else schema(name),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    try:
        model.model_validate(document)
        model_ok = True
    except ValidationError:
        model_ok = False
    return validator.is_valid(document), model_ok


BASE_MANIFEST = {
    "apiVersion": "mentatlab.io/v1",
    "kind": "Agent",
    "id": "a.b",
    "version": "1.0.0",
    "description": "d",
    "inputs": [],
    "outputs": [],
}
BASE_FLOW = {
    "apiVersion": "v1alpha1",
    "kind": "Flow",
    "meta": {"id": "f", "name": "F"},
    "graph": {"nodes": [{"id": "n", "type": "x"}], "edges": []},
}

TABLE: list[tuple[str, dict[str, Any], bool]] = [
    (MANIFEST, {}, True),
    (MANIFEST, {"x-tool": 1}, True),
    (
        MANIFEST,
        {"env": ["A=1", {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
        True,
    ),
    (MANIFEST, {"resources": {"requests": {"cpu": "500m", "memory": "1Gi", "gpu": 1}}}, True),
    (
        MANIFEST,
        {"inputs": [{"name": "a", "type": "json", "default": None, "required": False}]},
        True,
    ),
    (MANIFEST, {"kind": "Flow"}, False),
    (MANIFEST, {"id": "a b"}, False),
    (MANIFEST, {"version": "1.0"}, False),
    (MANIFEST, {"unknown": 1}, False),
    (MANIFEST, {"inputs": [{"name": "1a", "type": "json"}]}, False),
    (MANIFEST, {"inputs": [{"name": "a", "type": "text"}]}, False),
    (MANIFEST, {"command": []}, False),
    (MANIFEST, {"resources": {"requests": {"cpu": "lots"}}}, False),
    (MANIFEST, {"resources": {"timeoutSeconds": 0}}, False),
    (MANIFEST, {"retries": {"limit": 101}}, False),
    (MANIFEST, {"scaling": {"maxReplicas": 0}}, False),
    (MANIFEST, {"env": [{"value": "x"}]}, False),
    (MANIFEST, {"capabilities": {"teleport": True}}, False),
    (FLOW, {}, True),
    (FLOW, {"x-editor": {}}, True),
    (FLOW, {"runConfig": {"maxParallel": 2, "secrets": ["S"], "custom": 1}}, True),
    (FLOW, {"apiVersion": "v2"}, False),
    (FLOW, {"kind": "Agent"}, False),
    (FLOW, {"meta": {"name": "F"}}, False),
    (FLOW, {"graph": {"nodes": [{"id": "n.1", "type": "x"}], "edges": []}}, False),
    (FLOW, {"graph": {"nodes": [{"id": "n", "type": ""}], "edges": []}}, False),
    (FLOW, {"graph": {"nodes": [], "edges": [{"from": "a", "to": "b.c"}]}}, False),
    (FLOW, {"graph": {"nodes": [{"id": "n", "type": "x", "colour": 1}], "edges": []}}, False),
    (
        FLOW,
        {"graph": {"nodes": [{"id": "n", "type": "x", "timeoutSeconds": 0}], "edges": []}},
        False,
    ),
]


@pytest.mark.parametrize("name, changes, valid", TABLE)
def test_schema_and_model_give_the_same_verdict(
    name: str, changes: dict[str, Any], valid: bool
) -> None:
    base, model = (
        (BASE_MANIFEST, manifest_model.AgentManifest)
        if name == MANIFEST
        else (BASE_FLOW, flow_model.Flow)
    )
    assert _verdicts(name, model, {**base, **changes}) == (valid, valid)


# hypothesis-jsonschema does not work with the installed hypothesis, so documents are generated
# from per-property candidates, valid and invalid, and both verdicts must match.
MANIFEST_CANDIDATES: dict[str, list[Any]] = {
    "image": ["a:1", "", 3],
    "runtime": ["python3.11", 3],
    "command": [["python", "main.py"], [], [""], "python"],
    "inputs": [
        [{"name": "a", "type": "image", "metadata": {"mimeType": "image/png"}}],
        [{"name": "a"}],
    ],
    "longRunning": [True, [1]],
    "resources": [
        {"limits": {"cpu": "1", "memory": "1.5Gi", "gpu": 0}, "maxConcurrent": 1},
        {"limits": {"gpu": -1}},
        {"heartbeatTimeoutSeconds": 5},
        {"cpu": "1"},
    ],
    "retries": [
        {"limit": 3, "backoff": {"multiplier": 1.5, "jitter": 0}},
        {"backoff": {"jitter": 2}},
    ],
    "scaling": [{"minReplicas": 0, "targetCPUUtilizationPercentage": 80}, {"minReplicas": -1}],
    "capabilities": [{"actions": ["run"], "gpu": True}, {"actions": [1]}],
    "env": [
        [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}],
        [{"name": ""}],
    ],
    "ui": [{"title": "T", "catalog": {}}, []],
}
FLOW_CANDIDATES: dict[str, list[Any]] = {
    "apiVersion": ["mentatlab.io/v1", "v1beta2", "v3"],
    "meta": [
        {"id": "f", "name": "F", "createdAt": "2025-01-01T00:00:00Z", "owner": "me"},
        {"id": "", "name": "F"},
    ],
    "graph": [
        {
            "nodes": [
                {
                    "id": "c",
                    "type": "conditional",
                    "params": {
                        "conditional": {"type": "if", "expression": "x", "then": {"targets": ["n"]}}
                    },
                },
                {
                    "id": "l",
                    "type": "for_each",
                    "params": {"for_each": {"collection": "c", "body": ["n"], "max_parallel": 2}},
                },
                {
                    "id": "n",
                    "type": "a@1.0.0",
                    "retries": {"limit": 1},
                    "inputs": {"x": 1},
                    "outputs": {},
                },
            ],
            "edges": [{"from": "c.output", "to": "n.x"}],
        },
        {
            "nodes": [
                {
                    "id": "l",
                    "type": "for_each",
                    "params": {"for_each": {"collection": "c", "body": []}},
                }
            ],
            "edges": [],
        },
        {
            "nodes": [
                {
                    "id": "c",
                    "type": "conditional",
                    "params": {"conditional": {"type": "if", "expression": "x", "branches": {}}},
                }
            ],
            "edges": [],
        },
        {"nodes": [{"id": "n", "type": "x", "retries": {"limit": -1}}], "edges": []},
    ],
    "layout": [{"zoom": 1}, []],
    "runConfig": [{"maxParallel": 0}, {"temperature": 0.5}],
}


def documents(
    base: dict[str, Any], candidates: dict[str, list[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    optional = {key: st.sampled_from(values) for key, values in candidates.items()}
    return st.fixed_dictionaries({}, optional=optional).map(lambda changes: {**base, **changes})


_SETTINGS = settings(max_examples=150, deadline=None)


@_SETTINGS
@given(document=documents(BASE_MANIFEST, MANIFEST_CANDIDATES))
def test_generated_manifests_get_the_same_verdict(document: dict[str, Any]) -> None:
    schema_ok, model_ok = _verdicts(MANIFEST, manifest_model.AgentManifest, document)
    assert schema_ok == model_ok


@_SETTINGS
@given(document=documents(BASE_FLOW, FLOW_CANDIDATES))
def test_generated_flows_get_the_same_verdict(document: dict[str, Any]) -> None:
    schema_ok, model_ok = _verdicts(FLOW, flow_model.Flow, document)
    assert schema_ok == model_ok


def test_a_dumped_flow_is_a_valid_flow_document() -> None:
    document = {
        "apiVersion": "v1",
        "kind": "Flow",
        "meta": {"id": "f", "name": "f"},
        "graph": {
            "nodes": [
                {"id": "a", "type": "ui.prompt", "outputs": {"x": 1}},
                {"id": "b", "type": "ui.console"},
            ],
            "edges": [{"from": "a.x", "to": "b.x"}],
        },
    }
    flow = flow_model.Flow.model_validate(document)
    dumped = flow.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert dumped["graph"]["edges"] == [{"from": "a.x", "to": "b.x"}]
    assert list(Draft202012Validator(flow_schema_inlined()).iter_errors(dumped)) == []
