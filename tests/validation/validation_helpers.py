"""Builders of manifests, flows and finding sets for the validation tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mentatlab.validation import Finding, Severity


def manifest(agent_id: str = "test.agent", **fields: Any) -> dict[str, Any]:
    """A valid v1 manifest, with ``fields`` replacing or adding keys."""
    data: dict[str, Any] = {
        "apiVersion": "mentatlab.io/v1",
        "kind": "Agent",
        "id": agent_id,
        "version": "1.0.0",
        "description": "A test agent.",
        "image": "example.org/test:1.0.0",
        "inputs": [{"name": "text", "type": "string"}],
        "outputs": [{"name": "result", "type": "string"}],
    }
    data.update(fields)
    return data


def flow(nodes: list[dict[str, Any]], edges: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    return {
        "apiVersion": "mentatlab.io/v1",
        "kind": "Flow",
        "meta": {"id": "test.flow", "name": "Test"},
        "graph": {"nodes": nodes, "edges": [{"from": a, "to": b} for a, b in edges]},
    }


def rules(findings: Iterable[Finding], severity: Severity | None = None) -> set[str]:
    return {f.rule for f in findings if severity is None or f.severity is severity}


def errors(findings: Iterable[Finding]) -> set[str]:
    return rules(findings, Severity.ERROR)


def warnings(findings: Iterable[Finding]) -> set[str]:
    return rules(findings, Severity.WARNING)


WriteFile = Callable[[str, str | bytes | dict[str, Any]], Path]
