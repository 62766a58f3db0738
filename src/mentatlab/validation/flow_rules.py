"""Semantic rules for flows: references, pins, types, fan-in, cycles and required inputs."""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field

from mentatlab.model.flow import ConditionalConfig, Flow, Node, PinRef
from mentatlab.model.manifest import PinType
from mentatlab.validation.catalog import AgentCatalog, AgentResolutionError
from mentatlab.validation.cycles import find_cycles
from mentatlab.validation.document import child_path
from mentatlab.validation.node_pins import NodePins, node_pins, pins_compatible
from mentatlab.validation.reporter import Reporter

__all__ = ["check_flow"]

_MAX_LISTED = 10


@dataclass
class _Check:
    flow: Flow
    catalog: AgentCatalog
    report: Reporter
    # Run inputs by node id: the pin names given.
    given: dict[str, set[str]]
    index: dict[str, int] = field(default_factory=dict)  # node id -> first declaration
    # Pins of each node whose pins are known (built-ins, agent nodes whose agent resolved).
    pins: dict[str, NodePins] = field(default_factory=dict)

    def node_path(self, node_id: str) -> str:
        return f"$.graph.nodes[{self.index[node_id]}]"


def check_flow(
    flow: Flow, catalog: AgentCatalog, report: Reporter, run_inputs: Collection[str]
) -> None:
    """Report every semantic problem of ``flow``.

    ``run_inputs`` are the ``NODE.PIN`` keys of the inputs the run will be given.
    """
    check = _Check(flow, catalog, report, _run_inputs(run_inputs, report))
    for position, node in enumerate(flow.graph.nodes):
        if node.id in check.index:
            message = f"node id {node.id!r} is already used by {check.node_path(node.id)}"
            report.add(f"$.graph.nodes[{position}].id", "flow.node-unique", message)
            continue
        check.index[node.id] = position
        _check_node(check, node)
    _check_edges(check)
    _check_control(check)
    _check_cycles(check)
    _check_run_inputs(check)
    _check_required_inputs(check)


def _run_inputs(keys: Collection[str], report: Reporter) -> dict[str, set[str]]:
    given: dict[str, set[str]] = defaultdict(set)
    for key in keys:
        try:
            ref = PinRef.parse(key)
        except ValueError:
            report.add("$", "flow.run-input", f"run input {key!r} is not of the form NODE.PIN")
            continue
        given[ref.node].add(ref.pin)
    return given


def _check_node(check: _Check, node: Node) -> None:
    path = check.node_path(node.id)
    agent = None
    if not node.is_builtin:
        try:
            agent = check.catalog.resolve(node.type)
        except AgentResolutionError as exc:
            check.report.add(f"{path}.type", "flow.agent-ref", str(exc))
            return
    pins = node_pins(node, agent, sorted(check.given.get(node.id, ())))
    check.pins[node.id] = pins
    for name in pins.undeclared_outputs:
        message = f"agent {node.type!r} declares no output {name!r}; the constant is typed json"
        where = child_path(f"{path}.outputs", name)
        check.report.add(where, "flow.pinned-output-undeclared", message)
    for name in node.inputs:
        if pins.input(name) is None:
            message = f"node {node.id!r} has no input pin {name!r}{_choices(pins.inputs, name)}"
            check.report.add(child_path(f"{path}.inputs", name), "flow.input-unknown", message)


def _check_edges(check: _Check) -> None:
    into: dict[tuple[str, str], list[int]] = defaultdict(list)
    for position, edge in enumerate(check.flow.graph.edges):
        path = f"$.graph.edges[{position}]"
        source, target = edge.source, edge.target
        for end, ref in (("from", source), ("to", target)):
            if ref.node not in check.index:
                message = f"{end} node {ref.node!r} does not exist{_choices(check.index, ref.node)}"
                check.report.add(f"{path}.{end}", "flow.edge-node", message)
        source_pins, target_pins = check.pins.get(source.node), check.pins.get(target.node)
        source_type = target_pin = None
        if source_pins is not None:
            source_type = source_pins.outputs.get(source.pin)
            if source_type is None:
                message = f"node {source.node!r} has no output pin {source.pin!r}"
                check.report.add(
                    f"{path}.from",
                    "flow.edge-pin",
                    message + _choices(source_pins.outputs, source.pin),
                )
        if target_pins is not None:
            target_pin = target_pins.input(target.pin)
            if target_pin is None:
                message = f"node {target.node!r} has no input pin {target.pin!r}"
                check.report.add(
                    f"{path}.to",
                    "flow.edge-pin",
                    message + _choices(target_pins.inputs, target.pin),
                )
            else:
                into[(target.node, target.pin)].append(position)
        if (
            source_type is not None
            and target_pin is not None
            and not pins_compatible(source_type, target_pin.type)
        ):
            message = (
                f"{source} ({source_type}) cannot feed {target} ({target_pin.type}); "
                "types must match, or one side must be json"
            )
            check.report.add(path, "flow.pin-type", message)
    for (node_id, pin), positions in into.items():
        pin_type = check.pins[node_id].input(pin)
        if len(positions) > 1 and pin_type is not None and pin_type.type is not PinType.JSON:
            message = (
                f"input {node_id}.{pin} ({pin_type.type}) has {len(positions)} incoming edges; "
                "only json inputs take several (they receive a list)"
            )
            check.report.add(f"$.graph.edges[{positions[1]}].to", "flow.fan-in", message)


