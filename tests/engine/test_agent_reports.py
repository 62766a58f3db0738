"""Secrets and HTTP reports in the engine: each attempt receives only what it may, and what it
reports over HTTP (through :class:`LiveAttempts`) counts like what it writes on stdout."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from engine_harness import ScriptedDriver, flow, manifest

from mentatlab.engine.drivers.base import AttemptOutcome, AttemptResult, AttemptSpec, EventCallback
from mentatlab.engine.events import ListSink
from mentatlab.engine.identity import LiveAttempts
from mentatlab.engine.plan import AgentBinding, FlowPlan
from mentatlab.engine.scheduler import FlowEngine, RunOutcome
from mentatlab.engine.secrets import RunSecrets
from mentatlab.model.protocol import AgentIdentity, ErrorEvent, LogEvent, OutputEvent

AGENT = manifest(
    "t.agent", inputs=[], outputs=[{"name": "a", "type": "string"}], capabilities={"secrets": True}
)
PLAIN = manifest("t.plain", inputs=[], outputs=[{"name": "a", "type": "string"}])


class Issuer:
    def __init__(self) -> None:
        self.issued: list[tuple[str, str, int]] = []

    def issue(self, *, run_id: str, node_id: str, attempt: int) -> AgentIdentity:
        self.issued.append((run_id, node_id, attempt))
        return AgentIdentity(token=f"tok-{node_id}-{attempt}", expires_at="2100-01-01T00:00:00Z")


def _run(
    driver: ScriptedDriver, live: LiveAttempts, secrets: RunSecrets, sink: ListSink
) -> tuple[RunOutcome, Issuer]:
    the_flow = flow([{"id": "n", "type": "t.agent"}, {"id": "p", "type": "t.plain"}])
    plan = FlowPlan(
        the_flow,
        {"n": AgentBinding(AGENT, Path()), "p": AgentBinding(PLAIN, Path())},
    )
    issuer = Issuer()
    engine = FlowEngine(driver, identities=issuer, live=live)

    async def main() -> RunOutcome:
        return await engine.execute(
            plan, run_id="r1", inputs={}, sink=sink, cancel=asyncio.Event(), secrets=secrets
        )

    return asyncio.run(main()), issuer


def _behaviour(live: LiveAttempts, reports: list[Any], outputs: dict[str, Any]) -> Any:
    async def behaviour(
        spec: AttemptSpec, on_event: EventCallback, cancel: asyncio.Event
    ) -> AttemptResult:
        accepted = await live.report((spec.run_id, spec.node_id, spec.attempt), reports)
        assert accepted
        return AttemptResult(outcome=AttemptOutcome.SUCCEEDED, outputs=outputs)

    return behaviour


async def _plain(
    spec: AttemptSpec, on_event: EventCallback, cancel: asyncio.Event
) -> AttemptResult:
    return AttemptResult(outcome=AttemptOutcome.SUCCEEDED, outputs={"a": "plain"})


def test_reports_over_http_are_redacted_and_their_outputs_count() -> None:
    live, sink = LiveAttempts(), ListSink()
    reports = [LogEvent(message="key=hunter2-value"), OutputEvent(pin="a", value="hunter2-value")]
    driver = ScriptedDriver(
        {"t.agent": _behaviour(live, reports, {"a": "stdout"}), "t.plain": _plain}
    )
    outcome, issuer = _run(driver, live, RunSecrets({"K": "hunter2-value"}), sink)
    assert outcome.status.value == "succeeded"
    assert outcome.outputs["n"] == {"a": "[REDACTED:K]"}  # HTTP wins over stdout for a pin
    logs = [e.data["message"] for e in sink.events if e.type == "log"]
    assert "key=[REDACTED:K]" in logs
    n, p = (next(s for s in driver.attempts if s.node_id == i) for i in ("n", "p"))
    assert dict(n.secrets) == {"K": "hunter2-value"} and dict(p.secrets) == {}
    assert "hunter2" not in repr(n)  # an AttemptSpec never shows its secrets or token
    assert n.identity is not None
    assert n.identity.token == "tok-n-1"  # noqa: S105 - the test issuer's token
    assert issuer.issued == [("r1", "n", 1), ("r1", "p", 1)]
    assert not live.is_live(("r1", "n", 1))  # the attempt ended: no more reports


def test_an_error_reported_over_http_fails_the_attempt() -> None:
    live, sink = LiveAttempts(), ListSink()
    reports = [ErrorEvent(message="quota gone", code="quota", retryable=False)]
    driver = ScriptedDriver({"t.agent": _behaviour(live, reports, {"a": "x"}), "t.plain": _plain})
    outcome, _ = _run(driver, live, RunSecrets(), sink)
    assert outcome.status.value == "failed"
    assert outcome.error is not None
    assert (outcome.error.reason, outcome.error.code) == ("agent_error", "quota")
    assert "quota gone" in outcome.error.message
