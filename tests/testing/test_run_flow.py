"""The ``run_flow`` half of the testing toolkit, on the repository's own example flows."""

from __future__ import annotations

from pathlib import Path

import pytest

from mentatlab.model.run import EventType, NodeStatus, RunStatus
from mentatlab.testing import FlowInvalidError, run_flow
from mentatlab.testing.plugin import FlowRunner

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_fixture_runs_a_flow_relative_to_the_test_and_records_it(
    run_flow: FlowRunner, tmp_path: Path
) -> None:
    result = run_flow("../../examples/branching.flow.yaml", {"text.text": "short note"})
    result.assert_succeeded()
    assert result.node("summary").status is NodeStatus.SKIPPED
    assert result.outputs["result"]["keywords"]
    statuses = [e.data["status"] for e in result.events_of(type=EventType.RUN_STATUS)]
    assert statuses == ["running", "succeeded"]
    assert (tmp_path / "mentatlab-home" / "store.db").is_file()


def test_events_can_be_filtered_by_node(tmp_path: Path) -> None:
    result = run_flow(EXAMPLES / "fanout.flow.yaml", home=tmp_path).assert_succeeded()
    node_events = result.events_of(node="rate[2]")
    assert [e.data["status"] for e in node_events if e.type == "node.status"] == [
        "running",
        "succeeded",
    ]
    assert all(e.node == "rate[2]" for e in node_events)


def test_a_failing_run_does_not_pass_assert_succeeded(tmp_path: Path) -> None:
    result = run_flow(
        EXAMPLES / "hello.flow.yaml", {"text.text": 42}, home=tmp_path
    )  # a number into string pins
    assert result.status is RunStatus.FAILED
    with pytest.raises(AssertionError, match="expected string, got number"):
        result.assert_succeeded()


def test_an_invalid_flow_raises_with_its_findings(tmp_path: Path) -> None:
    flow = tmp_path / "bad.flow.yaml"
    flow.write_text("apiVersion: v1\nkind: Flow\nmeta: {id: x, name: x}\ngraph: {nodes: []}\n")
    with pytest.raises(FlowInvalidError) as caught:
        run_flow(flow, home=tmp_path)
    assert any(f.rule == "schema.required" for f in caught.value.findings)
