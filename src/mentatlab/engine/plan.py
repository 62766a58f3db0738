"""The executable shape of a flow: who depends on whom, which nodes loops own, what routes where.

A :class:`FlowPlan` is built once per run from a validated flow and the agents its nodes
reference. The scheduler only reads it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from mentatlab.model.flow import Edge, Flow, Node
from mentatlab.model.manifest import AgentManifest, Pin, PinType

__all__ = ["AgentBinding", "FlowPlan", "PlanError"]

_BUILTIN_PIN = Pin(name="input", type=PinType.JSON)


class PlanError(Exception):
    """The flow cannot be executed as written (validation reports these first)."""


@dataclass(frozen=True)
class AgentBinding:
    """An agent node's manifest and the Cog-Pak directory its process starts in."""

    manifest: AgentManifest
    directory: Path


@dataclass
class FlowPlan:
    flow: Flow
    agents: dict[str, AgentBinding]
    nodes: dict[str, Node] = field(init=False)
    incoming: dict[str, list[Edge]] = field(init=False)
    """Edges into each node, in declaration order (fan-in lists keep this order)."""
    outgoing: dict[str, list[Edge]] = field(init=False)
    owner_loop: dict[str, str] = field(init=False)
    """Body node -> the for_each node that runs it once per item."""
    routed_by: dict[str, str] = field(init=False)
    """Conditional target -> the conditional node that decides whether it runs."""

    def __post_init__(self) -> None:
        self.nodes = {node.id: node for node in self.flow.graph.nodes}
        if len(self.nodes) != len(self.flow.graph.nodes):
            raise PlanError("node ids are not unique")
        self.incoming = defaultdict(list)
        self.outgoing = defaultdict(list)
        for edge in self.flow.graph.edges:
            for end in (edge.source.node, edge.target.node):
                if end not in self.nodes:
                    raise PlanError(f"edge {edge.source} -> {edge.target}: no node {end!r}")
            self.incoming[edge.target.node].append(edge)
            self.outgoing[edge.source.node].append(edge)
        self.owner_loop = {}
        self.routed_by = {}
        for node in self.nodes.values():
            if (loop := node.for_each) is not None:
                for body_id in loop.body:
                    self._require(body_id, f"for_each {node.id!r} body")
                    self.owner_loop[body_id] = node.id
            if (conditional := node.conditional) is not None:
                for target in conditional.all_targets():
                    self._require(target, f"conditional {node.id!r} target")
                    self.routed_by[target] = node.id
        for node_id in self.agents:
            self._require(node_id, "agent binding")
        self._check_acyclic()

    def _require(self, node_id: str, what: str) -> None:
        if node_id not in self.nodes:
            raise PlanError(f"{what} {node_id!r} is not a node of the flow")

    def scope_of(self, node_id: str) -> str | None:
        """The loop whose iterations run this node, or None for the top level."""
        return self.owner_loop.get(node_id)

    def members(self, scope: str | None) -> list[str]:
        """Nodes run directly by a scope (top level when ``scope`` is None), in flow order."""
        return [node_id for node_id in self.nodes if self.owner_loop.get(node_id) == scope]

    def dependencies(self, node_id: str) -> set[str]:
        """Nodes in the same scope that must finish before ``node_id`` may start.

        Data edges count, and so does the conditional routing to it (a control edge). An
        edge from another scope is resolved by that scope: a loop waits for every outside
        node its body reads from.
        """
        scope = self.scope_of(node_id)
        deps = {edge.source.node for edge in self.incoming[node_id]}
        if node_id in self.routed_by:
            deps.add(self.routed_by[node_id])
        if self.nodes[node_id].for_each is not None:
            for body_id in self._body_closure(node_id):
                deps |= {edge.source.node for edge in self.incoming[body_id]}
        lifted = {self._lift(dep, scope) for dep in deps}
        return {dep for dep in lifted if dep is not None and dep != node_id}

    def _lift(self, node_id: str, scope: str | None) -> str | None:
        """The ancestor of ``node_id`` that lives in ``scope`` (itself, or the loop owning it)."""
        current: str | None = node_id
        while current is not None and self.owner_loop.get(current) != scope:
            current = self.owner_loop.get(current)
        return current

    def _body_closure(self, loop_id: str) -> set[str]:
        closure: set[str] = set()
        frontier = [n for n, owner in self.owner_loop.items() if owner == loop_id]
        while frontier:
            node_id = frontier.pop()
            closure.add(node_id)
            frontier += [n for n, owner in self.owner_loop.items() if owner == node_id]
        return closure

    def input_pins(self, node_id: str) -> list[Pin]:
        node = self.nodes[node_id]
        if node_id in self.agents:
            return list(self.agents[node_id].manifest.inputs)
        if node.type in ("conditional", "for_each"):
            return [_BUILTIN_PIN]
        names = dict.fromkeys(edge.target.pin for edge in self.incoming[node_id])
        return [Pin(name=name, type=PinType.JSON, required=False) for name in names]

    def is_terminal(self, node_id: str) -> bool:
        """A top-level node no edge leaves: its outputs are the run's outputs."""
        return not self.outgoing[node_id] and node_id not in self.owner_loop

    def _check_acyclic(self) -> None:
        order = self.topological_order(list(self.nodes), all_edges=True)
        if len(order) != len(self.nodes):
            raise PlanError("the flow has a cycle")

    def topological_order(self, node_ids: list[str], *, all_edges: bool = False) -> list[str]:
        """Kahn's algorithm over ``node_ids``; nodes on a cycle are left out."""
        members = set(node_ids)

        def deps_of(node_id: str) -> set[str]:
            if all_edges:
                raw = {edge.source.node for edge in self.incoming[node_id]}
                if node_id in self.routed_by:
                    raw.add(self.routed_by[node_id])
                return raw & members
            return self.dependencies(node_id) & members

        remaining = {node_id: deps_of(node_id) for node_id in node_ids}
        order: list[str] = []
        ready = [node_id for node_id in node_ids if not remaining[node_id]]
        while ready:
            node_id = ready.pop(0)
            order.append(node_id)
            for other in node_ids:
                if node_id in remaining[other]:
                    remaining[other].discard(node_id)
                    if not remaining[other] and other not in order and other not in ready:
                        ready.append(other)
        return order
