"""The agent protocol v1 models (``mentatlab.model.protocol``) mirror the protocol's JSON Schemas.

Three angles: the properties, required keys and defaults of every object; a table of documents
that both must accept or both must reject; and generated documents, valid by the schemas or
built from awkward values, that must get the same verdict from both. One deliberate
difference: an event model knows its own ``type``, so ``type`` is required by the schema and
by :data:`agent_event_adapter` (which picks the model by it) but defaulted on the classes.
"""

from __future__ import annotations

import json
import math
from functools import cache
from importlib import resources
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from mentatlab.engine.agent_io import KNOWN_EVENT_TYPES
from mentatlab.model import protocol

INPUT = "input.v1.schema.json"
EVENT = "event.v1.schema.json"

EVENT_MODELS: dict[str, type[BaseModel]] = {
    "output": protocol.OutputEvent,
    "log": protocol.LogEvent,
    "progress": protocol.ProgressEvent,
    "heartbeat": protocol.HeartbeatEvent,
    "metric": protocol.MetricEvent,
    "checkpoint": protocol.CheckpointEvent,
    "error": protocol.ErrorEvent,
}


@cache
def schema(name: str) -> dict[str, Any]:
    text = resources.files("mentatlab").joinpath("schemas", "protocol", name).read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


@cache
def validator(name: str) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema(name))
    return Draft202012Validator(schema(name))


LEVELS: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (protocol.InputEnvelope, schema(INPUT)),
    (protocol.RunContext, schema(INPUT)["$defs"]["run"]),
    *((model, schema(EVENT)["$defs"][kind]) for kind, model in EVENT_MODELS.items()),
]


def _level_id(level: tuple[type[BaseModel], dict[str, Any]]) -> str:
    return level[0].__name__


# ---------------------------------------------------------------------------------------------
# 1. Same fields, required keys and defaults.


def test_ids_and_dialect() -> None:
    for name in (INPUT, EVENT):
        document = schema(name)
        assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert document["$id"] == f"https://mentatlab.io/schemas/protocol/{name}"


@pytest.mark.parametrize("level", LEVELS, ids=_level_id)
def test_properties_required_keys_and_defaults_agree(
    level: tuple[type[BaseModel], dict[str, Any]],
) -> None:
    model, level_schema = level
    fields = model.model_fields
    assert set(level_schema["properties"]) == set(fields)

    required = set(level_schema.get("required", []))
    if model in EVENT_MODELS.values():
        assert "type" in required
        required.discard("type")  # the deliberate difference, see the module docstring
    assert required == {name for name, info in fields.items() if info.is_required()}

    # Both stay open to fields added by later minor versions.
    assert level_schema["additionalProperties"] is True
    assert model.model_config.get("extra") == "allow"

    for name, info in fields.items():
        if info.is_required() or name == "type":
            continue
        default = info.get_default(call_default_factory=True)
        assert level_schema["properties"][name].get("default") == default, name


def test_event_types_agree() -> None:
    branches = {ref["$ref"].rsplit("/", 1)[1] for ref in schema(EVENT)["oneOf"]}
    assert branches == set(EVENT_MODELS) == KNOWN_EVENT_TYPES
    for kind, model in EVENT_MODELS.items():
        assert schema(EVENT)["$defs"][kind]["properties"]["type"] == {"const": kind}
        assert model.model_fields["type"].default == kind
    union = get_args(get_args(protocol.AgentEvent)[0])
    assert set(union) == set(EVENT_MODELS.values())


def test_log_levels_agree() -> None:
    levels = schema(EVENT)["$defs"]["log"]["properties"]["level"]["enum"]
    assert levels == list(get_args(protocol.LogLevel))


def test_protocol_constant_agrees() -> None:
    assert schema(INPUT)["properties"]["protocol"]["const"] == protocol.PROTOCOL_V1


# ---------------------------------------------------------------------------------------------
# 2. A table of documents: both accept or both reject, as expected.


def _verdicts(name: str, document: Any) -> tuple[bool, bool]:
    schema_ok = validator(name).is_valid(document)
    try:
        if name == INPUT:
            protocol.InputEnvelope.model_validate(document)
        else:
            protocol.agent_event_adapter.validate_python(document)
    except ValidationError:
        model_ok = False
    else:
        model_ok = True
    return schema_ok, model_ok


RUN = {"id": "r1", "node": "n1", "attempt": 1}
FULL_ENVELOPE = {
    "protocol": "mentatlab.agent/v1",
    "run": RUN,
    "inputs": {"text": "hi"},
    "params": {},
    "resume": None,
}

