"""Reading pod statuses: shapes as the kubelet and the scheduler write them (no cluster)."""

from __future__ import annotations

from typing import Any

import pytest
from lightkube.resources.core_v1 import Pod

from mentatlab.engine.drivers.base import FailureReason
from mentatlab.engine.drivers.kubernetes.status import Stage, view_pod

T = "2025-01-01T00:00:00Z"


def pod(
    phase: str,
    *,
    state: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    deleting: bool = False,
    **status: Any,
) -> Pod:
    metadata: dict[str, Any] = {"name": "p", "namespace": "ns", "resourceVersion": "7"}
    if deleting:
        metadata["deletionTimestamp"] = T
        metadata["deletionGracePeriodSeconds"] = 5
    body: dict[str, Any] = {"phase": phase, **status}
    if conditions is not None:
        body["conditions"] = conditions
    if state is not None:
        body["containerStatuses"] = [
            {
                "name": "agent",
                "image": "ghcr.io/x/y:1",
                "imageID": "",
                "ready": "running" in state,
                "restartCount": 0,
                "state": state,
            }
        ]
    return Pod.from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "status": body})


def terminated(exit_code: int, reason: str = "Error", message: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": T,
        "finishedAt": T,
    }
    if message is not None:
        state["message"] = message
    return {"terminated": state}


def test_a_new_pod_is_pending_without_problems() -> None:
    view = view_pod(Pod.from_dict({"metadata": {"name": "p"}}))
    assert view.stage is Stage.PENDING
    assert view.stall is None
    assert not view.started


def test_container_creating_is_pending() -> None:
    view = view_pod(pod("Pending", state={"waiting": {"reason": "ContainerCreating"}}))
    assert view.stage is Stage.PENDING
    assert view.stall is None


def test_running() -> None:
    view = view_pod(pod("Running", state={"running": {"startedAt": T}}))
    assert view.stage is Stage.RUNNING
    assert view.started
    assert view.cause is None


def test_succeeded_is_exit_code_zero() -> None:
    view = view_pod(pod("Succeeded", state=terminated(0, "Completed")))
    assert view.stage is Stage.ENDED
    assert view.exit_code == 0
    assert view.cause is None
    assert view.started


def test_failed_reports_the_exit_code_and_termination_message() -> None:
    view = view_pod(pod("Failed", state=terminated(3, message="Traceback: boom")))
    assert view.stage is Stage.ENDED
    assert view.exit_code == 3
    assert view.cause is None
    assert view.termination_message == "Traceback: boom"


def test_a_terminated_container_ends_the_attempt_before_the_phase_catches_up() -> None:
    view = view_pod(pod("Running", state=terminated(1)))
    assert view.stage is Stage.ENDED
    assert view.exit_code == 1


def test_oom_killed() -> None:
    view = view_pod(pod("Failed", state=terminated(137, "OOMKilled")))
    assert view.cause is not None
    assert view.cause.reason is FailureReason.OOM_KILLED
    assert "memory" in view.cause.message
    assert view.exit_code == 137


def test_evicted() -> None:
    view = view_pod(
        pod(
            "Failed",
            reason="Evicted",
            message="The node was low on resource: memory.",
            state=terminated(137),
        )
    )
    assert view.cause is not None
    assert view.cause.reason is FailureReason.EVICTED
    assert "low on resource: memory" in view.cause.message


def test_deadline_exceeded_is_a_timeout() -> None:
    view = view_pod(
        pod(
            "Failed",
            reason="DeadlineExceeded",
            message="Pod was active on the node longer than the specified deadline",
            state=terminated(137),
        )
    )
    assert view.cause is not None
    assert view.cause.reason is FailureReason.TIMEOUT


def test_a_container_that_cannot_start_is_start_failed() -> None:
    message = 'exec: "/bin/sh": stat /bin/sh: no such file or directory'
    view = view_pod(pod("Failed", state=terminated(128, "StartError", message)))
    assert view.cause is not None
    assert view.cause.reason is FailureReason.START_FAILED
    assert "/bin/sh" in view.cause.message


def test_a_pod_rejected_by_the_kubelet_is_start_failed() -> None:
    view = view_pod(
        pod("Failed", reason="OutOfcpu", message="Node didn't have enough resource: cpu")
    )
    assert view.stage is Stage.ENDED
    assert not view.started
    assert view.cause is not None
    assert view.cause.reason is FailureReason.START_FAILED
    assert "OutOfcpu" in view.cause.message


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff"])
def test_image_pull_errors_stall_with_grace(reason: str) -> None:
    view = view_pod(
        pod(
            "Pending",
            state={"waiting": {"reason": reason, "message": 'pull access denied for "x/y"'}},
        )
    )
    assert view.stage is Stage.PENDING
    assert view.stall is not None
    assert view.stall.reason is FailureReason.IMAGE_PULL
    assert not view.stall.immediate
    assert "pull access denied" in view.stall.message


def test_an_invalid_image_name_fails_at_once() -> None:
    view = view_pod(
        pod("Pending", state={"waiting": {"reason": "InvalidImageName", "message": "bad"}})
    )
    assert view.stall is not None
    assert view.stall.reason is FailureReason.IMAGE_PULL
    assert view.stall.immediate


def test_a_missing_secret_key_stalls_as_start_failed() -> None:
    message = 'secret "llm" not found'
    view = view_pod(
        pod(
            "Pending",
            state={"waiting": {"reason": "CreateContainerConfigError", "message": message}},
        )
    )
    assert view.stall is not None
    assert view.stall.reason is FailureReason.START_FAILED
    assert message in view.stall.message


def test_unschedulable_carries_the_schedulers_message() -> None:
    message = "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
    view = view_pod(
        pod(
            "Pending",
            conditions=[
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                    "lastTransitionTime": T,
                }
            ],
        )
    )
    assert view.stall is not None
    assert view.stall.reason is FailureReason.UNSCHEDULABLE
    assert message in view.stall.message


def test_scheduled_pods_do_not_stall() -> None:
    view = view_pod(
        pod(
            "Pending",
            conditions=[{"type": "PodScheduled", "status": "True", "lastTransitionTime": T}],
        )
    )
    assert view.stall is None


def test_deletion_and_disruption_are_reported() -> None:
    view = view_pod(
        pod(
            "Running",
            state={"running": {"startedAt": T}},
            deleting=True,
            conditions=[
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "EvictionByEvictionAPI",
                    "message": "Eviction API: evicting",
                    "lastTransitionTime": T,
                }
            ],
        )
    )
    assert view.deleting
    assert view.disruption == "EvictionByEvictionAPI: Eviction API: evicting"
    plain = view_pod(pod("Running", state={"running": {"startedAt": T}}))
    assert not plain.deleting
    assert plain.disruption is None
