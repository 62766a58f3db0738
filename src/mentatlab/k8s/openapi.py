"""JSON Schema (draft 2020-12) to structural OpenAPI v3, for CustomResourceDefinitions.

The CRDs' spec schemas are generated from ``schemas/*.json`` so that the API server checks
custom resources with the same rules as ``mentatctl validate``, as far as a structural schema
can express them. Construct by construct:

- ``$ref`` (within a document or to another document's ``$id``) is inlined; ``$defs``,
  ``$schema``, ``$id``, ``$comment`` and ``title`` are dropped.
- ``default`` is dropped: the API server would write defaults into stored objects, and
  MentatLab's models apply the same defaults when they read them, so objects stay as written.
- ``const`` becomes a one-value ``enum``; a numeric ``exclusiveMinimum``/``exclusiveMaximum``
  becomes ``minimum``/``maximum`` with the boolean flag.
- An object without ``additionalProperties: false`` is open: it gets
  ``x-kubernetes-preserve-unknown-fields: true`` (its declared properties are still checked).
  ``additionalProperties: false`` itself is dropped (unknown fields are pruned, or rejected
  under strict field validation, kubectl's default); ``additionalProperties: SCHEMA`` is kept
  as a map; ``patternProperties`` makes the object open.
- A schema that allows any JSON value (``{}``, ``true``, only a description, a ``type`` list
  other than integer+string, a ``oneOf`` of different types) becomes
  ``x-kubernetes-preserve-unknown-fields: true`` + ``nullable: true`` without a type.
  ``type: [integer, string]`` becomes ``x-kubernetes-int-or-string``; ``null`` in a type list
  becomes ``nullable``.
- ``oneOf``/``anyOf``/``allOf`` are kept when their branches only add value validations to
  fields declared outside them (structural rule 2); otherwise they are dropped and the
  operator's validation (the pydantic models) enforces them. ``if``/``then``/``else`` are
  dropped the same way.
- Any other keyword raises :class:`SchemaConversionError`, so a schema change that the CRDs
  cannot follow fails the generator instead of silently weakening validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from mentatlab.k8s.structural import structural_violations

__all__ = ["ANY_VALUE", "PRESERVE_UNKNOWN", "SchemaConversionError", "to_structural"]

PRESERVE_UNKNOWN: Final = "x-kubernetes-preserve-unknown-fields"
ANY_VALUE: Final[Mapping[str, Any]] = {PRESERVE_UNKNOWN: True, "nullable": True}
"""Any JSON value, including ``null`` (pin values, params, constant inputs and outputs)."""

_VALUE_CHECKS: Final = (
    "enum",
    "pattern",
    "format",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "required",
)
_DROPPED: Final = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "default", "if", "then", "else"}
)
_TRANSLATED: Final = frozenset(
    {
        "$ref",
        "type",
        "description",
        "const",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "properties",
        "additionalProperties",
        "patternProperties",
        "items",
        "oneOf",
        "anyOf",
        "allOf",
    }
)
_ANNOTATIONS: Final = frozenset({"description"})
_INT_OR_STRING: Final = "int-or-string"


class SchemaConversionError(ValueError):
    """A JSON Schema construct with no structural OpenAPI equivalent."""


def to_structural(
    schema: Mapping[str, Any] | bool, *, base: str, documents: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Convert ``schema``, a part of the document whose ``$id`` is ``base``.

    ``documents`` maps ``$id`` to schema document, for ``$ref`` within and across documents.
    """
    return _Converter(documents).convert(schema, base, ())