INPUT_TABLE: list[tuple[str, Any, bool]] = [
    ("full", FULL_ENVELOPE, True),
    ("minimal", {"run": RUN}, True),
    ("resume any value", {**FULL_ENVELOPE, "resume": [1, {"a": None}]}, True),
    ("extra fields", {**FULL_ENVELOPE, "future": 1, "run": {**RUN, "flow": "f"}}, True),
    ("attempt 2.0 is an integer", {"run": {**RUN, "attempt": 2.0}}, True),
    ("no run", {"protocol": "mentatlab.agent/v1"}, False),
    ("other protocol", {**FULL_ENVELOPE, "protocol": "mentatlab.agent/v2"}, False),
    ("attempt 0", {"run": {**RUN, "attempt": 0}}, False),
    ("attempt 1.5", {"run": {**RUN, "attempt": 1.5}}, False),
    ("attempt as string", {"run": {**RUN, "attempt": "1"}}, False),
    ("attempt as bool", {"run": {**RUN, "attempt": True}}, False),
    ("run without node", {"run": {"id": "r1", "attempt": 1}}, False),
    ("run id as number", {"run": {**RUN, "id": 7}}, False),
    ("inputs as list", {**FULL_ENVELOPE, "inputs": []}, False),
    ("params null", {**FULL_ENVELOPE, "params": None}, False),
    ("not an object", [FULL_ENVELOPE], False),
]

EVENT_TABLE: list[tuple[str, Any, bool]] = [
    ("output", {"type": "output", "pin": "p", "value": {"x": [1]}}, True),
    ("output null value", {"type": "output", "pin": "p", "value": None}, True),
    ("output without value", {"type": "output", "pin": "p"}, False),
    ("output empty pin", {"type": "output", "pin": "", "value": 1}, False),
    ("output pin number", {"type": "output", "pin": 3, "value": 1}, False),
    ("log", {"type": "log", "level": "error", "message": "m"}, True),
    ("log default level", {"type": "log", "message": "m"}, True),
    ("log unknown level", {"type": "log", "level": "fatal", "message": "m"}, False),
    ("log upper-case level", {"type": "log", "level": "INFO", "message": "m"}, False),
    ("log without message", {"type": "log", "level": "info"}, False),
    ("log message number", {"type": "log", "message": 5}, False),
    ("progress", {"type": "progress", "percent": 42.5, "message": "m"}, True),
    ("progress bounds", {"type": "progress", "percent": 100}, True),
    ("progress zero, null message", {"type": "progress", "percent": 0, "message": None}, True),
    ("progress 150", {"type": "progress", "percent": 150}, False),
    ("progress negative", {"type": "progress", "percent": -0.1}, False),
    ("progress as string", {"type": "progress", "percent": "50"}, False),
    ("progress as bool", {"type": "progress", "percent": True}, False),
    ("progress without percent", {"type": "progress"}, False),
    ("heartbeat", {"type": "heartbeat"}, True),
    ("heartbeat with extras", {"type": "heartbeat", "at": "now"}, True),
    ("metric", {"type": "metric", "name": "n", "value": -3, "unit": "s"}, True),
    ("metric float, null unit", {"type": "metric", "name": "n", "value": 0.5, "unit": None}, True),
    ("metric value string", {"type": "metric", "name": "n", "value": "3"}, False),
    ("metric value beyond a double", {"type": "metric", "name": "n", "value": 10**400}, False),
    ("metric empty name", {"type": "metric", "name": "", "value": 1}, False),
    ("metric unit number", {"type": "metric", "name": "n", "value": 1, "unit": 1}, False),
    ("checkpoint", {"type": "checkpoint", "state": {"step": 3}}, True),
    ("checkpoint null state", {"type": "checkpoint", "state": None}, True),
    ("checkpoint without state", {"type": "checkpoint"}, False),
    ("error", {"type": "error", "code": "c", "message": "m", "retryable": False}, True),
    ("error defaults", {"type": "error", "message": "m"}, True),
    ("error retryable string", {"type": "error", "message": "m", "retryable": "no"}, False),
    ("error retryable 0", {"type": "error", "message": "m", "retryable": 0}, False),
    ("error code null", {"type": "error", "message": "m", "code": None}, False),
    ("error without message", {"type": "error"}, False),
    # Readers treat unknown types as forward-compatible, but they are not v1 events.
    ("unknown type", {"type": "telemetry"}, False),
    ("no type", {"pin": "p", "value": 1}, False),
    ("type not a string", {"type": 1}, False),
    ("not an object", ["output"], False),
]


@pytest.mark.parametrize(
    ("name", "document", "valid"),
    [(INPUT, doc, valid) for _, doc, valid in INPUT_TABLE]
    + [(EVENT, doc, valid) for _, doc, valid in EVENT_TABLE],
    ids=[f"input: {case}" for case, _, _ in INPUT_TABLE]
    + [f"event: {case}" for case, _, _ in EVENT_TABLE],
)
def test_table_documents_get_the_expected_verdict(name: str, document: Any, valid: bool) -> None:
    assert _verdicts(name, document) == (valid, valid)


# ---------------------------------------------------------------------------------------------
# 3. Generated documents.

_SETTINGS = settings(max_examples=200, deadline=None)

_ANY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)

