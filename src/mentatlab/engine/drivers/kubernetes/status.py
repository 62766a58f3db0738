"""Reading a pod's status: is the attempt still starting, running, or over, and why.

A pure function of one observed :class:`Pod`; the driver adds what takes time (grace periods)
and what only it knows (whether it deleted the pod itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from lightkube.models.core_v1 import ContainerStatus, PodCondition
from lightkube.resources.core_v1 import Pod

from mentatlab.engine.drivers.attempt import Stop
from mentatlab.engine.drivers.base import FailureReason
from mentatlab.engine.drivers.kubernetes.pods import AGENT_CONTAINER

__all__ = ["PodView", "Stage", "Stall", "view_pod"]

_IMAGE_PULL_WAITING = frozenset({"ErrImagePull", "ImagePullBackOff"})
_CONFIG_WAITING = frozenset({"CreateContainerConfigError", "CreateContainerError"})
_START_TERMINATED = frozenset({"StartError", "ContainerCannotRun"})


class Stage(Enum):
    PENDING = "pending"
    RUNNING = "running"
    ENDED = "ended"


@dataclass(frozen=True)
class Stall:
    """Why a pod is not starting. Fatal at once when ``immediate``, else after a grace period
    (image pulls and the scheduler may still succeed; a missing Secret may yet be created)."""

    reason: FailureReason
    message: str
    immediate: bool = False


@dataclass(frozen=True, kw_only=True)
class PodView:
    stage: Stage
    started: bool = False
    """The container has run, so its log can be read."""
    exit_code: int | None = None
    cause: Stop | None = None
    """For an ended pod: a cause that outranks the exit code (out of memory, eviction, ...)."""
    stall: Stall | None = None
    deleting: bool = False
    """Someone asked the API server to delete the pod."""
    disruption: str | None = None
    """Why Kubernetes is taking the pod away (condition ``DisruptionTarget``), if it is."""
    termination_message: str = ""


def view_pod(pod: Pod) -> PodView:
    status = pod.status
    metadata = pod.metadata
    deleting = metadata is not None and metadata.deletionTimestamp is not None
    if status is None:
        return PodView(stage=Stage.PENDING, deleting=deleting)
    disruption = _disruption(status.conditions or [])
    container = next((c for c in status.containerStatuses or [] if c.name == AGENT_CONTAINER), None)
    state = container.state if container is not None else None
    terminated = state.terminated if state is not None else None
    if status.phase in ("Succeeded", "Failed") or terminated is not None:
        return PodView(
            stage=Stage.ENDED,
            started=terminated is not None,
            exit_code=terminated.exitCode if terminated is not None else 0,
            cause=_end_cause(status.phase, status.reason, status.message, container),
            termination_message=(terminated.message or "") if terminated is not None else "",
            deleting=deleting,
            disruption=disruption,
        )
    if state is not None and state.running is not None:
        return PodView(stage=Stage.RUNNING, started=True, deleting=deleting, disruption=disruption)
    return PodView(
        stage=Stage.PENDING,
        stall=_stall(status.conditions or [], container),
        deleting=deleting,
        disruption=disruption,
    )


def _end_cause(
    phase: str | None, reason: str | None, message: str | None, container: ContainerStatus | None
) -> Stop | None:
    if reason == "Evicted":
        return Stop(
            FailureReason.EVICTED, f"evicted by the kubelet: {message or 'no reason given'}"
        )
    if reason == "DeadlineExceeded":
        return Stop(
            FailureReason.TIMEOUT,
            "timed out: the pod ran longer than its activeDeadlineSeconds"
            + (f" ({message})" if message else ""),
        )
    state = container.state if container is not None else None
    terminated = state.terminated if state is not None else None
    if terminated is not None and terminated.reason == "OOMKilled":
        return Stop(
            FailureReason.OOM_KILLED,
            f"killed for running out of memory (OOMKilled, exit code {terminated.exitCode}): "
            "the container used more than its memory limit",
        )
    if terminated is not None and terminated.reason in _START_TERMINATED:
        return Stop(
            FailureReason.START_FAILED,
            f"the container could not start ({terminated.reason}: {terminated.message or ''}); "
            "agent images need /bin/sh and the agent's command",
        )
    if phase == "Failed" and terminated is None:
        # Rejected by the kubelet before the container ran (OutOfcpu, NodeAffinity, ...).
        return Stop(
            FailureReason.START_FAILED,
            f"the pod failed before its container ran: {reason or 'Failed'}"
            + (f": {message}" if message else ""),
        )
    return None


def _stall(conditions: list[PodCondition], container: ContainerStatus | None) -> Stall | None:
    state = container.state if container is not None else None
    waiting = state.waiting if state is not None else None
    if waiting is not None and waiting.reason is not None:
        detail = f"{waiting.reason}: {waiting.message}" if waiting.message else waiting.reason
        if waiting.reason == "InvalidImageName":
            return Stall(FailureReason.IMAGE_PULL, f"invalid image name ({detail})", immediate=True)
        if waiting.reason in _IMAGE_PULL_WAITING:
            return Stall(FailureReason.IMAGE_PULL, f"cannot pull the agent's image ({detail})")
        if waiting.reason in _CONFIG_WAITING:
            return Stall(FailureReason.START_FAILED, f"cannot create the container ({detail})")
    scheduled = next((c for c in conditions if c.type == "PodScheduled"), None)
    if (
        scheduled is not None
        and scheduled.status == "False"
        and scheduled.reason == "Unschedulable"
    ):
        return Stall(
            FailureReason.UNSCHEDULABLE,
            f"no node can run the pod: {scheduled.message or 'Unschedulable'}",
        )
    return None


def _disruption(conditions: list[PodCondition]) -> str | None:
    target = next((c for c in conditions if c.type == "DisruptionTarget"), None)
    if target is None or target.status != "True":
        return None
    return f"{target.reason or 'DisruptionTarget'}: {target.message or ''}".rstrip(": ")
