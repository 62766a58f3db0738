"""The registry of rule ids, and how a mode turns a rule into a severity.

Three families:

- ``load.*``: the file could not be read as a document. Always errors.
- ``schema.<keyword>``: the JSON Schema keyword that failed (``schema.model`` if the schema
  passed but the model did not). Always errors.
- ``manifest.*`` / ``flow.*``: semantic rules listed in :data:`RULES`. Errors in ``strict``
  mode and warnings in ``permissive`` mode, except the ones marked fixed below.
"""

from __future__ import annotations

from dataclasses import dataclass

from mentatlab.validation.findings import Mode, Severity

__all__ = ["LOAD_RULES", "RULES", "Rule", "severity_of"]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    summary: str
    severity: Severity = Severity.ERROR
    # Fixed rules keep their severity in every mode.
    fixed: bool = False


LOAD_RULES: frozenset[str] = frozenset(
    {
        "load.unreadable",
        "load.too-large",
        "load.encoding",
        "load.empty",
        "load.syntax",
        "load.duplicate-key",
        "load.key-type",
        "load.value-type",
        "load.alias",
        "load.too-deep",
        "load.not-mapping",
        "load.unknown-kind",
    }
)

_RULES = (
    Rule(
        "manifest.legacy-format", "The manifest uses the original format.", Severity.WARNING, True
    ),
    Rule(
        "manifest.template-placeholder",
        "The manifest still contains {{PLACEHOLDER}} template markers.",
        fixed=True,
    ),
    Rule("manifest.pin-unique", "Pin names are unique among inputs and among outputs."),
    Rule("manifest.image-tag", "The image has a tag other than 'latest', or a digest."),
    Rule("manifest.env-format", "String env entries are KEY=VALUE with a valid name."),
    Rule("manifest.env-duplicate", "No environment variable is defined twice."),
    Rule("manifest.pin-mime-type", "audio/image/video pins carry metadata.mimeType."),
    Rule("manifest.runnable", "The agent has a command or an image."),
    Rule("manifest.command-exists", "In a Cog-Pak directory, a relative command program exists."),
    Rule("manifest.scaling-range", "scaling.minReplicas <= scaling.maxReplicas."),
    Rule(
        "manifest.scaling-long-running",
        "scaling only applies to longRunning agents.",
        Severity.WARNING,
        True,
    ),
    Rule("manifest.resources-range", "Resource requests do not exceed limits."),
    Rule("flow.node-unique", "Node ids are unique."),
    Rule("flow.edge-node", "Both nodes of every edge exist."),
    Rule("flow.edge-pin", "Both pins of every edge exist on their nodes."),
    Rule("flow.pin-type", "Connected pins have compatible types."),
    Rule("flow.fan-in", "Only json input pins take more than one edge."),
    Rule("flow.cycle", "The graph (edges, conditional targets, for_each bodies) has no cycle."),
    Rule("flow.input-required", "Required inputs are connected or given."),
    Rule("flow.input-unknown", "Constant node inputs name declared input pins."),
    Rule("flow.agent-ref", "Every agent reference resolves to a valid manifest."),
    Rule("flow.conditional-target", "Conditional targets exist and are not the node itself."),
    Rule("flow.for-each-body", "for_each body nodes exist and are not the node itself."),
    Rule(
        "flow.pinned-output-undeclared",
        "Constant outputs of a pinned node are declared by its agent.",
        Severity.WARNING,
        True,
    ),
    Rule("flow.run-input", "Run inputs name an existing node and input pin."),
)

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}


def severity_of(rule_id: str, mode: Mode) -> Severity:
    """Load and schema problems are always errors; semantic rules depend on the mode."""
    rule = RULES.get(rule_id)
    if rule is None:
        return Severity.ERROR
    if rule.fixed or mode is Mode.STRICT:
        return rule.severity
    return Severity.WARNING
