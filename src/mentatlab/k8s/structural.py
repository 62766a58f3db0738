"""The rules that make an OpenAPI v3 schema *structural*, as ``apiextensions.k8s.io/v1`` requires.

A CustomResourceDefinition's schema must be structural for the API server to prune unknown
fields, apply defaults and run CEL rules. The rules (Kubernetes docs, "Specifying a structural
schema", plus the v1 validation of CRD schemas):

1. every node has a ``type`` (root, each property, ``additionalProperties``, ``items``), except
   nodes with ``x-kubernetes-int-or-string`` or ``x-kubernetes-preserve-unknown-fields``;
2. a field mentioned inside ``allOf``/``anyOf``/``oneOf``/``not`` is also declared outside;
3. inside those junctors: no ``description``, ``type``, ``default``, ``additionalProperties``,
   ``nullable`` or ``x-kubernetes-*`` (except the int-or-string ``anyOf: [integer, string]``);
4. under ``metadata`` only ``name`` and ``generateName`` may be restricted;
5. no ``$ref``, ``definitions``, ``patternProperties``, ``dependencies``, ``additionalItems``,
   ``uniqueItems: true``, boolean ``additionalProperties``, ``properties`` together with
   ``additionalProperties``, ``items`` as a list, or ``x-kubernetes-preserve-unknown-fields``
   other than ``true``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["structural_violations"]

_TYPES: Final = frozenset({"object", "array", "string", "integer", "number", "boolean"})
_JUNCTORS: Final = ("allOf", "anyOf", "oneOf", "not")
_PRESERVE: Final = "x-kubernetes-preserve-unknown-fields"
_INT_OR_STRING: Final = "x-kubernetes-int-or-string"
_SUPPORTED: Final = frozenset(
    {
        *_JUNCTORS,
        "type",
        "format",
        "title",
        "description",
        "default",
        "example",
        "externalDocs",
        "nullable",
        "enum",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "required",
        "properties",
        "additionalProperties",
        "items",
        _PRESERVE,
        _INT_OR_STRING,
        "x-kubernetes-embedded-resource",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
        "x-kubernetes-validations",
    }
)
_NOT_IN_JUNCTORS: Final = frozenset(
    {"description", "type", "default", "additionalProperties", "nullable"}
)
_METADATA_FIELDS: Final = frozenset({"name", "generateName"})


def structural_violations(schema: Mapping[str, Any], *, crd_root: bool = False) -> list[str]:
    """Every structural-schema rule ``schema`` breaks, as ``PATH: problem`` lines.

    ``crd_root``: ``schema`` is a CRD version's ``openAPIV3Schema`` (adds rule 4).
    """
    problems: list[str] = []
    _check(schema, "", problems)
    if crd_root:
        _check_metadata(schema, problems)
    return problems


def _check(node: Any, path: str, problems: list[str]) -> None:
    where = path or "<root>"
    if not isinstance(node, Mapping):
        problems.append(f"{where}: a schema must be an object, not {node!r}")
        return
    problems.extend(f"{where}: {key} is not supported" for key in node if key not in _SUPPORTED)
    kind = node.get("type")
    if kind is not None and kind not in _TYPES:
        problems.append(f"{where}: type {kind!r} is not one of {sorted(_TYPES)}")
    if _PRESERVE in node and node[_PRESERVE] is not True:
        problems.append(f"{where}: {_PRESERVE} must be true or absent")
    if kind is None and not node.get(_PRESERVE) and not node.get(_INT_OR_STRING):
        problems.append(f"{where}: type is missing")
    if node.get("uniqueItems") is True:
        problems.append(f"{where}: uniqueItems: true is not allowed")
    additional = node.get("additionalProperties")
    if isinstance(additional, bool):
        problems.append(f"{where}: additionalProperties must be a schema, not {additional}")
    if "properties" in node and additional is not None:
        problems.append(f"{where}: properties and additionalProperties are mutually exclusive")
    _check_list_map(node, where, problems)
    for name, child in node.get("properties", {}).items():
        _check(child, f"{path}.{name}", problems)
    if isinstance(additional, Mapping):
        _check(additional, f"{path}[*]", problems)
    if "items" in node:
        _check(node["items"], f"{path}[]", problems)
    for junctor, branch in _branches(node):
        _check_branch(branch, node, f"{path}.{junctor}", problems)


def _check_list_map(node: Mapping[str, Any], where: str, problems: list[str]) -> None:
    if node.get("x-kubernetes-list-type") != "map":
        return
    item = node.get("items", {})
    keys = node.get("x-kubernetes-list-map-keys") or []
    if not keys:
        problems.append(f"{where}: x-kubernetes-list-type map needs x-kubernetes-list-map-keys")
    for key in keys:
        if key not in item.get("properties", {}) or key not in item.get("required", []):
            problems.append(f"{where}: list map key {key!r} must be a required item property")


def _branches(node: Mapping[str, Any]) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for junctor in _JUNCTORS:
        if junctor in node:
            value = node[junctor]
            found += [(junctor, value)] if junctor == "not" else [(junctor, b) for b in value]
    return found


def _check_branch(branch: Any, outer: Mapping[str, Any], path: str, problems: list[str]) -> None:
    """Rules 2 and 3 for a junctor branch, against the node it constrains."""
    if not isinstance(branch, Mapping):
        problems.append(f"{path}: a schema must be an object, not {branch!r}")
        return
    if outer.get(_INT_OR_STRING) and branch.keys() == {"type"}:
        if branch["type"] not in ("integer", "string"):
            problems.append(f"{path}: int-or-string branches are integer or string")
        return
    for key in branch:
        if key in _NOT_IN_JUNCTORS or key.startswith("x-kubernetes-"):
            problems.append(f"{path}: {key} is not allowed inside a junctor")
        elif key not in _SUPPORTED:
            problems.append(f"{path}: {key} is not supported")
    declared = outer.get("properties", {})
    for name, child in branch.get("properties", {}).items():
        if name in declared:
            _check_branch(child, declared[name], f"{path}.{name}", problems)
        else:
            problems.append(f"{path}.{name}: not declared outside the junctor")
    if "items" in branch:
        if "items" in outer:
            _check_branch(branch["items"], outer["items"], f"{path}[]", problems)
        else:
            problems.append(f"{path}[]: items not declared outside the junctor")
    for junctor, nested in _branches(branch):
        _check_branch(nested, outer, f"{path}.{junctor}", problems)


def _check_metadata(root: Mapping[str, Any], problems: list[str]) -> None:
    metadata = root.get("properties", {}).get("metadata")
    if not isinstance(metadata, Mapping):
        return
    extra = set(metadata) - {"type", "properties"}
    extra |= set(metadata.get("properties", {})) - _METADATA_FIELDS
    problems.extend(f".metadata: {key} may not be restricted" for key in sorted(extra))
