"""Normalising manifests in the original format (no ``apiVersion``) to agent manifest v1."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mentatlab.model.manifest import LEGACY_PROTOCOL, MANIFEST_API_VERSION
from mentatlab.validation.document import ROOT

__all__ = ["is_legacy_manifest", "normalise_legacy_manifest"]

_RENAMED = {"timeout_seconds": "timeoutSeconds", "max_concurrent": "maxConcurrent"}
_AMOUNTS = ("cpu", "memory")


def is_legacy_manifest(data: dict[str, Any]) -> bool:
    return "apiVersion" not in data


def normalise_legacy_manifest(
    data: dict[str, Any],
) -> tuple[dict[str, Any], Callable[[str], str]]:
    """The v1 form of a legacy manifest, and a map from its paths back to the original paths.

    Every original field is kept; only ``resources`` changes shape: ``cpu``/``memory`` become
    both requests and limits, ``gpu`` becomes an integer limit, snake_case keys become camelCase.
    The agent speaks the original contract (``protocol: legacy``) unless it says otherwise.
    """
    moved: dict[str, str] = {}
    result: dict[str, Any] = {
        "apiVersion": MANIFEST_API_VERSION,
        "kind": "Agent",
        "protocol": LEGACY_PROTOCOL,
    }
    moved["$.apiVersion"] = moved["$.kind"] = ROOT
    if "protocol" not in data:
        moved["$.protocol"] = ROOT
    result.update(data)
    resources = data.get("resources")
    if isinstance(resources, dict):
        result["resources"] = _resources(resources, moved)
    return result, _origin(moved)


def _resources(legacy: dict[str, Any], moved: dict[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    for key, value in legacy.items():
        old = f"$.resources.{key}"
        if key in _AMOUNTS:
            requests[key] = limits[key] = value
            moved[f"$.resources.requests.{key}"] = moved[f"$.resources.limits.{key}"] = old
        elif key == "gpu":
            limits["gpu"] = _gpu_count(value)
            moved["$.resources.limits.gpu"] = old
        elif key in _RENAMED:
            result[_RENAMED[key]] = value
            moved[f"$.resources.{_RENAMED[key]}"] = old
        else:
            result[key] = value
    for name, amounts in (("requests", requests), ("limits", limits)):
        if amounts:
            existing = result.get(name)
            result[name] = {**amounts, **existing} if isinstance(existing, dict) else amounts
    return result


def _gpu_count(value: Any) -> Any:
    """``"1"``, ``1``, ``true``/``false`` -> a GPU count; anything else is left to the schema."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        return int(value)
    return value


def _origin(moved: dict[str, str]) -> Callable[[str], str]:
    prefixes = sorted(moved, key=len, reverse=True)

    def origin(path: str) -> str:
        for prefix in prefixes:
            if path == prefix or path.startswith((prefix + ".", prefix + "[")):
                return moved[prefix] + path[len(prefix) :]
        return path

    return origin
