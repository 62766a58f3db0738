"""Helpers for local driver tests: throwaway agents written as Python scripts into tmp_path."""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentatlab.engine.drivers.base import AttemptResult, AttemptSpec, ExecutionLimits
from mentatlab.engine.drivers.local import LocalProcessDriver
from mentatlab.model.protocol import AgentEvent, LogEvent

SAFETY_TIMEOUT = 20.0
"""Every test agent is stopped after this long, so a broken driver fails instead of hanging."""


@dataclass
class Run:
    result: AttemptResult
    events: list[AgentEvent] = field(default_factory=list)
    seconds: float = 0.0

    def logs(self, level: str) -> list[str]:
        return [e.message for e in self.events if isinstance(e, LogEvent) and e.level == level]

    def of_type(self, kind: str) -> list[AgentEvent]:
        return [e for e in self.events if e.type == kind]


OnEvent = Callable[[AgentEvent, asyncio.Event], Awaitable[None]]


def make_spec(
    workdir: Path,
    source: str,
    *,
    command: tuple[str, ...] = ("python", "agent.py"),
    limits: ExecutionLimits | None = None,
    **fields: Any,
) -> AttemptSpec:
    """Write ``source`` (dedented) to ``workdir/agent.py`` and describe an attempt running it."""
    (workdir / "agent.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return AttemptSpec(
        run_id="run-1",
        node_id="node-a",
        attempt=1,
        agent_id="test.agent",
        agent_version="1.0.0",
        command=command,
        workdir=workdir,
        limits=limits or ExecutionLimits(timeout_seconds=SAFETY_TIMEOUT, kill_grace_seconds=1),
        **fields,
    )


def run_attempt(
    spec: AttemptSpec,
    *,
    on_event: OnEvent | None = None,
    keep_events: bool = True,
) -> Run:
    """Run one attempt in a fresh event loop; ``on_event`` may set the cancel event."""

    async def main() -> Run:
        events: list[AgentEvent] = []
        cancel = asyncio.Event()

        async def collect(event: AgentEvent) -> None:
            if keep_events:
                events.append(event)
            if on_event is not None:
                await on_event(event, cancel)

        started = time.monotonic()
        result = await LocalProcessDriver().run_attempt(spec, on_event=collect, cancel=cancel)
        return Run(result, events, time.monotonic() - started)

    return asyncio.run(main())


def process_gone(pid: int, within: float = 3.0) -> bool:
    """Whether ``pid`` is dead (a zombie waiting for init to reap it counts as dead)."""
    deadline = time.monotonic() + within
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in {"Z", "X"}:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def in_process_table(pid: int) -> bool:
    """Whether ``pid`` still has an entry (running, or a zombie nobody reaped)."""
    return Path(f"/proc/{pid}").exists()