# The keywords from_schema() understands; the protocol schemas must use no others.
_KEYWORDS = {
    "$schema", "$id", "$defs", "$ref", "title", "description", "default", "oneOf", "const",
    "enum", "type", "minimum", "maximum", "minLength", "properties", "required",
    "additionalProperties",
}  # fmt: skip


def _keywords(node: dict[str, Any]) -> set[str]:
    found = set(node)
    for key in ("properties", "$defs"):
        for child in node.get(key, {}).values():
            found |= _keywords(child)
    for child in node.get("oneOf", []):
        found |= _keywords(child)
    return found


def test_generator_understands_every_schema_keyword() -> None:
    for name in (INPUT, EVENT):
        assert _keywords(schema(name)) <= _KEYWORDS


def from_schema(node: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Documents valid against ``node`` (enough of JSON Schema for the protocol schemas)."""
    if "$ref" in node:
        return from_schema(root["$defs"][node["$ref"].removeprefix("#/$defs/")], root)
    if "oneOf" in node:  # each branch is a complete object schema in the protocol schemas
        return st.one_of([from_schema(branch, root) for branch in node["oneOf"]])
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**node, "type": one}, root) for one in kind])
    low, high = node.get("minimum"), node.get("maximum")
    match kind:
        case None:
            return _ANY_JSON
        case "null":
            return st.none()
        case "boolean":
            return st.booleans()
        case "string":
            return st.text(min_size=node.get("minLength", 0), max_size=20)
        case "integer":
            return st.integers(min_value=low, max_value=high)
        case "number":
            as_int = st.integers(
                min_value=None if low is None else math.ceil(low),
                max_value=None if high is None else math.floor(high),
            )
            as_float = st.floats(low, high, allow_nan=False, allow_infinity=False)
            return as_int | as_float
        case "object":
            properties = node.get("properties", {})
            required = set(node.get("required", []))
            known = st.fixed_dictionaries(
                {key: from_schema(properties[key], root) for key in sorted(required)},
                optional={
                    key: from_schema(value, root)
                    for key, value in properties.items()
                    if key not in required
                },
            )
            if node.get("additionalProperties", True) is not True:
                return known
            extra = st.dictionaries(
                st.text(max_size=6).filter(lambda key: key not in properties), _ANY_JSON, max_size=2
            )
            return st.tuples(known, extra).map(lambda parts: {**parts[1], **parts[0]})
    raise AssertionError(f"from_schema() cannot generate {node}")


@_SETTINGS
@given(document=from_schema(schema(EVENT), schema(EVENT)))
def test_events_generated_from_the_schema_parse_and_round_trip(document: dict[str, Any]) -> None:
    assert validator(EVENT).is_valid(document)
    event = protocol.agent_event_adapter.validate_python(document)
    assert event.type == document["type"]
    dumped = protocol.agent_event_adapter.dump_python(event, mode="json")
    assert validator(EVENT).is_valid(dumped)
    assert protocol.agent_event_adapter.validate_python(dumped) == event


@_SETTINGS
@given(document=from_schema(schema(INPUT), schema(INPUT)))
def test_envelopes_generated_from_the_schema_parse_and_round_trip(
    document: dict[str, Any],
) -> None:
    assert validator(INPUT).is_valid(document)
    envelope = protocol.InputEnvelope.model_validate(document)
    dumped = envelope.model_dump(mode="json")
    assert validator(INPUT).is_valid(dumped)
    assert protocol.InputEnvelope.model_validate(dumped) == envelope


# Awkward values for any field: wrong types, boundaries, nulls, integral floats, huge numbers.
_AWKWARD = st.sampled_from(
    [None, True, False, 0, 1, -1, 1.0, 2.5, 100, 100.5, -0.0, 10**400, "", "x", "1", "info",
     "debug", "fatal", [], [1], {}, {"a": 1}]
)  # fmt: skip


def _awkward_documents(
    required_fields: dict[str, Any], fields: list[str]
) -> st.SearchStrategy[dict[str, Any]]:
    optional = dict.fromkeys(fields, _AWKWARD)
    return st.fixed_dictionaries(required_fields, optional=optional)


_EVENT_FIELDS = sorted(
    {field for model in EVENT_MODELS.values() for field in model.model_fields} - {"type"}
)


@_SETTINGS
@given(
    document=st.sampled_from(sorted(EVENT_MODELS)).flatmap(
        lambda kind: _awkward_documents({"type": st.just(kind)}, _EVENT_FIELDS)
    )
)
def test_awkward_events_get_the_same_verdict(document: dict[str, Any]) -> None:
    schema_ok, model_ok = _verdicts(EVENT, document)
    assert schema_ok == model_ok


@_SETTINGS
@given(
    document=_awkward_documents(
        {"run": _awkward_documents({}, ["id", "node", "attempt"])},
        ["protocol", "inputs", "params", "resume"],
    )
)
def test_awkward_envelopes_get_the_same_verdict(document: dict[str, Any]) -> None:
    schema_ok, model_ok = _verdicts(INPUT, document)
    assert schema_ok == model_ok
