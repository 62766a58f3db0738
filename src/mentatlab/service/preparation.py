"""Turning a flow file and run inputs into an executable plan, or findings saying why not."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mentatlab.engine.plan import AgentBinding, FlowPlan, PlanError
from mentatlab.model.flow import Flow
from mentatlab.model.manifest import PinType
from mentatlab.model.policy import Policy
from mentatlab.validation import (
    AgentCatalog,
    AgentResolutionError,
    Finding,
    Mode,
    ResolvedAgent,
    agent_search_path,
    load_flow,
    validate_flow_data,
)
from mentatlab.validation.document import ROOT

__all__ = ["PreparedRun", "parse_input_text", "prepare_flow", "prepare_flow_data"]


@dataclass(frozen=True)
class PreparedRun:
    plan: FlowPlan
    document: dict[str, Any]
    inputs: dict[str, Any]
    findings: list[Finding]
    """Warnings found while preparing (errors prevent a PreparedRun)."""


def prepare_flow(
    flow_path: Path,
    *,
    agent_dirs: Sequence[Path] = (),
    inputs: Mapping[str, Any] | None = None,
    text_inputs: Mapping[str, str] | None = None,
    mode: Mode = Mode.STRICT,
    policy: Policy | None = None,
) -> tuple[PreparedRun | None, list[Finding]]:
    """Validate ``flow_path`` (enforcing ``policy`` if given) and bind its agent nodes to
    Cog-Paks.

    ``inputs`` are typed values by ``NODE.PIN``; ``text_inputs`` are values typed on a
    command line, converted by the type of the pin they feed (see :func:`parse_input_text`).
    Raises :class:`~mentatlab.validation.UsageError` when the file does not exist.
    """
    given = {**(inputs or {}), **(text_inputs or {})}
    catalog = AgentCatalog(_search_path(flow_path, agent_dirs), mode=mode)
    flow, findings = load_flow(flow_path, catalog, mode=mode, run_inputs=list(given), policy=policy)
    return _bind(flow, findings, catalog, str(flow_path), inputs=inputs, text_inputs=text_inputs)


def prepare_flow_data(
    data: object,
    *,
    agent_dirs: Sequence[Path] = (),
    inputs: Mapping[str, Any] | None = None,
    mode: Mode = Mode.STRICT,
    file: str = "<flow>",
    agents: Iterable[ResolvedAgent] = (),
    policy: Policy | None = None,
) -> tuple[PreparedRun | None, list[Finding]]:
    """:func:`prepare_flow` for a flow already in memory (a request body).

    Agents are found among ``agents`` (those a server has registered), then in
    ``agent_dirs``, ``$MENTATLAB_AGENTS_PATH`` and ``./agents``.
    """
    catalog = AgentCatalog(agent_search_path(agent_dirs), mode=mode, agents=agents)
    flow, findings = validate_flow_data(
        data, catalog, mode=mode, run_inputs=list(inputs or {}), file=file, policy=policy
    )
    return _bind(flow, findings, catalog, file, inputs=inputs, text_inputs=None)


def _bind(
    flow: Flow | None,
    findings: list[Finding],
    catalog: AgentCatalog,
    file: str,
    *,
    inputs: Mapping[str, Any] | None,
    text_inputs: Mapping[str, str] | None,
) -> tuple[PreparedRun | None, list[Finding]]:
    if flow is None:
        return None, findings
    agents: dict[str, AgentBinding] = {}
    unresolved = False
    for node in flow.graph.nodes:
        if node.agent_ref is None or node.outputs is not None:
            continue  # built-ins and pinned nodes start no agent
        try:
            resolved = catalog.resolve(node.type)
        except AgentResolutionError as exc:
            # Only reachable in permissive mode, where flow.agent-ref is a warning.
            findings.append(Finding(file, ROOT, None, "flow.agent-ref", f"node {node.id!r}: {exc}"))
            unresolved = True
            continue
        agents[node.id] = AgentBinding(resolved.manifest, resolved.directory)
    if unresolved:
        return None, findings
    try:
        plan = FlowPlan(flow, agents)
    except PlanError as exc:
        findings.append(Finding(file, ROOT, None, "flow.plan", str(exc)))
        return None, findings
    typed = dict(inputs or {})
    for key, text in (text_inputs or {}).items():
        typed[key] = parse_input_text(text, _pin_type(plan, key))
    document = flow.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return PreparedRun(plan, document, typed, findings), findings


def parse_input_text(text: str, pin_type: PinType | None) -> Any:
    """A command-line value for a pin: as is for string pins, else JSON when it parses."""
    if pin_type is PinType.STRING:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pin_type(plan: FlowPlan, key: str) -> PinType | None:
    node_id, _, pin_name = key.partition(".")
    if node_id not in plan.nodes:
        return None
    return next((pin.type for pin in plan.input_pins(node_id) if pin.name == pin_name), None)


def _search_path(flow_path: Path, agent_dirs: Sequence[Path]) -> list[Path]:
    search = agent_search_path(agent_dirs, flow_file=flow_path)
    # A flow shipped inside a Cog-Pak (an example next to its manifest) finds that Cog-Pak.
    cogpak = flow_path.resolve().parent
    if (cogpak / "manifest.yaml").is_file() and cogpak.parent not in search:
        search.append(cogpak.parent)
    return search
