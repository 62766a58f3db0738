"""mentatlab.testing: the Cog-Pak runner, its result object and the pytest plugin."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mentatlab.engine.drivers.base import (
    AttemptOutcome,
    AttemptResult,
    AttemptSpec,
    EventCallback,
    FailureReason,
)
from mentatlab.model.protocol import (
    AgentEvent,
    ErrorEvent,
    LogEvent,
    MetricEvent,
    OutputEvent,
    ProgressEvent,
)
from mentatlab.testing import pin_mismatches, run_cogpak
from mentatlab.testing.plugin import CogPakRunner

MANIFEST = """\
apiVersion: mentatlab.io/v1
kind: Agent
id: acme.demo
version: 0.1.0
description: demo
command: ["python", "main.py"]
inputs:
  - {name: text, type: string}
  - {name: n, type: number, default: 3}
  - {name: opt, type: json, required: false}
outputs:
  - {name: result, type: string}
resources: {timeoutSeconds: 12, heartbeatTimeoutSeconds: 4}
capabilities: {supports_heartbeat: true}
"""

MAIN = """\
from typing import Any
from mentatlab.sdk import Context, agent

@agent(outputs=["result"])
def main(ctx: Context, text: str, n: int, opt: Any = None) -> dict[str, object]:
    return {"result": text * n}
"""


@dataclass
class ScriptedDriver:
    """A Driver that replays fixed events and records the spec it was given."""

    events: Sequence[AgentEvent]
    result: AttemptResult
    specs: list[AttemptSpec] = field(default_factory=list)
    cancelled: bool = False

    async def run_attempt(
        self, spec: AttemptSpec, *, on_event: EventCallback, cancel: asyncio.Event
    ) -> AttemptResult:
        self.specs.append(spec)
        for event in self.events:
            await on_event(event)
        try:
            await asyncio.wait_for(cancel.wait(), timeout=0.2)
            self.cancelled = True
        except TimeoutError:
            pass
        return self.result


@pytest.fixture
def cogpak(tmp_path: Path) -> Path:
    (tmp_path / "manifest.yaml").write_text(MANIFEST)
    (tmp_path / "main.py").write_text(MAIN)
    return tmp_path


def succeeded() -> AttemptResult:
    return AttemptResult(outcome=AttemptOutcome.SUCCEEDED, outputs={"result": "xx"}, exit_code=0)


def test_spec_comes_from_the_manifest_with_input_defaults(cogpak: Path) -> None:
    driver = ScriptedDriver([], succeeded())
    run_cogpak(cogpak, {"text": "x"}, {"p": 1}, resume={"r": 1}, attempt=2, driver=driver)
    (spec,) = driver.specs
    assert spec.command == ("python", "main.py")
    assert spec.workdir == cogpak.resolve()
    assert (spec.agent_id, spec.agent_version, spec.node_id) == ("acme.demo", "0.1.0", "demo")
    assert dict(spec.inputs) == {"text": "x", "n": 3}
    assert (dict(spec.params), spec.resume, spec.attempt) == ({"p": 1}, {"r": 1}, 2)
    assert spec.limits.timeout_seconds == 12
    assert spec.limits.heartbeat_timeout_seconds == 4


def test_timeout_argument_overrides_the_manifest(cogpak: Path) -> None:
    driver = ScriptedDriver([], succeeded())
    run_cogpak(cogpak, {"text": "x"}, timeout=1.5, driver=driver)
    assert driver.specs[0].limits.timeout_seconds == 1.5


def test_unknown_input_pins_are_rejected_before_running(cogpak: Path) -> None:
    driver = ScriptedDriver([], succeeded())
    message = r"acme\.demo has no input pin\(s\) txt; declared: n, opt, text"
    with pytest.raises(ValueError, match=message):
        run_cogpak(cogpak, {"txt": "x"}, driver=driver)
    assert driver.specs == []


def test_result_exposes_typed_events(cogpak: Path) -> None:
    events: list[AgentEvent] = [
        LogEvent(message="one"),
        ProgressEvent(percent=40),
        MetricEvent(name="m", value=2.0),
        ProgressEvent(percent=90, message="nearly"),
        LogEvent(level="warning", message="two"),
        OutputEvent(pin="result", value="xx"),
    ]
    result = run_cogpak(cogpak, {"text": "x"}, driver=ScriptedDriver(events, succeeded()))
    assert result.assert_succeeded() is result
    assert result.status == "succeeded"
    assert result.outputs == {"result": "xx"}
    assert result.exit_code == 0
    assert list(result.events) == events
    assert result.log_messages == ["one", "two"]
    assert result.progress == [40, 90]
    assert result.of_type(MetricEvent) == [events[2]]
    assert result.error is None


def test_assert_succeeded_explains_a_failure(cogpak: Path) -> None:
    failed = AttemptResult(
        outcome=AttemptOutcome.FAILED, reason=FailureReason.AGENT_ERROR, message="boom", exit_code=1
    )
    error = ErrorEvent(code="bad", message="it broke")
    events: list[AgentEvent] = [LogEvent(message="working"), error]
    result = run_cogpak(cogpak, {"text": "x"}, driver=ScriptedDriver(events, failed))
    assert result.error == error
    with pytest.raises(AssertionError) as caught:
        result.assert_succeeded()
    assert str(caught.value) == (
        "attempt failed: agent_error boom\nerror [bad] it broke\n  info: working"
    )


def test_cancel_after_sets_the_cancel_event(cogpak: Path) -> None:
    driver = ScriptedDriver([], succeeded())
    run_cogpak(cogpak, {"text": "x"}, cancel_after=0.01, driver=driver)
    assert driver.cancelled
    quiet = ScriptedDriver([], succeeded())
    run_cogpak(cogpak, {"text": "x"}, driver=quiet)
    assert not quiet.cancelled


def test_fixture_finds_the_manifest_above_the_test_file(cogpak: Path) -> None:
    tests = cogpak / "tests"
    tests.mkdir()
    assert CogPakRunner(tests).locate() == cogpak
    assert CogPakRunner(tests).locate("..") == tests / ".."
    with pytest.raises(FileNotFoundError, match=r"no manifest\.yaml"):
        CogPakRunner(Path("/")).locate()


def test_pin_mismatches_agree_then_name_each_difference(cogpak: Path) -> None:
    assert pin_mismatches(cogpak) == []
    (cogpak / "main.py").write_text(
        MAIN.replace("n: int, opt: Any = None", "n: str, opt: Any, extra: int = 0").replace(
            '["result"]', '["result", "more"]'
        )
    )
    assert pin_mismatches(cogpak) == [
        "input 'n' is number in the manifest but string in the code",
        "input 'opt' is optional in the manifest but required by the code",
        "input 'extra' is in the code but not in the manifest",
        "output 'more' is in the code but not in the manifest",
    ]


def test_plugin_imports_nothing_heavy() -> None:
    code = textwrap.dedent(
        """
        import sys
        import mentatlab.testing.plugin
        heavy = ("pydantic", "ruamel", "mentatlab.engine", "mentatlab.model", "mentatlab.sdk")
        print(sorted(m for m in sys.modules if m.startswith(heavy)))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
