from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from mentatlab.k8s.status import NODE_OUTPUTS_LIMIT_BYTES
from mentatlab.model.run import NodeError, NodeRecord, NodeStatus, RunRecord, RunStatus
from mentatlab.operator.status import STATUS_OUTPUTS_BUDGET_BYTES, flowrun_status, invalid_status

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _pod(node: str, attempt: int) -> str:
    return f"pod-{node}-{attempt}"


def _record(status: RunStatus, **nodes: NodeRecord) -> RunRecord:
    return RunRecord(id="r1", status=status, created_at=NOW, started_at=NOW, nodes=nodes)


def test_running_flowrun_shows_progress_pods_and_small_outputs() -> None:
    record = _record(
        RunStatus.RUNNING,
        a=NodeRecord(status=NodeStatus.SUCCEEDED, attempts=1, outputs={"x": 1}),
        b=NodeRecord(status=NodeStatus.RUNNING, attempts=2),
        c=NodeRecord(),
    )
    status = flowrun_status(record, generation=3, pod_name=_pod, now=NOW)
    assert (status["phase"], status["progress"], status["runId"]) == ("Running", "1/3", "r1")
    assert status["observedGeneration"] == 3
    assert status["nodes"]["a"] == {
        "phase": "Succeeded",
        "attempts": 1,
        "podName": "pod-a-1",
        "outputs": {"x": 1},
    }
    assert status["nodes"]["b"]["podName"] == "pod-b-2"
    assert status["nodes"]["c"] == {"phase": "Pending", "attempts": 0}
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions == {
        "Ready": ("False", "Running"),
        "Succeeded": ("False", "Running"),
        "Failed": ("False", "NotFailed"),
    }


def test_failed_flowrun_carries_reason_and_message() -> None:
    error = NodeError(node="b", attempt=1, reason="oom_killed", message="b was OOMKilled")
    record = _record(
        RunStatus.FAILED, b=NodeRecord(status=NodeStatus.FAILED, attempts=1, error=error)
    ).model_copy(update={"error": error, "finished_at": NOW})
    status = flowrun_status(record, generation=1, pod_name=_pod, now=NOW)
    assert status["phase"] == "Failed" and status["message"] == "b was OOMKilled"
    assert status["nodes"]["b"]["exitReason"] == "oom_killed"
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "OomKilled")


def test_large_outputs_stay_out_of_status() -> None:
    big = {"blob": "x" * (NODE_OUTPUTS_LIMIT_BYTES + 1)}
    record = _record(
        RunStatus.SUCCEEDED, a=NodeRecord(status=NodeStatus.SUCCEEDED, attempts=1, outputs=big)
    )
    status = flowrun_status(record, generation=1, pod_name=_pod, now=NOW)
    assert "outputs" not in status["nodes"]["a"]
    assert status["nodes"]["a"]["outputsTruncated"] is True
    assert len(json.dumps(status)) < 2 * NODE_OUTPUTS_LIMIT_BYTES


def test_transition_times_change_only_when_a_condition_changes() -> None:
    running = flowrun_status(_record(RunStatus.RUNNING), generation=1, pod_name=_pod, now=NOW)
    later = NOW + timedelta(minutes=5)
    done = flowrun_status(
        _record(RunStatus.SUCCEEDED), generation=1, pod_name=_pod, now=later, previous=running
    )
    times = {c["type"]: c["lastTransitionTime"] for c in done["conditions"]}
    assert times["Failed"] == "2026-11-24T12:00:00Z"  # stayed False
    assert times["Succeeded"] == "2026-11-24T12:05:00Z"


def test_invalid_flowrun_is_failed_without_nodes() -> None:
    status = invalid_status("unknown agent x", generation=2, now=NOW)
    assert status["phase"] == "Failed" and "nodes" not in status
    assert status["finishedAt"] == "2026-11-24T12:00:00Z"  # ttlSecondsAfterFinished counts from it
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "Invalid"


def test_all_outputs_together_stay_within_the_status_budget() -> None:
    each = {"v": "x" * (NODE_OUTPUTS_LIMIT_BYTES - 100)}
    count = 2 * STATUS_OUTPUTS_BUDGET_BYTES // NODE_OUTPUTS_LIMIT_BYTES
    nodes = {
        f"n[{i}]": NodeRecord(status=NodeStatus.SUCCEEDED, attempts=1, outputs=each)
        for i in range(count)
    }
    status = flowrun_status(
        _record(RunStatus.SUCCEEDED, **nodes), generation=1, pod_name=_pod, now=NOW
    )
    kept = [n for n in status["nodes"].values() if "outputs" in n]
    assert 0 < len(kept) < count
    assert all(n.get("outputsTruncated") for n in status["nodes"].values() if "outputs" not in n)
    assert len(json.dumps(status)) < STATUS_OUTPUTS_BUDGET_BYTES + 200 * count
