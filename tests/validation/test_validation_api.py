"""validate_paths: kind detection, the JSON report, usage errors; the rules documentation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from validation_helpers import WriteFile, flow, manifest

from mentatlab.validation import RULES, DocumentKind, UsageError, detect_kind, validate_paths

DOCS = Path(__file__).resolve().parents[2] / "docs" / "validation.md"


def test_report_json_shape(write: WriteFile, tmp_path: Path) -> None:
    write("agents/t/manifest.yaml", manifest("t.text", image="x:latest"))
    ok = write("flow.yaml", flow([{"id": "a", "type": "t.text", "inputs": {"text": 1}}]))
    report = validate_paths([ok, tmp_path / "agents" / "t"], environ={})
    result = report.to_json()
    assert set(result) == {"valid", "errors", "warnings"} and result["valid"] is False
    assert result["warnings"] == []
    flow_error, manifest_error = result["errors"]
    assert manifest_error == {
        "file": str(tmp_path / "agents" / "t" / "manifest.yaml"),
        "path": "$.image",
        "line": 7,
        "rule": "manifest.image-tag",
        "message": report.errors[1].message,
    }
    assert (flow_error["rule"], flow_error["path"]) == ("flow.agent-ref", "$.graph.nodes[0].type")
    assert "has an invalid manifest" in flow_error["message"]
    json.dumps(result)


def test_flows_resolve_agents_beside_them_and_from_agent_dirs(
    write: WriteFile, tmp_path: Path
) -> None:
    write("elsewhere/t/manifest.yaml", manifest("t.other"))
    path = write("flow.json", flow([{"id": "a", "type": "t.other", "inputs": {"text": "x"}}]))
    assert not validate_paths([path], environ={}).valid
    assert validate_paths([path], agent_dirs=[tmp_path / "elsewhere"], environ={}).valid


def test_missing_paths_are_usage_errors(tmp_path: Path, write: WriteFile) -> None:
    good = write("ok.yaml", manifest())
    with pytest.raises(UsageError, match=r"nope\.yaml: no such file.*empty: directory has no"):
        (tmp_path / "empty").mkdir()
        validate_paths([good, tmp_path / "nope.yaml", tmp_path / "empty"])


def test_unknown_kind_and_load_errors(write: WriteFile) -> None:
    report = validate_paths([write("what.yaml", "hello: world\n"), write("bad.json", "{")])
    assert [f.rule for f in report.errors] == ["load.unknown-kind", "load.syntax"]


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ({"kind": "Flow"}, DocumentKind.FLOW),
        ({"graph": {}}, DocumentKind.FLOW),
        ({"kind": "Agent"}, DocumentKind.MANIFEST),
        ({"id": "x", "outputs": []}, DocumentKind.MANIFEST),
        ({"id": "x"}, None),
        ({"kind": "Other", "graph": {}}, None),
    ],
)
def test_detect_kind(data: dict[str, object], kind: DocumentKind | None) -> None:
    assert detect_kind(data) is kind


def test_every_rule_is_documented() -> None:
    text = DOCS.read_text()
    missing = [rule for rule in RULES if f"`{rule}`" not in text]
    assert missing == []
