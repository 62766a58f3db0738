from __future__ import annotations

from typing import Any

from mentatlab.engine.limits import DEFAULT_HEARTBEAT_TIMEOUT_SECONDS, execution_limits
from mentatlab.model.manifest import AgentManifest


def _manifest(**extra: Any) -> AgentManifest:
    return AgentManifest.model_validate(
        {"id": "t.a", "version": "1.0.0", "description": "d", "command": ["x"], **extra}
    )


def test_no_resources_means_no_limits() -> None:
    limits = execution_limits(_manifest())
    assert (limits.timeout_seconds, limits.memory_bytes, limits.cpu_seconds) == (None, None, None)
    assert limits.heartbeat_timeout_seconds is None


def test_memory_and_cpu_time_follow_limits_and_timeout() -> None:
    manifest = _manifest(
        resources={"limits": {"cpu": "500m", "memory": "128Mi"}, "timeoutSeconds": 9}
    )
    limits = execution_limits(manifest, kill_grace_seconds=2)
    assert limits.memory_bytes == 128 * 2**20
    assert limits.cpu_seconds == 5  # ceil(9 s x 0.5 cores)
    assert limits.timeout_seconds == 9
    assert limits.kill_grace_seconds == 2


def test_a_node_timeout_overrides_the_manifest() -> None:
    manifest = _manifest(resources={"limits": {"cpu": "2"}, "timeoutSeconds": 100})
    limits = execution_limits(manifest, timeout_seconds=3)
    assert (limits.timeout_seconds, limits.cpu_seconds) == (3, 6)


def test_heartbeat_timeout_only_for_agents_that_heartbeat() -> None:
    beating = _manifest(capabilities={"supports_heartbeat": True})
    assert execution_limits(beating).heartbeat_timeout_seconds == DEFAULT_HEARTBEAT_TIMEOUT_SECONDS
    tuned = _manifest(
        capabilities={"supports_heartbeat": True}, resources={"heartbeatTimeoutSeconds": 4}
    )
    assert execution_limits(tuned).heartbeat_timeout_seconds == 4