class _Converter:
    def __init__(self, documents: Mapping[str, Mapping[str, Any]]) -> None:
        self._documents = documents

    def convert(
        self, schema: Mapping[str, Any] | bool, base: str, refs: tuple[str, ...]
    ) -> dict[str, Any]:
        if schema is True:
            return dict(ANY_VALUE)
        if schema is False:
            raise SchemaConversionError("a 'false' schema (no value allowed) has no equivalent")
        schema, base, refs = self._deref(schema, base, refs)
        for key in schema:
            if key not in _TRANSLATED and key not in _DROPPED and key not in _VALUE_CHECKS:
                raise SchemaConversionError(f"keyword {key!r} has no structural equivalent")
        kind, nullable = _type_of(schema)
        described = {"description": schema["description"]} if "description" in schema else {}
        if kind is None:
            return {**described, **ANY_VALUE}
        out: dict[str, Any] = (
            {"x-kubernetes-int-or-string": True} if kind == _INT_OR_STRING else {"type": kind}
        )
        out.update(described)
        if nullable:
            out["nullable"] = True
        out.update(_value_checks(schema))
        if kind == "object":
            out.update(self._object(schema, base, refs))
        elif kind == "array":
            out["items"] = self.convert(schema.get("items", True), base, refs)
        for junctor in ("oneOf", "anyOf", "allOf"):
            branches = self._junctor(schema.get(junctor, ()), kind, base, refs)
            if branches and not structural_violations({**out, junctor: branches}):
                out[junctor] = branches
        return out

    def _object(
        self, schema: Mapping[str, Any], base: str, refs: tuple[str, ...]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        properties = schema.get("properties", {})
        if properties:
            out["properties"] = {
                name: self.convert(child, base, refs) for name, child in properties.items()
            }
        additional = schema.get("additionalProperties", True)
        if "patternProperties" in schema or additional is True or additional == {}:
            out[PRESERVE_UNKNOWN] = True  # open object: keys (and their values) not listed
        elif additional is not False:
            if properties:
                raise SchemaConversionError("properties and a schema for additionalProperties")
            out["additionalProperties"] = self.convert(additional, base, refs)
        return out

    def _junctor(
        self, branches: Any, kind: str | None, base: str, refs: tuple[str, ...]
    ) -> list[dict[str, Any]]:
        """The branches as value validations only, or ``[]`` if they say more than that."""
        converted = []
        for branch in branches:
            constraints = self._constraints(branch, kind, base, refs)
            if constraints is None:
                return []
            if constraints:
                converted.append(constraints)
        return converted

    def _constraints(
        self, schema: Any, kind: str | None, base: str, refs: tuple[str, ...]
    ) -> dict[str, Any] | None:
        """The value validations of a junctor branch; ``None`` if it also changes the shape.

        ``kind`` is the type declared outside; a nested ``type`` counts as shape.
        """
        if schema is True:
            return {}
        if not isinstance(schema, Mapping):
            return None
        schema, base, refs = self._deref(schema, base, refs)
        shape = set(schema) - set(_VALUE_CHECKS) - _ANNOTATIONS - _DROPPED
        shape -= {"const", "exclusiveMinimum", "exclusiveMaximum", "properties", "items"}
        if shape - {"type"} or ("type" in schema and schema["type"] != kind):
            return None
        out = _value_checks(schema)
        properties = {}
        for name, child in schema.get("properties", {}).items():
            nested = self._constraints(child, None, base, refs)
            if nested is None:
                return None
            if nested:
                properties[name] = nested
        if properties:
            out["properties"] = properties
        if "items" in schema:
            nested = self._constraints(schema["items"], None, base, refs)
            if nested is None:
                return None
            if nested:
                out["items"] = nested
        return out

    def _deref(
        self, schema: Mapping[str, Any], base: str, refs: tuple[str, ...]
    ) -> tuple[Mapping[str, Any], str, tuple[str, ...]]:
        """Follow ``$ref`` (its annotations, e.g. a description, override the target's)."""
        while "$ref" in schema:
            ref = schema["$ref"]
            siblings = {key: value for key, value in schema.items() if key != "$ref"}
            if set(siblings) - _ANNOTATIONS:
                raise SchemaConversionError(f"$ref {ref!r} with constraints beside it")
            document, _, pointer = ref.partition("#")
            base = document or base
            key = f"{base}#{pointer}"
            if key in refs:
                raise SchemaConversionError(f"recursive $ref {ref!r}: CRD schemas are finite")
            refs = (*refs, key)
            target: Any = self._document(base)
            for part in filter(None, pointer.split("/")):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            schema = {**target, **siblings}
        return schema, base, refs

    def _document(self, uri: str) -> Mapping[str, Any]:
        try:
            return self._documents[uri]
        except KeyError:
            raise SchemaConversionError(f"$ref to unknown document {uri!r}") from None


def _type_of(schema: Mapping[str, Any]) -> tuple[str | None, bool]:
    """``(type, nullable)``; ``None`` for any value, ``"int-or-string"`` for that union."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return declared, False
    if isinstance(declared, list):
        types = set(declared) - {"null"}
        nullable = "null" in declared
        if types == {"integer", "string"}:
            return _INT_OR_STRING, nullable
        return (types.pop(), nullable) if len(types) == 1 else (None, False)
    if {"properties", "additionalProperties", "patternProperties"} & schema.keys():
        return "object", False
    if "items" in schema:
        return "array", False
    values = schema["enum"] if "enum" in schema else [schema["const"]] if "const" in schema else []
    kinds = {_json_type(value) for value in values}
    return (kinds.pop(), False) if len(kinds) == 1 else (None, False)


def _value_checks(schema: Mapping[str, Any]) -> dict[str, Any]:
    out = {key: schema[key] for key in _VALUE_CHECKS if key in schema}
    if "const" in schema:
        out["enum"] = [schema["const"]]
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if exclusive in schema:
            if bound in schema:
                raise SchemaConversionError(f"both {bound} and a numeric {exclusive}")
            out[bound] = schema[exclusive]
            out[exclusive] = True
    return out


def _json_type(value: object) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    names = {float: "number", str: "string", list: "array", dict: "object"}
    return names.get(type(value))
