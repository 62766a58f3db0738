"""Running a whole flow locally, as ``mentatctl run`` does, and asserting on the run."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mentatlab.engine.drivers.base import Driver
from mentatlab.engine.drivers.local import LocalProcessDriver
from mentatlab.model.run import EventType, NodeRecord, RunEvent, RunRecord, RunStatus
from mentatlab.service.execution import execute_run
from mentatlab.service.preparation import prepare_flow
from mentatlab.store import open_store
from mentatlab.validation import Finding, Mode, Severity

__all__ = ["FlowInvalidError", "FlowResult", "run_flow", "run_flow_async"]


class FlowInvalidError(AssertionError):
    """The flow did not validate, so it was not run; ``findings`` says why."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = tuple(findings)
        errors = [str(f) for f in findings if f.severity is Severity.ERROR]
        super().__init__("the flow is invalid:\n" + "\n".join(errors))


@dataclass(frozen=True)
class FlowResult:
    """A finished run: its record (as ``mentatctl run --output json``) and its event log."""

    record: RunRecord
    events: Sequence[RunEvent]

    @property
    def status(self) -> RunStatus:
        return self.record.status

    @property
    def outputs(self) -> Mapping[str, Mapping[str, Any]]:
        """Outputs of the flow's terminal nodes, by node then pin."""
        return self.record.outputs

    def node(self, node_id: str) -> NodeRecord:
        return self.record.nodes[node_id]

    def events_of(
        self, *, node: str | None = None, type: EventType | str | None = None
    ) -> list[RunEvent]:
        """Events of one node and/or one type, in order."""
        return [
            event
            for event in self.events
            if (node is None or event.node == node) and (type is None or event.type == type)
        ]

    def assert_succeeded(self) -> FlowResult:
        if self.record.status is not RunStatus.SUCCEEDED:
            why = self.record.error.message if self.record.error else self.record.status.value
            raise AssertionError(f"run {self.record.id} {self.record.status.value}: {why}")
        return self


def run_flow(
    flow: str | Path,
    inputs: Mapping[str, Any] | None = None,
    *,
    agents: Sequence[str | Path] = (),
    home: str | Path | None = None,
    max_parallel: int | None = None,
    mode: Mode = Mode.STRICT,
    driver: Driver | None = None,
) -> FlowResult:
    """Validate and run ``flow`` with ``inputs`` (``{"NODE.PIN": value}``) to a final status.

    Agents are found as ``mentatctl run`` finds them, ``agents`` first. The run is recorded in
    a store under ``home`` (a temporary directory when not given). Raises
    :class:`FlowInvalidError` if the flow does not validate.
    """
    return asyncio.run(
        run_flow_async(
            flow,
            inputs,
            agents=agents,
            home=home,
            max_parallel=max_parallel,
            mode=mode,
            driver=driver,
        )
    )


async def run_flow_async(
    flow: str | Path,
    inputs: Mapping[str, Any] | None = None,
    *,
    agents: Sequence[str | Path] = (),
    home: str | Path | None = None,
    max_parallel: int | None = None,
    mode: Mode = Mode.STRICT,
    driver: Driver | None = None,
) -> FlowResult:
    """:func:`run_flow` for tests that already run an event loop."""
    prepared, findings = prepare_flow(
        Path(flow), agent_dirs=[Path(a) for a in agents], inputs=inputs, mode=mode
    )
    if prepared is None:
        raise FlowInvalidError(findings)
    with (
        tempfile.TemporaryDirectory(prefix="mentatlab-") as scratch,
        open_store(Path(home) if home is not None else Path(scratch)) as store,
    ):
        record = await execute_run(
            store,
            prepared.plan,
            document=prepared.document,
            inputs=prepared.inputs,
            driver=driver or LocalProcessDriver(),
            max_parallel=max_parallel,
        )
        return FlowResult(record=record, events=store.read_events(record.id))
