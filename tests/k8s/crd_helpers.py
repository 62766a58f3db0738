"""What the API server does to a custom resource, approximated locally.

``schema_errors`` validates an object against its CRD's ``openAPIV3Schema`` (OpenAPI v3 is
JSON Schema draft 4 for the keywords the CRDs use: boolean ``exclusiveMinimum``, ``nullable``
aside). ``pruned_paths`` lists the fields the server would drop because no schema declares them.
The documents MentatLab ships and converts: the originals it must keep reading, and its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator

from mentatlab.k8s import custom_resource_definitions
from mentatlab.model.flow import Flow
from mentatlab.model.manifest import AgentManifest
from mentatlab.validation import AgentCatalog, Mode, load_flow, load_manifest

REPO = Path(__file__).resolve().parents[2]
ORIGINAL = REPO.parent / "shared" / "compat" / "mentatlab-original"
PRESERVE = "x-kubernetes-preserve-unknown-fields"

__all__ = [
    "ORIGINAL",
    "REPO",
    "crd_schema",
    "custom_object",
    "known_flows",
    "known_manifests",
    "pruned_paths",
    "schema_errors",
]


def crd_schema(kind: str) -> dict[str, Any]:
    [crd] = [c for c in custom_resource_definitions() if c["spec"]["names"]["kind"] == kind]
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def custom_object(
    kind: str, spec: Mapping[str, Any], *, name: str = "r", status: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A ``mentatlab.io/v1`` object of ``kind`` (with ``status`` only when one is given)."""
    obj: dict[str, Any] = {
        "apiVersion": "mentatlab.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": dict(spec),
    }
    if status:
        obj["status"] = dict(status)
    return obj


def schema_errors(obj: Mapping[str, Any]) -> list[str]:
    validator = Draft4Validator(
        _draft4(crd_schema(obj["kind"])), format_checker=Draft4Validator.FORMAT_CHECKER
    )
    return [
        f"{'.'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(obj)
    ]


def _draft4(schema: Any) -> Any:
    """``nullable: true`` as draft 4 says it (a ``null`` type); everything else as it is."""
    if isinstance(schema, list):
        return [_draft4(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _draft4(value) for key, value in schema.items()}
    if converted.get("nullable") and "type" in converted:
        converted["type"] = [converted["type"], "null"]
    return converted


def pruned_paths(value: Any, schema: Mapping[str, Any], path: str = "") -> Iterator[str]:
    """Paths of the fields structural pruning removes from ``value``."""
    if isinstance(value, dict) and not schema.get(PRESERVE):
        properties = schema.get("properties", {})
        additional = schema.get("additionalProperties")
        for key, child in value.items():
            if key in properties:
                yield from pruned_paths(child, properties[key], f"{path}.{key}")
            elif isinstance(additional, dict):
                yield from pruned_paths(child, additional, f"{path}.{key}")
            else:
                yield f"{path}.{key}"
    elif isinstance(value, dict):
        for key, child in value.items():
            if key in schema.get("properties", {}):
                yield from pruned_paths(child, schema["properties"][key], f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from pruned_paths(item, schema["items"], f"{path}[{index}]")


def known_manifests() -> dict[str, AgentManifest]:
    """Every manifest that loads (permissive: the originals use ':latest' images)."""
    paths = [*sorted((ORIGINAL / "agents").iterdir()), *sorted(REPO.glob("agents/*/manifest.yaml"))]
    loaded = {}
    for path in paths:
        manifest, _ = load_manifest(path, mode=Mode.PERMISSIVE)
        if manifest is not None:
            loaded[f"{path.parent.name}/{path.name}"] = manifest
    return loaded


def known_flows() -> dict[str, Flow]:
    """Every flow of the originals and the examples (permissive: one uses an absent agent)."""
    catalog = AgentCatalog([REPO / "agents"])
    paths = [*sorted((ORIGINAL / "flows").iterdir()), *sorted((REPO / "examples").iterdir())]
    loaded = {}
    for path in paths:
        flow, _ = load_flow(path, catalog, mode=Mode.PERMISSIVE)
        if flow is not None:
            loaded[f"{path.parent.name}/{path.name}"] = flow
    return loaded
