"""The original project's manifests and flows load and get exactly the findings they deserve.

Checked by hand: ``:latest`` images break ``manifest.image-tag``; object env entries and
pin-level ``description`` are v1; the templates still hold placeholders; ``hello_chat`` uses an
agent that does not exist here; the other flows run with the project's ``mentatlab.echo``
(``foreach_batch`` pins constant ``items`` that echo does not declare).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from validation_helpers import errors, warnings

from mentatlab.validation import AgentCatalog, load_flow, load_manifest

REPO = Path(__file__).resolve().parents[2]
ORIGINAL = REPO / ".." / "shared" / "compat" / "mentatlab-original"
LEGACY = "manifest.legacy-format"
TEMPLATE = "manifest.template-placeholder"

MANIFESTS: dict[str, tuple[bool, set[str], set[str]]] = {
    "ctm-cogpack.manifest.yaml": (False, {LEGACY}, {"manifest.image-tag"}),
    "echo.manifest.yaml": (True, {LEGACY}, set()),
    "flexinfer-adapter.manifest.yaml": (True, {LEGACY}, set()),
    "loom-mcp-executor.manifest.yaml": (True, {LEGACY}, set()),
    "psyche-sim.manifest.yaml": (False, {LEGACY}, {"manifest.image-tag"}),
    "template-go.manifest.yaml": (False, set(), {TEMPLATE}),
    "template-nodejs.manifest.yaml": (False, set(), {TEMPLATE}),
    "template-python.manifest.yaml": (False, set(), {TEMPLATE}),
    "template-rust.manifest.yaml": (False, set(), {TEMPLATE}),
    "template-typescript.manifest.yaml": (False, set(), {TEMPLATE}),
}

FLOWS: dict[str, tuple[bool, set[str], set[str]]] = {
    "conditional_routing.json": (True, set(), set()),
    "data_pipeline.json": (True, set(), set()),
    "foreach_batch.json": (True, {"flow.pinned-output-undeclared"}, set()),
    "hello_chat.json": (False, set(), {"flow.agent-ref"}),
}


def test_every_original_file_is_covered() -> None:
    assert {p.name for p in (ORIGINAL / "agents").iterdir()} == set(MANIFESTS)
    assert {p.name for p in (ORIGINAL / "flows").iterdir()} == set(FLOWS)


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_original_manifest(name: str) -> None:
    valid, expected_warnings, expected_errors = MANIFESTS[name]
    agent, findings = load_manifest(ORIGINAL / "agents" / name)
    assert (agent is not None, warnings(findings), errors(findings)) == (
        valid,
        expected_warnings,
        expected_errors,
    ), findings
    assert all(finding.line is not None for finding in findings)


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_original_flow(name: str) -> None:
    valid, expected_warnings, expected_errors = FLOWS[name]
    flow, findings = load_flow(ORIGINAL / "flows" / name, AgentCatalog([REPO / "agents"]))
    assert (flow is not None, warnings(findings), errors(findings)) == (
        valid,
        expected_warnings,
        expected_errors,
    ), findings


def test_hello_chat_names_the_missing_agent() -> None:
    _, findings = load_flow(ORIGINAL / "flows" / "hello_chat.json", AgentCatalog([REPO / "agents"]))
    [finding] = findings
    assert (finding.path, finding.line) == ("$.graph.nodes[1].type", 22)
    assert "'flexinfer.ollama.chat:0.2.1' not found" in finding.message


def test_image_tag_finding_points_at_the_original_line() -> None:
    _, findings = load_manifest(ORIGINAL / "agents" / "ctm-cogpack.manifest.yaml")
    assert [(f.path, f.line) for f in findings if f.rule == "manifest.image-tag"] == [
        ("$.image", 3)
    ]
