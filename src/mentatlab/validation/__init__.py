"""Validation of agent manifests and flows: loading with line numbers, JSON Schema, semantic rules.

Everything a caller needs is re-exported here; ``docs/validation.md`` lists the rules.
"""

from mentatlab.validation.api import DocumentKind, detect_kind, validate_data, validate_paths
from mentatlab.validation.catalog import (
    AGENTS_PATH_VARIABLE,
    AgentCatalog,
    AgentNotFoundError,
    AgentResolutionError,
    InvalidAgentError,
    ResolvedAgent,
    agent_search_path,
)
from mentatlab.validation.findings import Finding, Mode, Severity, UsageError, ValidationReport
from mentatlab.validation.flows import load_flow, validate_flow_data
from mentatlab.validation.manifests import load_manifest, validate_manifest_data
from mentatlab.validation.policy import (
    POLICY_ENV,
    POLICY_RULES,
    PolicyError,
    default_policy,
    is_policy_rule,
    load_policy,
    policy_in_force,
)
from mentatlab.validation.rules import RULES, Rule

__all__ = [
    "AGENTS_PATH_VARIABLE",
    "POLICY_ENV",
    "POLICY_RULES",
    "RULES",
    "AgentCatalog",
    "AgentNotFoundError",
    "AgentResolutionError",
    "DocumentKind",
    "Finding",
    "InvalidAgentError",
    "Mode",
    "PolicyError",
    "ResolvedAgent",
    "Rule",
    "Severity",
    "UsageError",
    "ValidationReport",
    "agent_search_path",
    "default_policy",
    "detect_kind",
    "is_policy_rule",
    "load_flow",
    "load_manifest",
    "load_policy",
    "policy_in_force",
    "validate_data",
    "validate_flow_data",
    "validate_manifest_data",
    "validate_paths",
]
