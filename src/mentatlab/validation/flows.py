"""Loading and validating flows against an agent catalog."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from pydantic import ValidationError

from mentatlab.model.flow import Flow
from mentatlab.validation.catalog import AgentCatalog
from mentatlab.validation.document import Document
from mentatlab.validation.findings import Finding, Mode
from mentatlab.validation.flow_rules import check_flow
from mentatlab.validation.loading import document_from_data, read_document
from mentatlab.validation.reporter import Reporter
from mentatlab.validation.schema import SchemaKind, schema_problems

__all__ = ["load_flow", "validate_flow_data", "validate_flow_document"]


def load_flow(
    path: Path,
    catalog: AgentCatalog,
    *,
    mode: Mode = Mode.STRICT,
    run_inputs: Collection[str] = (),
) -> tuple[Flow | None, list[Finding]]:
    """Load and validate a flow file (``.yaml``, ``.yml``, ``.json`` or ``.mlab``).

    ``run_inputs`` are the ``NODE.PIN`` keys the run will be given. Returns the flow (``None``
    if any error was found) and every finding; raises
    :class:`~mentatlab.validation.findings.UsageError` if ``path`` does not exist.
    """
    document, findings = read_document(path)
    if document is None:
        return None, findings
    return validate_flow_document(
        document, catalog, mode=mode, run_inputs=run_inputs, load_findings=findings
    )


def validate_flow_data(
    data: object,
    catalog: AgentCatalog,
    *,
    mode: Mode = Mode.STRICT,
    run_inputs: Collection[str] = (),
    file: str = "<flow>",
) -> tuple[Flow | None, list[Finding]]:
    """Validate a flow already in memory (e.g. a request body); findings have no lines."""
    document, findings = document_from_data(data, file)
    if document is None:
        return None, findings
    return validate_flow_document(
        document, catalog, mode=mode, run_inputs=run_inputs, load_findings=findings
    )


def validate_flow_document(
    document: Document,
    catalog: AgentCatalog,
    *,
    mode: Mode = Mode.STRICT,
    run_inputs: Collection[str] = (),
    load_findings: list[Finding] | None = None,
) -> tuple[Flow | None, list[Finding]]:
    """Validate a parsed flow: schema, then the semantic rules."""
    report = Reporter(document, mode)
    report.extend(load_findings or ())
    for path, rule, message in schema_problems(SchemaKind.FLOW, document.data):
        report.add(path, rule, message)
    if report.has_errors:
        return None, report.findings
    try:
        flow = Flow.model_validate(document.data)
    except ValidationError as exc:
        report.add_model_errors(exc)
        return None, report.findings
    check_flow(flow, catalog, report, run_inputs)
    return (None if report.has_errors else flow), report.findings
