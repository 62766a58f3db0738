"""Loading and validating flows against an agent catalog."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from mentatlab.model.flow import Flow
from mentatlab.model.policy import Policy
from mentatlab.validation.catalog import AgentCatalog
from mentatlab.validation.document import Document
from mentatlab.validation.findings import Finding, Mode
from mentatlab.validation.flow_rules import check_flow
from mentatlab.validation.loading import document_from_data, read_document
from mentatlab.validation.policy import check_flow_policy
from mentatlab.validation.reporter import Reporter
from mentatlab.validation.schema import SchemaKind

__all__ = ["load_flow", "validate_flow_data", "validate_flow_document"]


def load_flow(
    path: Path,
    catalog: AgentCatalog,
    *,
    mode: Mode = Mode.STRICT,
    run_inputs: Collection[str] = (),
    policy: Policy | None = None,
) -> tuple[Flow | None, list[Finding]]:
    """Load and validate a flow file (``.yaml``, ``.yml``, ``.json`` or ``.mlab``).

    ``run_inputs`` are the ``NODE.PIN`` keys the run will be given; ``policy``, if given, is
    enforced on the agents the flow starts and the secrets it sends them. Returns the flow (``None``
    if any error was found) and every finding; raises
    :class:`~mentatlab.validation.findings.UsageError` if ``path`` does not exist.
    """
    document, findings = read_document(path)
    if document is None:
        return None, findings
    return validate_flow_document(
        document, catalog, mode=mode, run_inputs=run_inputs, load_findings=findings, policy=policy
    )


def validate_flow_data(
    data: object,
    catalog: AgentCatalog,
    *,
    mode: Mode = Mode.STRICT,
    run_inputs: Collection[str] = (),
    file: str = "<flow>",
    policy: Policy | None = None,
) -> tuple[Flow | None, list[Finding]]:
    """Validate a flow already in memory (e.g. a request body); findings have no lines."""
    document, findings = document_from_data(data, file)
    if document is None:
        return None, findings
    return validate_flow_document(
        document, catalog, mode=mode, run_inputs=run_inputs, load_findings=findings, policy=policy
    )


def validate_flow_document(
    document: Document,
    catalog: AgentCatalog,
    *,
    mode: Mode = Mode.STRICT,
    run_inputs: Collection[str] = (),
    load_findings: list[Finding] | None = None,
    policy: Policy | None = None,
) -> tuple[Flow | None, list[Finding]]:
    """Validate a parsed flow: schema, the semantic rules, then ``policy`` on a valid flow."""
    report = Reporter(document, mode)
    report.extend(load_findings or ())
    flow = report.parse(SchemaKind.FLOW, document.data, Flow)
    if flow is None:
        return None, report.findings
    check_flow(flow, catalog, report, run_inputs)
    if policy is not None and not report.has_errors:
        check_flow_policy(flow, catalog, policy, report)
    return (None if report.has_errors else flow), report.findings
