"""JSON Schema constructs become their structural OpenAPI equivalents, or fail loudly."""

from __future__ import annotations

from typing import Any

import pytest

from mentatlab.k8s import SchemaConversionError, structural_violations, to_structural

BASE = "https://example.test/a.json"
OTHER = "https://example.test/b.json"
ANY = {"x-kubernetes-preserve-unknown-fields": True, "nullable": True}


def convert(schema: Any, **documents: Any) -> dict[str, Any]:
    docs = {BASE: {"$defs": documents}, OTHER: {"$defs": {"limit": {"type": "integer"}}}}
    result = to_structural(schema, base=BASE, documents=docs)
    assert structural_violations(result) == []
    return result


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"const": "Agent"}, {"type": "string", "enum": ["Agent"]}),
        (
            {"type": "number", "exclusiveMinimum": 0},
            {"type": "number", "minimum": 0, "exclusiveMinimum": True},
        ),
        ({"type": "boolean", "default": False, "title": "t"}, {"type": "boolean"}),
        ({"type": ["integer", "string"]}, {"x-kubernetes-int-or-string": True}),
        ({"type": ["string", "null"]}, {"type": "string", "nullable": True}),
        ({"type": ["string", "boolean"], "description": "d"}, {"description": "d", **ANY}),
        ({}, ANY),
        (True, ANY),
        ({"type": "object"}, {"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
        (
            {"type": "object", "patternProperties": {"^x-": {}}, "additionalProperties": False},
            {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        ),
        (
            {"type": "object", "additionalProperties": {"type": "string"}},
            {"type": "object", "additionalProperties": {"type": "string"}},
        ),
        (
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {"a": {"type": "string"}},
            },
            {"type": "object", "properties": {"a": {"type": "string"}}},
        ),
        ({"type": "array"}, {"type": "array", "items": ANY}),
        ({"oneOf": [{"type": "string"}, {"type": "object"}]}, ANY),
    ],
)
def test_constructs(schema: Any, expected: dict[str, Any]) -> None:
    assert convert(schema) == expected


def test_refs_are_inlined_within_and_across_documents() -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "local": {"$ref": "#/$defs/name", "description": "overrides"},
            "remote": {"$ref": f"{OTHER}#/$defs/limit"},
        },
    }
    assert convert(schema, name={"type": "string", "description": "a name"}) == {
        "type": "object",
        "properties": {
            "local": {"type": "string", "description": "overrides"},
            "remote": {"type": "integer"},
        },
    }


def test_a_oneof_of_value_validations_on_declared_fields_is_kept() -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "oneOf": [{"required": ["a"]}, {"required": ["b"], "properties": {"b": {"const": "x"}}}],
    }
    assert convert(schema)["oneOf"] == [
        {"required": ["a"]},
        {"required": ["b"], "properties": {"b": {"enum": ["x"]}}},
    ]


@pytest.mark.parametrize(
    "junctor",
    [
        # A field only the branch declares: structural rule 2.
        {"oneOf": [{"required": ["c"], "properties": {"c": {"minLength": 1}}}]},
        # A branch that closes the object: not a value validation.
        {"oneOf": [{"additionalProperties": False}]},
        # Conditional subschemas: left to the models.
        {"allOf": [{"if": {"properties": {"a": {"const": "x"}}}, "then": {"required": ["b"]}}]},
    ],
)
def test_junctors_that_change_the_shape_are_dropped(junctor: dict[str, Any]) -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        **junctor,
    }
    assert convert(schema) == {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
    }


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "string", "contentEncoding": "base64"}, "'contentEncoding' has no structural"),
        ({"$ref": "#/$defs/loop"}, "recursive $ref"),
        ({"$ref": "https://elsewhere.test/x.json"}, "unknown document"),
        ({"$ref": "#/$defs/loop", "minLength": 1}, "constraints beside it"),
        (False, "'false' schema"),
        ({"type": "number", "minimum": 1, "exclusiveMinimum": 0}, "both minimum"),
    ],
)
def test_what_has_no_equivalent_fails_loudly(schema: Any, message: str) -> None:
    loop = {"type": "object", "properties": {"next": {"$ref": "#/$defs/loop"}}}
    with pytest.raises(SchemaConversionError, match=message.replace("$", r"\$")):
        convert(schema, loop=loop)
