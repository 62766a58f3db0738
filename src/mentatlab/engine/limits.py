"""The limits one attempt of an agent runs under, derived from its manifest."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping

from mentatlab.engine.drivers.base import (
    DEFAULT_MAX_EVENTS,
    DEFAULT_MAX_PROCESSES,
    ExecutionLimits,
)
from mentatlab.model.manifest import AgentManifest
from mentatlab.validation.quantities import cpu_cores, memory_bytes

__all__ = [
    "DEFAULT_HEARTBEAT_TIMEOUT_SECONDS",
    "MAX_EVENTS_VARIABLE",
    "MAX_PROCESSES_VARIABLE",
    "execution_limits",
    "limit_from_environment",
]

logger = logging.getLogger(__name__)

MAX_PROCESSES_VARIABLE = "MENTATLAB_MAX_AGENT_PROCESSES"
"""Overrides the per-attempt process limit of the engine's process: a count, ``0`` for none."""
MAX_EVENTS_VARIABLE = "MENTATLAB_MAX_AGENT_EVENTS"
"""Overrides the per-attempt event limit of the engine's process: a count, ``0`` for none."""

DEFAULT_HEARTBEAT_TIMEOUT_SECONDS = 30.0
"""Longest silence tolerated from a heartbeat-capable agent that sets no timeout of its own."""


def execution_limits(
    manifest: AgentManifest,
    *,
    timeout_seconds: float | None = None,
    kill_grace_seconds: float = 5.0,
) -> ExecutionLimits:
    """Limits from ``resources``: ``timeout_seconds`` (e.g. a node's) overrides the manifest's.

    Memory is ``limits.memory``. CPU time is bounded too when both a timeout and
    ``limits.cpu`` are set: an agent allowed N cores for T seconds uses at most N*T
    CPU-seconds.
    """
    resources = manifest.resources
    timeout = timeout_seconds or resources.timeout_seconds
    limits = resources.limits
    cores = cpu_cores(limits.cpu) if limits is not None and limits.cpu else None
    memory = memory_bytes(limits.memory) if limits is not None and limits.memory else None
    heartbeat = None
    if manifest.capabilities.supports_heartbeat:
        heartbeat = resources.heartbeat_timeout_seconds or DEFAULT_HEARTBEAT_TIMEOUT_SECONDS
    return ExecutionLimits(
        timeout_seconds=timeout,
        heartbeat_timeout_seconds=heartbeat,
        memory_bytes=int(memory) if memory is not None else None,
        cpu_seconds=(
            max(1, math.ceil(timeout * float(cores)))
            if timeout is not None and cores is not None
            else None
        ),
        kill_grace_seconds=kill_grace_seconds,
        max_events=limit_from_environment(MAX_EVENTS_VARIABLE, DEFAULT_MAX_EVENTS),
        max_processes=limit_from_environment(MAX_PROCESSES_VARIABLE, DEFAULT_MAX_PROCESSES),
    )


def limit_from_environment(
    variable: str, default: int, environ: Mapping[str, str] | None = None
) -> int | None:
    """A count limit set by the operator in ``variable``: a whole number, ``0`` for no limit;
    ``default`` when unset (or, with a warning, not a whole number)."""
    text = (os.environ if environ is None else environ).get(variable, "").strip()
    if not text:
        return default
    if not text.isdigit():
        logger.warning("ignoring %s=%r (not a whole number): using %d", variable, text, default)
        return default
    return int(text) or None
