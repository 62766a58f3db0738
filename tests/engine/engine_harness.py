"""Engine tests drive the scheduler through a scripted driver, the way an HTTP client is
tested with a swapped transport: the scheduler is the thing under test, and the driver
interface is its only contact with the outside. End-to-end tests with real agent
processes live in tests/integration/."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mentatlab.engine.drivers.base import (
    AttemptOutcome,
    AttemptResult,
    AttemptSpec,
    EventCallback,
    FailureReason,
)
from mentatlab.engine.events import ListSink
from mentatlab.engine.plan import AgentBinding, FlowPlan
from mentatlab.engine.scheduler import FlowEngine, PriorNode, RunOutcome
from mentatlab.model.flow import Flow
from mentatlab.model.manifest import AgentManifest

Behaviour = Callable[[AttemptSpec, EventCallback, asyncio.Event], Awaitable[AttemptResult]]


@dataclass
class ScriptedDriver:
    """Runs a Python coroutine per agent id instead of a process; records every attempt."""

    behaviours: dict[str, Behaviour]
    resolves_env_references: bool = False
    default_parallelism: int = 4
    attempts: list[AttemptSpec] = field(default_factory=list)
    running: int = 0
    peak_running: int = 0

    async def run_attempt(
        self, spec: AttemptSpec, *, on_event: EventCallback, cancel: asyncio.Event
    ) -> AttemptResult:
        self.attempts.append(spec)
        self.running += 1
        self.peak_running = max(self.peak_running, self.running)
        try:
            return await self.behaviours[spec.agent_id](spec, on_event, cancel)
        finally:
            self.running -= 1


def succeed(outputs: Callable[[AttemptSpec], Mapping[str, Any]], delay: float = 0.0) -> Behaviour:
    async def behaviour(
        spec: AttemptSpec, on_event: EventCallback, cancel: asyncio.Event
    ) -> AttemptResult:
        if delay:
            try:
                await asyncio.wait_for(cancel.wait(), timeout=delay)
                return AttemptResult(
                    outcome=AttemptOutcome.CANCELLED, reason=FailureReason.CANCELLED
                )
            except TimeoutError:
                pass
        return AttemptResult(outcome=AttemptOutcome.SUCCEEDED, outputs=outputs(spec))

    return behaviour


def manifest(
    agent_id: str, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]], **extra: Any
) -> AgentManifest:
    return AgentManifest.model_validate(
        {
            "id": agent_id,
            "version": "1.0.0",
            "description": "test agent",
            "command": ["python", "main.py"],
            "inputs": inputs,
            "outputs": outputs,
            **extra,
        }
    )


def flow(
    nodes: list[dict[str, Any]],
    edges: list[tuple[str, str]] = (),  # type: ignore[assignment]
    **run_config: Any,
) -> Flow:
    return Flow.model_validate(
        {
            "apiVersion": "mentatlab.io/v1",
            "kind": "Flow",
            "meta": {"id": "test", "name": "test"},
            "graph": {"nodes": nodes, "edges": [{"from": a, "to": b} for a, b in edges]},
            "runConfig": run_config,
        }
    )


TEXT_AGENT = manifest(
    "t.upper",
    inputs=[{"name": "text", "type": "json", "required": False}],
    outputs=[{"name": "result", "type": "string"}],
)


def upper(spec: AttemptSpec) -> dict[str, Any]:
    text = spec.inputs.get("text", "")
    return {
        "result": (text if isinstance(text, str) else repr(text)).upper()
        + spec.params.get("suffix", "")
    }


@dataclass
class Harness:
    driver: Any  # a ScriptedDriver, or a real driver where a test needs one
    manifests: dict[str, AgentManifest]
    sink: ListSink = field(default_factory=ListSink)

    def run(
        self,
        the_flow: Flow,
        inputs: Mapping[str, Any] | None = None,
        max_parallel: int | None = None,
        cancel_after: float | None = None,
        prior: Mapping[str, PriorNode] | None = None,
    ) -> RunOutcome:
        agents = {
            node.id: AgentBinding(self.manifests[node.type], Path())
            for node in the_flow.graph.nodes
            if not node.is_builtin and node.outputs is None
        }
        plan = FlowPlan(the_flow, agents)
        engine = FlowEngine(self.driver, max_parallel=max_parallel)

        async def main() -> RunOutcome:
            cancel = asyncio.Event()
            if cancel_after is not None:
                asyncio.get_running_loop().call_later(cancel_after, cancel.set)
            return await engine.execute(
                plan, run_id="r1", inputs=inputs or {}, sink=self.sink, cancel=cancel, prior=prior
            )

        return asyncio.run(main())

    def final_status(self, node: str) -> str:
        statuses = [
            e.data["status"] for e in self.sink.events if e.type == "node.status" and e.node == node
        ]
        return statuses[-1]


@pytest.fixture
def harness() -> Harness:
    """A harness whose only agent is ``t.upper``; tests add manifests and behaviours."""
    return Harness(ScriptedDriver({"t.upper": succeed(upper)}), {"t.upper": TEXT_AGENT})
