"""How long the Kubernetes driver waits for the cluster: every wait is bounded."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Timeouts"]


@dataclass(frozen=True, kw_only=True)
class Timeouts:
    """How long the driver waits for the cluster; every wait is bounded."""

    request_seconds: float = 30.0
    """One API request."""
    watch_seconds: int = 60
    """One watch request; then the pod is read afresh."""
    api_outage_seconds: float = 120.0
    """API requests failing this long fail the attempt (``api_error``); its pod is deleted."""
    start_seconds: float = 900.0
    """A pod whose container has not started after this long fails (``start_failed``)."""
    unschedulable_seconds: float = 300.0
    """A pod the scheduler cannot place for this long fails (``unschedulable``)."""
    image_pull_seconds: float = 120.0
    """A pod whose image cannot be pulled for this long fails (``image_pull``)."""
    config_error_seconds: float = 60.0
    """A container that cannot be created (e.g. a missing Secret key) fails after this long."""
    log_retry_seconds: float = 10.0
    """How long to retry opening the log of a container that has just started."""
    drain_seconds: float = 10.0
    """After the pod ended: how long the rest of its log may take to arrive."""
    deletion_seconds: float = 30.0
    """Past the grace period: how long a deleted pod may take to disappear."""