def _check_control(check: _Check) -> None:
    for node in check.flow.graph.nodes:
        path = f"{check.node_path(node.id)}.params"
        if node.conditional is not None:
            rule, what = "flow.conditional-target", "conditional target"
            targets = list(_conditional_targets(node.conditional, f"{path}.conditional"))
        elif node.for_each is not None:
            rule, what = "flow.for-each-body", "for_each body node"
            body = node.for_each.body
            targets = [(f"{path}.for_each.body[{i}]", name) for i, name in enumerate(body)]
        else:
            continue
        for where, target in targets:
            if target == node.id:
                check.report.add(where, rule, f"{what} {target!r} is the node itself")
            elif target not in check.index:
                message = f"{what} {target!r} does not exist{_choices(check.index, target)}"
                check.report.add(where, rule, message)


def _conditional_targets(config: ConditionalConfig, path: str) -> Iterator[tuple[str, str]]:
    for name, branch in (config.branches or {}).items():
        branch_path = child_path(f"{path}.branches", name)
        yield from _indexed(f"{branch_path}.targets", branch.targets)
    if isinstance(config.default, str):
        yield f"{path}.default", config.default
    elif config.default is not None:
        suffix = "" if isinstance(config.default, tuple) else ".targets"
        yield from _indexed(f"{path}.default{suffix}", config.default_targets())
    for key, taken in (("then", config.then), ("else", config.else_)):
        if taken is not None:
            yield from _indexed(f"{path}.{key}.targets", taken.targets)


def _indexed(path: str, names: Iterable[str]) -> Iterator[tuple[str, str]]:
    return ((f"{path}[{index}]", name) for index, name in enumerate(names))


def _check_cycles(check: _Check) -> None:
    # Control edges count: a conditional must finish before its targets, a loop before its body.
    successors: dict[str, list[str]] = {node_id: [] for node_id in check.index}
    first_edge: dict[tuple[str, str], str] = {}
    for position, edge in enumerate(check.flow.graph.edges):
        source, target = edge.source.node, edge.target.node
        if source in check.index and target in check.index:
            successors[source].append(target)
            first_edge.setdefault((source, target), f"$.graph.edges[{position}]")
    for node in check.flow.graph.nodes:
        control = node.conditional.all_targets() if node.conditional is not None else ()
        control += node.for_each.body if node.for_each is not None else ()
        successors[node.id] += [name for name in control if name in check.index]
    for cycle in find_cycles(successors):
        where = first_edge.get((cycle[0], cycle[1]), check.node_path(cycle[0]))
        message = "the graph has a cycle: " + " → ".join(cycle)
        check.report.add(where, "flow.cycle", message)


def _check_run_inputs(check: _Check) -> None:
    for node_id, names in check.given.items():
        if node_id not in check.index:
            message = f"run input names node {node_id!r}, which does not exist"
            check.report.add("$", "flow.run-input", message + _choices(check.index, node_id))
            continue
        pins = check.pins.get(node_id)
        if pins is None:
            continue
        for name in sorted(names):
            if pins.input(name) is None and name not in pins.outputs:
                message = f"run input {node_id}.{name}: node {node_id!r} has no input pin {name!r}"
                check.report.add(
                    check.node_path(node_id),
                    "flow.run-input",
                    message + _choices(pins.inputs, name),
                )


def _loop_entries(flow: Flow) -> set[str]:
    """Body nodes no other node of their body feeds: their free input pins get the item."""
    entries: set[str] = set()
    for node in flow.graph.nodes:
        loop = node.for_each
        if loop is None:
            continue
        body = set(loop.body)
        fed = {e.target.node for e in flow.graph.edges if e.source.node in body}
        entries |= body - fed
    return entries


def _check_required_inputs(check: _Check) -> None:
    connected = {(edge.target.node, edge.target.pin) for edge in check.flow.graph.edges}
    entries = _loop_entries(check.flow)
    for node in check.flow.graph.nodes:
        pins = check.pins.get(node.id)
        if pins is None or node.is_builtin or node.outputs is not None or node.id in entries:
            continue  # pinned nodes are not started; loop entries receive the current item
        given = check.given.get(node.id, set())
        for name, pin in pins.inputs.items():
            satisfied = (node.id, name) in connected or name in node.inputs or name in given
            if pin.required and not satisfied:
                message = (
                    f"required input {node.id}.{name} is not connected or given; "
                    f"connect an edge, set inputs.{name}, or pass -i {node.id}.{name}=VALUE"
                )
                check.report.add(check.node_path(node.id), "flow.input-required", message)


def _choices(names: Iterable[str], wanted: str = "") -> str:
    """The names to choose from, or the closest ones when there are many."""
    names = list(names)
    if not names:
        return " (it has none)"
    if len(names) <= _MAX_LISTED:
        return f" (available: {', '.join(names)})"
    close = difflib.get_close_matches(wanted, names, n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""
