"""The structural-schema checker flags each rule apiextensions.k8s.io/v1 enforces."""

from __future__ import annotations

from typing import Any

import pytest

from mentatlab.k8s import structural_violations

GOOD: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "anything": {"x-kubernetes-preserve-unknown-fields": True, "nullable": True},
        "port": {
            "x-kubernetes-int-or-string": True,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
        },
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "conditions": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
            "items": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"type": "string"}},
            },
        },
    },
    "oneOf": [
        {"required": ["name"]},
        {"required": ["anything"], "properties": {"name": {"maxLength": 0}}},
    ],
}


def test_a_structural_schema_has_no_violations() -> None:
    assert structural_violations(GOOD) == []


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ({"properties": {}}, "<root>: type is missing"),
        ({"type": "object", "properties": {"a": {}}}, ".a: type is missing"),
        ({"type": "array", "items": {"enum": [1]}}, "[]: type is missing"),
        ({"type": "null"}, "type 'null' is not one of"),
        ({"type": "object", "$ref": "#/x"}, "$ref is not supported"),
        (
            {"type": "object", "patternProperties": {"^x-": {}}},
            "patternProperties is not supported",
        ),
        ({"type": "object", "additionalProperties": False}, "must be a schema, not False"),
        (
            {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}},
            "mutually exclusive",
        ),
        ({"type": "array", "items": {"type": "string"}, "uniqueItems": True}, "uniqueItems"),
        ({"type": "object", "x-kubernetes-preserve-unknown-fields": False}, "true or absent"),
        ({"type": "string", "oneOf": [{"type": "string"}]}, "type is not allowed inside"),
        (
            {"type": "object", "anyOf": [{"properties": {"b": {"minLength": 1}}}]},
            ".anyOf.b: not declared outside",
        ),
        (
            {"type": "object", "allOf": [{"description": "x"}]},
            "description is not allowed inside",
        ),
        (
            {"type": "object", "not": {"x-kubernetes-preserve-unknown-fields": True}},
            "x-kubernetes-preserve-unknown-fields is not allowed inside",
        ),
        (
            {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
                "items": {"type": "object", "properties": {"type": {"type": "string"}}},
            },
            "list map key 'type' must be a required item property",
        ),
    ],
)
def test_each_rule_is_checked(schema: dict[str, Any], problem: str) -> None:
    problems = structural_violations(schema)
    assert any(problem in line for line in problems), problems


def test_metadata_may_only_restrict_name_and_generate_name() -> None:
    root = {
        "type": "object",
        "properties": {
            "metadata": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "labels": {"type": "object"}},
            }
        },
    }
    assert structural_violations(root) == []
    assert structural_violations(root, crd_root=True) == [".metadata: labels may not be restricted"]
