"""JSON Schema validation of manifests, flows and policies, with findings a person can act on."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mentatlab.validation.document import ROOT, child_path

__all__ = ["SchemaKind", "SchemaProblem", "schema_problems"]

_MAX_SHOWN: Final = 60


class SchemaKind(StrEnum):
    MANIFEST = "agent-manifest.v1.schema.json"
    FLOW = "flow.v1.schema.json"
    POLICY = "policy.v1.schema.json"


SchemaProblem = tuple[str, str, str]
"""``(json_path, rule, message)`` of one schema violation."""


def schema_problems(kind: SchemaKind, data: Any) -> list[SchemaProblem]:
    """Every schema violation of ``data``, in document order of their paths."""
    problems: list[SchemaProblem] = []
    for error in _validator(kind).iter_errors(data):
        problems.extend(_describe(_leaf(error)))
    return sorted(problems, key=lambda problem: problem[0])


@cache
def _schema(kind: SchemaKind) -> dict[str, Any]:
    text = resources.files("mentatlab").joinpath("schemas", kind.value).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(kind: SchemaKind) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resources(
        (_schema(each)["$id"], Resource.from_contents(_schema(each), DRAFT202012))
        for each in SchemaKind
    )
    return Draft202012Validator(
        _schema(kind), registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _leaf(error: ValidationError) -> ValidationError:
    """Descend from oneOf/anyOf failures to the error of the branch the author most likely meant."""
    while error.validator in ("oneOf", "anyOf") and error.context:
        branches: dict[Any, list[ValidationError]] = defaultdict(list)
        for sub in error.context:
            branches[sub.relative_schema_path[0]].append(sub)
        # A branch whose type or discriminating const failed is not the one the author meant.
        meant = [errs for errs in branches.values() if not any(map(_discriminates, errs))]
        candidates = meant or list(branches.values())
        best = best_match(sub for errs in candidates for sub in errs)
        if best is None:
            break
        error = best
    return error


def _discriminates(error: ValidationError) -> bool:
    path = list(error.relative_schema_path)
    return (error.validator == "type" and len(path) == 2) or (
        error.validator == "const" and len(path) == 4 and path[1] == "properties"
    )


def _describe(error: ValidationError) -> Iterator[SchemaProblem]:
    path = ROOT
    for part in error.absolute_path:
        path = child_path(path, part)
    keyword = str(error.validator)
    rule = f"schema.{keyword}"
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance, expected = error.instance, _value(error)
    if keyword == "required" and isinstance(instance, dict):
        for name in expected:
            if name not in instance:
                yield child_path(path, name), rule, f"missing required property {name!r}"
        return
    if keyword == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted(schema.get("properties", {}))
        extension = (
            " (extension keys start with 'x-')"
            if "^x-" in schema.get("patternProperties", {})
            else ""
        )
        for name in _extra_keys(instance, schema):
            message = f"unknown property {name!r}; expected one of: {', '.join(allowed)}"
            yield child_path(path, name), rule, message + extension
        return
    yield path, rule, _message(keyword, error, schema)


def _extra_keys(instance: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    known = schema.get("properties", {})
    patterns = [re.compile(pattern) for pattern in schema.get("patternProperties", {})]
    return [
        name
        for name in instance
        if name not in known and not any(pattern.search(name) for pattern in patterns)
    ]


def _message(keyword: str, error: ValidationError, schema: dict[str, Any]) -> str:
    value, expected = error.instance, _value(error)
    about = f" ({schema['description']})" if "description" in schema else ""
    if keyword == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        return f"expected {wanted}, got {_json_type(value)} {_show(value)}"
    if keyword == "const":
        return f"must be {_show(expected)}, got {_show(value)}"
    if keyword == "enum":
        return f"{_show(value)} is not one of: {', '.join(map(_show, expected))}"
    if keyword == "pattern":
        return f"{_show(value)} does not match the pattern {expected}{about}"
    if keyword == "format":
        return f"{_show(value)} is not a valid {expected}{_FORMAT_HINTS.get(expected, '')}"
    if keyword == "oneOf":
        return f"{_show(value)} matches more than one of the allowed forms"
    return f"{error.message}{about}"


_FORMAT_HINTS: Final = {"date-time": " (RFC 3339, e.g. 2025-01-31T12:00:00Z)"}


def _value(error: ValidationError) -> Any:
    """The failed keyword's value in the schema (typed loosely by jsonschema)."""
    return error.validator_value


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, int):
        return "integer"
    names = {float: "number", str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."
