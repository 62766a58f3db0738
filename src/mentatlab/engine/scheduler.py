"""The flow engine: runs a :class:`FlowPlan` as a DAG, through any :class:`Driver`.

Ready nodes start in parallel (bounded by ``max_parallel`` and each agent's
``maxConcurrent``); outputs travel along edges; conditionals skip the branches they do not
select; for_each runs its body once per item in a child *frame* whose node instances are
named ``NODE[i]``. The first failure halts the run: running nodes finish, nothing new
starts, and what never started is marked ``skipped`` (``cancelled`` when the run was
cancelled).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from mentatlab.engine.attempts import AgentLimits, AgentNodeRunner, NodeResult, Slots
from mentatlab.engine.builtins import BuiltinError, collection_items, iteration_result, route
from mentatlab.engine.drivers.base import Driver
from mentatlab.engine.events import EngineEvent, EventSink
from mentatlab.engine.expressions import ExpressionError, evaluate
from mentatlab.engine.identity import IdentityIssuer, LiveAttempts
from mentatlab.engine.plan import FlowPlan
from mentatlab.engine.secrets import RunSecrets
from mentatlab.engine.values import substitute, type_error
from mentatlab.model.run import (
    TERMINAL_NODE_STATUSES,
    EventType,
    NodeError,
    NodeStatus,
    RunStatus,
)

__all__ = ["FlowEngine", "PriorNode", "RunOutcome"]

_NO_ITEM: Final = object()


@dataclass(frozen=True)
class RunOutcome:
    status: RunStatus
    outputs: dict[str, dict[str, Any]]
    error: NodeError | None


@dataclass(frozen=True)
class PriorNode:
    """What a node instance had reached before the run was interrupted (see ``resume``)."""

    status: NodeStatus
    attempts: int = 0
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: NodeError | None = None
    checkpoint: Any = None


@dataclass(frozen=True)
class _Frame:
    """One activation of a scope: the top level, or one iteration of a for_each."""

    scope: str | None
    suffix: str = ""
    variables: Mapping[str, Any] = field(default_factory=dict)
    item: Any = _NO_ITEM
    parent: _Frame | None = None


@dataclass
class _NodeState:
    status: NodeStatus = NodeStatus.PENDING
    outputs: dict[str, Any] = field(default_factory=dict)
    selected: tuple[str, ...] = ()
    error: NodeError | None = None


class FlowEngine:
    def __init__(
        self,
        driver: Driver,
        *,
        max_parallel: int | None = None,
        kill_grace_seconds: float = 5.0,
        rng: random.Random | None = None,
        agent_limits: AgentLimits | None = None,
        identities: IdentityIssuer | None = None,
        live: LiveAttempts | None = None,
    ) -> None:
        """``max_parallel`` is the run's own bound on agents at once: it wins over the flow's
        ``runConfig.maxParallel``, and without either the driver's ``default_parallelism``
        applies. ``agent_limits`` shares agents' ``maxConcurrent`` bounds with other engines;
        ``identities`` and ``live`` let attempts report over HTTP (see
        :mod:`mentatlab.engine.identity`)."""
        self._driver = driver
        self._agent_limits = agent_limits
        self._identities = identities
        self._live = live
        self._max_parallel = max_parallel
        self._kill_grace_seconds = kill_grace_seconds
        self._rng = rng or random.Random()  # noqa: S311 - retry jitter, not cryptography

    async def execute(
        self,
        plan: FlowPlan,
        *,
        run_id: str,
        inputs: Mapping[str, Any],
        sink: EventSink,
        cancel: asyncio.Event,
        prior: Mapping[str, PriorNode] | None = None,
        secrets: RunSecrets | None = None,
    ) -> RunOutcome:
        """Run the flow to a final status. ``inputs`` maps ``NODE.PIN`` to a value.

        ``prior`` resumes a run whose engine stopped (an operator restart): finished node
        instances keep their result without running or reporting again, and an agent node
        that was running continues at the attempt it had reached, which the driver
        re-attaches to. ``secrets`` are the run's resolved secrets: given to the agents that
        may receive them, redacted from everything every agent reports.
        """
        # The run's own bound, else its flow's, else what suits the driver's machines.
        max_parallel = (
            self._max_parallel
            or plan.flow.run_config.max_parallel
            or self._driver.default_parallelism
        )
        execution = _Execution(
            plan=plan,
            run_id=run_id,
            run_inputs=dict(inputs),
            sink=sink,
            cancel=cancel,
            max_parallel=max_parallel,
            prior=dict(prior) if prior is not None else None,
            agents=AgentNodeRunner(
                driver=self._driver,
                sink=sink,
                cancel=cancel,
                slots=Slots(max_parallel, self._agent_limits),
                kill_grace_seconds=self._kill_grace_seconds,
                rng=self._rng,
                secrets=secrets or RunSecrets(),
                identities=self._identities,
                live=self._live,
            ),
        )
        return await execution.run()


@dataclass
class _Execution:
    plan: FlowPlan
    run_id: str
    run_inputs: dict[str, Any]
    sink: EventSink
    cancel: asyncio.Event
    max_parallel: int
    prior: dict[str, PriorNode] | None
    """None for a new run; the node states reached so far for a resumed one."""
    agents: AgentNodeRunner
    states: dict[str, _NodeState] = field(default_factory=dict)
    failure: NodeError | None = None

    @property
    def halted(self) -> bool:
        return self.failure is not None or self.cancel.is_set()

    def _finished_before(self, instance: str) -> PriorNode | None:
        prior = (self.prior or {}).get(instance)
        return prior if prior is not None and prior.status in TERMINAL_NODE_STATUSES else None

    async def run(self) -> RunOutcome:
        if self.prior is None:
            await self._emit(EventType.RUN_STATUS, None, None, {"status": RunStatus.RUNNING.value})
        await self._run_scope(_Frame(scope=None))
        outputs = {
            node_id: self.states[node_id].outputs
            for node_id in self.plan.members(None)
            if self.plan.is_terminal(node_id)
            and self.states[node_id].status is NodeStatus.SUCCEEDED
        }
        if self.cancel.is_set():
            status = RunStatus.CANCELLED
            error: NodeError | None = NodeError(reason="cancelled", message="the run was cancelled")
        elif self.failure is not None:
            status, error = RunStatus.FAILED, self.failure
        else:
            status, error = RunStatus.SUCCEEDED, None
        data: dict[str, Any] = {"status": status.value, "outputs": outputs}
        if error is not None:
            data["error"] = error.model_dump(exclude_none=True)
        await self._emit(EventType.RUN_STATUS, None, None, data)
        return RunOutcome(status=status, outputs=outputs, error=error)

    # --- scheduling ---------------------------------------------------------------

    async def _run_scope(self, frame: _Frame) -> None:
        pending = self.plan.members(frame.scope)
        running: dict[asyncio.Task[None], str] = {}
        try:
            await self._schedule(frame, pending, running)
        finally:
            # The engine's own task was cancelled (an operator stopping) or failed: its node
            # tasks go with it instead of running on unsupervised.
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        left_status = NodeStatus.CANCELLED if self.cancel.is_set() else NodeStatus.SKIPPED
        reason = "the run was cancelled" if self.cancel.is_set() else "an earlier node failed"
        for node_id in pending:
            await self._finish(node_id, frame, NodeResult(left_status), reason)

    async def _schedule(
        self, frame: _Frame, pending: list[str], running: dict[asyncio.Task[None], str]
    ) -> None:
        """Start nodes as their dependencies finish, until nothing runs or can start."""
        while True:
            progressed = True
            while progressed and not self.halted:
                progressed = False
                for node_id in list(pending):
                    deps = self.plan.dependencies(node_id)
                    if not all(
                        self._state(dep, frame).status in TERMINAL_NODE_STATUSES for dep in deps
                    ):
                        continue
                    pending.remove(node_id)
                    progressed = True
                    skip = self._skip_reason(node_id, frame)
                    if skip is not None:
                        await self._finish(node_id, frame, NodeResult(NodeStatus.SKIPPED), skip)
                    else:
                        task = asyncio.create_task(self._run_node(node_id, frame))
                        running[task] = node_id
            if not running:
                return
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                del running[task]
                task.result()  # a bug in the engine itself must surface, not hang the run

    def _skip_reason(self, node_id: str, frame: _Frame) -> str | None:
        conditional = self.plan.routed_by.get(node_id)
        if conditional is not None:
            decision = self._state(conditional, frame)
            if decision.status is not NodeStatus.SUCCEEDED or node_id not in decision.selected:
                return f"not selected by conditional {conditional!r}"
        sources = {edge.source.node for edge in self.plan.incoming[node_id]}
        if sources and all(
            self._state(source, frame).status is NodeStatus.SKIPPED for source in sources
        ):
            return "every upstream node was skipped"
        return None

    def _instance(self, node_id: str, frame: _Frame) -> str:
        """Name of ``node_id``'s instance as seen from ``frame`` (same or enclosing scope)."""
        scope = self.plan.scope_of(node_id)
        current: _Frame | None = frame
        while current is not None and current.scope != scope:
            current = current.parent
        return node_id + (current.suffix if current is not None else "")

    def _state(self, node_id: str, frame: _Frame) -> _NodeState:
        return self.states.setdefault(self._instance(node_id, frame), _NodeState())

    async def _finish(
        self, node_id: str, frame: _Frame, result: NodeResult, note: str | None = None
    ) -> None:
        instance = self._instance(node_id, frame)
        state = self._state(node_id, frame)
        state.status, state.outputs, state.error = result.status, result.outputs, result.error
        data: dict[str, Any] = {"status": result.status.value}
        if result.status is NodeStatus.SUCCEEDED:
            data["outputs"] = result.outputs
        if result.error is not None:
            data["error"] = result.error.model_dump(exclude_none=True)
            if result.status is NodeStatus.FAILED and self.failure is None:
                self.failure = result.error
        if note is not None:
            data["reason"] = note
        await self._emit(EventType.NODE_STATUS, instance, result.attempts or None, data)
        if self.plan.nodes[node_id].for_each is not None:
            await self._settle_body_templates(node_id, frame, result.status)

    async def _settle_body_templates(self, loop_id: str, frame: _Frame, status: NodeStatus) -> None:
        """Body nodes run as ``NODE[i]`` instances; the template ``NODE`` follows its loop."""
        for body_id in self.plan.members(loop_id):
            template = body_id + frame.suffix
            self.states.setdefault(template, _NodeState()).status = status
            await self._emit(
                EventType.NODE_STATUS,
                template,
                None,
                {"status": status.value, "reason": f"runs once per item of {loop_id!r}"},
            )

    # --- nodes --------------------------------------------------------------------

    async def _run_node(self, node_id: str, frame: _Frame) -> None:
        node = self.plan.nodes[node_id]
        instance = self._instance(node_id, frame)
        done = self._finished_before(instance)
        if done is not None and node.conditional is None:
            # Conditionals run again (quietly) instead: their routing decision is not stored.
            error = done.error
            if done.status is NodeStatus.FAILED and error is None:
                error = NodeError(
                    node=instance,
                    reason="internal",
                    message=f"node {instance!r} had failed before the run resumed",
                )
            restored = NodeResult(done.status, dict(done.outputs), done.attempts, error)
            await self._finish(node_id, frame, restored)
            return
        if node.type == "ui.prompt" or node.outputs is not None:
            # Constant outputs are the node's result (a pinned agent is not started); run
            # inputs addressed to a prompt's pins (-i prompt.text=...) replace its constants.
            outputs = dict(node.outputs or {})
            if node.type == "ui.prompt":
                prefix = f"{node_id}."
                outputs |= {
                    k.removeprefix(prefix): v
                    for k, v in self.run_inputs.items()
                    if k.startswith(prefix)
                }
            await self._finish(node_id, frame, NodeResult(NodeStatus.SUCCEEDED, outputs))
            return
        inputs, problem = self._collect_inputs(node_id, frame)
        if problem is not None:
            error = NodeError(node=instance, reason="input_error", message=problem, retryable=False)
            await self._finish(node_id, frame, NodeResult(NodeStatus.FAILED, error=error))
            return
        params = substitute(node.params, self._variables(frame))
        try:
            result = await self._dispatch(node_id, frame, instance, inputs, params)
        except (ExpressionError, BuiltinError) as exc:
            error = NodeError(
                node=instance, reason="input_error", message=f"{instance}: {exc}", retryable=False
            )
            result = NodeResult(NodeStatus.FAILED, error=error)
        await self._finish(node_id, frame, result)

    async def _dispatch(
        self,
        node_id: str,
        frame: _Frame,
        instance: str,
        inputs: dict[str, Any],
        params: dict[str, Any],
    ) -> NodeResult:
        node = self.plan.nodes[node_id]
        if node.type == "ui.console":
            await self._emit(
                EventType.LOG,
                instance,
                None,
                {"level": "info", "message": "console", "values": inputs},
            )
            return NodeResult(NodeStatus.SUCCEEDED, inputs)
        if (conditional := node.conditional) is not None:
            await self._emit(EventType.NODE_STATUS, instance, None, {"status": "running"})
            value = evaluate(
                conditional.expression, inputs=self._visible_outputs(frame), params=params
            )
            targets, why = route(conditional, value)
            self._state(node_id, frame).selected = targets
            await self._emit(
                EventType.LOG,
                instance,
                None,
                {"level": "info", "message": f"routes to {list(targets)} via {why}"},
            )
            return NodeResult(NodeStatus.SUCCEEDED, {"output": inputs.get("input")})
        if node.for_each is not None:
            return await self._run_loop(node_id, frame, instance, params)
        prior = (self.prior or {}).get(instance)
        return await self.agents.run(
            run_id=self.run_id,
            instance=instance,
            node=node,
            binding=self.plan.agents[node_id],
            inputs=inputs,
            params=params,
            first_attempt=_resumed_attempt(prior),
            resume=prior.checkpoint if prior is not None else None,
        )

    async def _run_loop(
        self, loop_id: str, frame: _Frame, instance: str, params: dict[str, Any]
    ) -> NodeResult:
        config = self.plan.nodes[loop_id].for_each
        if config is None:
            raise TypeError(f"{loop_id!r} is not a for_each node")
        await self._emit(EventType.NODE_STATUS, instance, None, {"status": "running"})
        collection = evaluate(config.collection, inputs=self._visible_outputs(frame), params=params)
        items = collection_items(collection)
        gate = asyncio.Semaphore(config.max_parallel or self.max_parallel)
        frames = [
            _Frame(
                scope=loop_id,
                suffix=f"{frame.suffix}[{index}]",
                parent=frame,
                item=item,
                variables={config.item_var: item, config.index_var: index},
            )
            for index, item in enumerate(items)
        ]

        async def iterate(child: _Frame) -> None:
            async with gate:
                if not self.halted:
                    await self._run_scope(child)

        await asyncio.gather(*(iterate(child) for child in frames))
        exits = [
            n
            for n in self.plan.members(loop_id)
            if not any(self.plan.scope_of(e.target.node) == loop_id for e in self.plan.outgoing[n])
        ]
        results = []
        for index, child in enumerate(frames):
            states = {n: self._state(n, child) for n in exits}
            failed = next(
                (
                    s
                    for s in states.values()
                    if s.status is not NodeStatus.SUCCEEDED and s.status is not NodeStatus.SKIPPED
                ),
                None,
            )
            if failed is not None:
                cause = failed.error.message if failed.error else failed.status.value
                return NodeResult(
                    NodeStatus.CANCELLED if self.cancel.is_set() else NodeStatus.FAILED,
                    error=NodeError(
                        node=instance,
                        reason="upstream_failed",
                        message=f"{instance} item {index}: {cause}",
                    ),
                )
            results.append(
                iteration_result(
                    {
                        n: (s.outputs if s.status is NodeStatus.SUCCEEDED else None)
                        for n, s in states.items()
                    }
                )
            )
        return NodeResult(NodeStatus.SUCCEEDED, {"output": results})

    # --- data -----------------------------------------------------------------------

    def _variables(self, frame: _Frame) -> dict[str, Any]:
        chain: list[_Frame] = []
        current: _Frame | None = frame
        while current is not None:
            chain.append(current)
            current = current.parent
        merged: dict[str, Any] = {}
        for item in reversed(chain):
            merged.update(item.variables)
        return merged

    def _visible_outputs(self, frame: _Frame) -> dict[str, dict[str, Any]]:
        """Outputs of every finished node visible from ``frame``, by node id."""
        visible = {}
        for node_id in self.plan.nodes:
            state = self.states.get(self._instance(node_id, frame))
            if state is not None and state.status is NodeStatus.SUCCEEDED:
                visible[node_id] = state.outputs
        return visible

    def _collect_inputs(self, node_id: str, frame: _Frame) -> tuple[dict[str, Any], str | None]:
        node = self.plan.nodes[node_id]
        instance = self._instance(node_id, frame)
        is_entry = frame.item is not _NO_ITEM and not any(
            self.plan.scope_of(edge.source.node) == frame.scope
            for edge in self.plan.incoming[node_id]
        )
        inputs: dict[str, Any] = {}
        for pin in self.plan.input_pins(node_id):
            edges = [e for e in self.plan.incoming[node_id] if e.target.pin == pin.name]
            key = f"{node_id}.{pin.name}"
            if edges:
                values = [
                    state.outputs[edge.source.pin]
                    for edge in edges
                    if (state := self._state(edge.source.node, frame)).status
                    is NodeStatus.SUCCEEDED
                    and edge.source.pin in state.outputs
                ]
                if values:
                    inputs[pin.name] = values if len(edges) > 1 else values[0]
            elif key in self.run_inputs:
                inputs[pin.name] = self.run_inputs[key]
            elif pin.name in node.inputs:
                inputs[pin.name] = node.inputs[pin.name]
            elif is_entry:
                inputs[pin.name] = frame.item
            elif "default" in pin.model_fields_set:
                inputs[pin.name] = pin.default
            if pin.name not in inputs:
                if pin.is_required:
                    sources = ", ".join(str(e.source) for e in edges)
                    why = (
                        f"its source {sources} produced no value"
                        if edges
                        else "nothing is connected or given"
                    )
                    return (
                        inputs,
                        f"{instance}: required input pin {pin.name!r} has no value: {why}",
                    )
                continue
            problem = type_error(pin.type, inputs[pin.name])
            if problem is not None:
                return inputs, f"{instance}: input pin {pin.name!r}: {problem}"
        return inputs, None

    async def _emit(
        self, event_type: EventType, node: str | None, attempt: int | None, data: dict[str, Any]
    ) -> None:
        if node is not None and self._finished_before(node) is not None:
            return  # reported before the run was resumed: never report it twice
        await self.sink(EngineEvent(event_type, node, attempt, data))


def _resumed_attempt(prior: PriorNode | None) -> int:
    """The attempt to continue with: a running one again, else the one after the last."""
    if prior is None or prior.attempts == 0:
        return 1
    return prior.attempts if prior.status is NodeStatus.RUNNING else prior.attempts + 1
