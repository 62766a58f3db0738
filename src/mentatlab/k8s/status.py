"""The vocabulary of MentatLab's custom resource statuses, and the limits that keep them small.

The CRD schemas (:mod:`mentatlab.k8s.crds`) allow exactly these values; the operator writes
them. A FlowRun's status lives in etcd with the object (at most 1.5 MiB per object), so node
outputs in ``status.nodes[*].outputs`` are capped: when the compact JSON of one node's outputs
exceeds :data:`NODE_OUTPUTS_LIMIT_BYTES` they are left out (``outputsTruncated: true``) and
read from the run's event log instead.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from mentatlab.model.kubernetes import PodGC  # FlowRun spec.podGC; shared with server runs

__all__ = [
    "MESSAGE_MAX_LENGTH",
    "NODE_OUTPUTS_LIMIT_BYTES",
    "ConditionType",
    "FlowRunPhase",
    "NodePhase",
    "PodGC",
]

NODE_OUTPUTS_LIMIT_BYTES: Final = 4 * 1024
MESSAGE_MAX_LENGTH: Final = 32768
"""Longest ``message`` of a run or node in a status, as for metav1.Condition messages
(the schema rejects longer ones)."""


class FlowRunPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class NodePhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    CANCELLED = "Cancelled"


class ConditionType(StrEnum):
    """Condition types MentatLab sets (``metav1.Condition``; other types are allowed)."""

    READY = "Ready"
    """Agent, Flow: the spec is valid. AgentDeployment: its replicas are available. FlowRun:
    the run has settled (finished, or was refused as invalid)."""
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
