"""What the golden files pin: each case produces the exact bytes of one file in ``files/``.

``test_golden.py`` compares them byte for byte; ``update.py`` rewrites them. Changing a golden
file changes the v1 wire format: see README.md and docs/compatibility.md.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mentatlab.engine.drivers.attempt import (
    envelope_bytes,
    input_environment,
    protocol_environment,
)
from mentatlab.engine.drivers.base import (
    AttemptOutcome,
    AttemptResult,
    AttemptSpec,
    EventCallback,
    FailureReason,
)
from mentatlab.engine.events import ListSink
from mentatlab.engine.plan import AgentBinding, FlowPlan
from mentatlab.engine.scheduler import FlowEngine
from mentatlab.model.flow import Flow
from mentatlab.model.manifest import AgentManifest
from mentatlab.model.protocol import CheckpointEvent
from mentatlab.testing import run_flow

GOLDEN = Path(__file__).resolve().parent
FILES = GOLDEN / "files"
SDK_AGENT = GOLDEN / "agents" / "golden-sdk"
RUN_ID = "golden-run"

ENVELOPE = (
    b'{"protocol":"mentatlab.agent/v1","run":{"id":"golden-run","node":"work","attempt":1},'
    b'"inputs":{"text":"h\xc3\xa9llo"},"params":{"fail":false},"resume":null}\n'
)
"""The envelope the SDK cases read, as the engine writes one."""


# --- what the engine sends ------------------------------------------------------------------


def _manifest(agent_id: str, **fields: Any) -> AgentManifest:
    return AgentManifest.model_validate(
        {"id": agent_id, "version": "1.0.0", "description": "golden", "command": ["true"]} | fields
    )


_AGENTS = {
    "golden.summarize": _manifest(
        "golden.summarize",
        inputs=[
            {"name": "text", "type": "string"},
            {"name": "style", "type": "string", "default": "short"},
            {"name": "extra", "type": "json", "required": False},
        ],
        outputs=[{"name": "summary", "type": "string"}],
    ),
    "golden.retry": _manifest(
        "golden.retry",
        inputs=[{"name": "items", "type": "json"}],
        outputs=[{"name": "count", "type": "number"}],
        retries={"limit": 1, "backoff": {"initialSeconds": 0}},
    ),
    "golden.legacy": _manifest(
        "golden.legacy",
        protocol="legacy",
        inputs=[{"name": "spec", "type": "json"}, {"name": "context", "type": "json"}],
        outputs=[{"name": "result", "type": "json"}],
    ),
}

_FLOW = Flow.model_validate(
    {
        "apiVersion": "mentatlab.io/v1",
        "kind": "Flow",
        "meta": {"id": "golden", "name": "golden"},
        "graph": {
            "nodes": [
                {"id": "ask", "type": "ui.prompt", "outputs": {"text": "héllo wörld 🌍 \u2028"}},
                {
                    "id": "summarize",
                    "type": "golden.summarize",
                    "params": {"sentences": 2, "nested": {"a": [1, None, True, 0.5]}},
                },
                {"id": "retry", "type": "golden.retry"},
                {"id": "legacy", "type": "golden.legacy", "inputs": {"context": {"user": "u"}}},
            ],
            "edges": [
                {"from": "ask.text", "to": "summarize.text"},
                {"from": "ask.text", "to": "retry.items"},
                {"from": "summarize.summary", "to": "retry.items"},
                {"from": "summarize.summary", "to": "legacy.spec"},
            ],
        },
    }
)


def _engine_attempts() -> list[AttemptSpec]:
    """Every attempt the engine starts for ``_FLOW``, in order: ``retry`` fails once after a
    checkpoint, so its second attempt resumes."""
    attempts: list[AttemptSpec] = []

    class Recorder:
        resolves_env_references = False
        default_parallelism = 1

        async def run_attempt(
            self, spec: AttemptSpec, *, on_event: EventCallback, cancel: asyncio.Event
        ) -> AttemptResult:
            attempts.append(spec)
            if spec.agent_id == "golden.retry" and spec.attempt == 1:
                await on_event(CheckpointEvent(state={"chunk": 3, "seen": ["é"]}))
                return AttemptResult(
                    outcome=AttemptOutcome.FAILED, reason=FailureReason.EXIT_CODE, exit_code=1
                )
            outputs = dict.fromkeys(spec.output_pins, f"{spec.node_id} out")
            return AttemptResult(outcome=AttemptOutcome.SUCCEEDED, outputs=outputs)

    bindings = {
        node.id: AgentBinding(_AGENTS[node.type], GOLDEN)
        for node in _FLOW.graph.nodes
        if node.type in _AGENTS
    }

    async def main() -> None:
        engine = FlowEngine(Recorder(), max_parallel=1)
        await engine.execute(
            FlowPlan(_FLOW, bindings),
            run_id=RUN_ID,
            inputs={"summarize.extra": {"k": "v"}},
            sink=ListSink(),
            cancel=asyncio.Event(),
        )

    asyncio.run(main())
    # In a fixed order whatever the scheduler's: which node starts first is not wire format.
    return sorted(attempts, key=lambda spec: (spec.node_id, spec.attempt))


def engine_envelopes() -> bytes:
    """The stdin bytes of every attempt, one per line (v1 envelopes; a legacy inputs object)."""
    return b"".join(envelope_bytes(spec) for spec in _engine_attempts())


def engine_environment() -> bytes:
    """The variables MentatLab sets for each attempt (on top of the node's own)."""
    env = {
        f"{spec.node_id}#{spec.attempt}": protocol_environment(spec) | input_environment(spec)
        for spec in _engine_attempts()
    }
    return _pretty(env)


# --- what the Python SDK writes -------------------------------------------------------------


def _sdk_stdout(envelope: bytes, expected_status: int) -> bytes:
    proc = subprocess.run(
        [sys.executable, "main.py"],
        cwd=SDK_AGENT,
        input=envelope,
        capture_output=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != expected_status:
        raise AssertionError(
            f"the SDK agent exited {proc.returncode}, not {expected_status}: {proc.stderr!r}"
        )
    return proc.stdout


def sdk_python_succeeds() -> bytes:
    return _sdk_stdout(ENVELOPE, 0)


def sdk_python_fails() -> bytes:
    return _sdk_stdout(ENVELOPE.replace(b'"fail":false', b'"fail":true'), 1)


def sdk_python_invalid_envelope() -> bytes:
    return _sdk_stdout(ENVELOPE.replace(b'"attempt":1', b'"attempt":"1"'), 2)


# --- what clients read: the run's event log -------------------------------------------------

_TIME_KEYS = re.compile(r"(^|_)(ts|at|seconds)$")


def _canonical(value: Any) -> Any:
    """``value`` with what varies from run to run replaced: ids, timestamps, durations."""
    if isinstance(value, dict):
        return {
            key: "…" if _TIME_KEYS.search(key) and item is not None else _canonical(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


def run_events() -> bytes:
    """A run's event log as ``mentatctl runs logs --output json`` prints it, canonicalised:
    one SDK agent succeeds, the next fails with a non-retryable error."""
    flow = GOLDEN / "run-events.flow.yaml"
    with tempfile.TemporaryDirectory() as home:
        result = run_flow(flow, agents=[GOLDEN / "agents"], home=home, max_parallel=1)
    lines = []
    for event in result.events:
        data = event.model_dump(mode="json")
        data["run_id"] = "RUN"
        lines.append(json.dumps(_canonical(data), ensure_ascii=False) + "\n")
    return "".join(lines).encode()


def _pretty(value: Mapping[str, Any]) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode()


CASES: dict[str, Callable[[], bytes]] = {
    "engine-envelopes.jsonl": engine_envelopes,
    "engine-environment.json": engine_environment,
    "sdk-python-succeeds.ndjson": sdk_python_succeeds,
    "sdk-python-fails.ndjson": sdk_python_fails,
    "sdk-python-invalid-envelope.ndjson": sdk_python_invalid_envelope,
    "run-events.jsonl": run_events,
}
"""Golden file name (in ``files/``) → the function producing its bytes."""
