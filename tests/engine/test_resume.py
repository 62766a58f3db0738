"""Resuming a run whose engine stopped: nothing runs or is reported twice."""

from __future__ import annotations

from engine_harness import TEXT_AGENT, Harness, ScriptedDriver, flow, succeed, upper

from mentatlab.engine.scheduler import PriorNode
from mentatlab.model.run import NodeStatus, RunStatus


def _chain() -> object:
    return flow(
        [
            {"id": "p", "type": "ui.prompt", "outputs": {"text": "go"}},
            {"id": "a", "type": "t.upper"},
            {"id": "b", "type": "t.upper", "params": {"suffix": "!"}},
            {"id": "c", "type": "t.upper", "params": {"suffix": "?"}},
        ],
        [("p.text", "a.text"), ("a.result", "b.text"), ("b.result", "c.text")],
    )


def test_finished_nodes_keep_their_results_and_a_running_one_continues_its_attempt() -> None:
    harness = Harness(ScriptedDriver({"t.upper": succeed(upper)}), {"t.upper": TEXT_AGENT})
    prior = {
        "p": PriorNode(NodeStatus.SUCCEEDED, outputs={"text": "go"}),
        "a": PriorNode(NodeStatus.SUCCEEDED, attempts=1, outputs={"result": "SAVED"}),
        "b": PriorNode(NodeStatus.RUNNING, attempts=2, checkpoint={"page": 7}),
    }
    outcome = harness.run(_chain(), prior=prior)  # type: ignore[arg-type]
    assert outcome.status is RunStatus.SUCCEEDED
    started = [(spec.node_id, spec.attempt) for spec in harness.driver.attempts]
    assert started == [("b", 2), ("c", 1)]  # a is not run again; b re-attaches to attempt 2
    assert harness.driver.attempts[0].inputs == {"text": "SAVED"}
    assert harness.driver.attempts[0].resume == {"page": 7}
    assert outcome.outputs == {"c": {"result": "SAVED!?"}}
    reported = {event.node for event in harness.sink.events}
    assert "a" not in reported and "p" not in reported
    run_statuses = [e.data["status"] for e in harness.sink.events if e.type == "run.status"]
    assert run_statuses == ["succeeded"]  # "running" was reported before the interruption


def test_a_node_waiting_to_retry_continues_with_the_next_attempt() -> None:
    harness = Harness(ScriptedDriver({"t.upper": succeed(upper)}), {"t.upper": TEXT_AGENT})
    prior = {
        "p": PriorNode(NodeStatus.SUCCEEDED, outputs={"text": "go"}),
        "a": PriorNode(NodeStatus.PENDING, attempts=1),
    }
    harness.run(_chain(), prior=prior)  # type: ignore[arg-type]
    assert harness.driver.attempts[0].node_id == "a"
    assert harness.driver.attempts[0].attempt == 2


def test_a_failure_before_the_interruption_still_fails_the_run() -> None:
    harness = Harness(ScriptedDriver({"t.upper": succeed(upper)}), {"t.upper": TEXT_AGENT})
    prior = {
        "p": PriorNode(NodeStatus.SUCCEEDED, outputs={"text": "go"}),
        "a": PriorNode(NodeStatus.FAILED, attempts=1),
    }
    outcome = harness.run(_chain(), prior=prior)  # type: ignore[arg-type]
    assert outcome.status is RunStatus.FAILED
    assert harness.driver.attempts == []
    assert harness.final_status("b") == "skipped"
