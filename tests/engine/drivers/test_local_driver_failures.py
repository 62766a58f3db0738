"""How the local driver reports agents that fail, report errors, or cannot start."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from driver_helpers import make_spec, run_attempt

from mentatlab.engine.drivers.base import AttemptOutcome, FailureReason
from mentatlab.model.protocol import AgentEvent, OutputEvent

EMIT = """
import json, sys
def emit(**event):
    print(json.dumps(event), flush=True)
"""


def test_exit_code_failure_quotes_the_stderr_tail(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        EMIT
        + """
emit(type="checkpoint", state="half")
emit(type="output", pin="x", value=1)
for i in range(30):
    print(f"stderr line {i}", file=sys.stderr)
sys.exit(3)
""",
    )
    result = run_attempt(spec).result

    assert result.outcome is AttemptOutcome.FAILED
    assert result.reason is FailureReason.EXIT_CODE
    assert result.exit_code == 3
    assert result.signal is None
    assert result.retryable is True
    assert result.error_code is None
    assert result.outputs == {}  # outputs only count for a successful attempt
    assert result.last_checkpoint == "half"  # but a retry resumes from the checkpoint
    assert "exited with code 3" in result.message
    assert "stderr line 29" in result.message
    assert "stderr line 20" in result.message
    assert "stderr line 19" not in result.message  # only the tail


def test_uncaught_exception_shows_the_traceback_tail(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "raise RuntimeError('model unreachable')\n")
    result = run_attempt(spec).result

    assert result.reason is FailureReason.EXIT_CODE
    assert result.exit_code == 1
    assert "RuntimeError: model unreachable" in result.message


@pytest.mark.parametrize("retryable", [True, False])
def test_error_event_then_failure_exit(tmp_path: Path, retryable: bool) -> None:
    spec = make_spec(
        tmp_path,
        EMIT
        + f"""
emit(type="error", code="rate_limited", message="try later", retryable={retryable})
sys.exit(1)
""",
    )
    result = run_attempt(spec).result

    assert result.outcome is AttemptOutcome.FAILED
    assert result.reason is FailureReason.AGENT_ERROR
    assert result.error_code == "rate_limited"
    assert result.retryable is retryable
    assert result.message == "try later"
    assert result.exit_code == 1


def test_error_event_defaults(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, EMIT + 'emit(type="error", message="broken")\nsys.exit(2)\n')
    result = run_attempt(spec).result

    assert result.error_code == "agent_error"
    assert result.retryable is True


def test_exit_zero_after_error_event_is_a_failure(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        EMIT
        + """
emit(type="output", pin="x", value=1)
emit(type="error", code="partial", message="gave up", retryable=False)
""",
    )
    result = run_attempt(spec).result

    assert result.outcome is AttemptOutcome.FAILED
    assert result.reason is FailureReason.AGENT_ERROR
    assert result.exit_code == 0
    assert result.error_code == "partial"
    assert result.retryable is False
    assert result.outputs == {}


def test_killed_by_signal(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    result = run_attempt(spec).result

    assert result.reason is FailureReason.SIGNAL
    assert result.signal == 9
    assert result.exit_code is None
    assert "SIGKILL" in result.message


def test_missing_program_on_path(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "", command=("no-such-agent-program", "x"))
    result = run_attempt(spec).result

    assert result.outcome is AttemptOutcome.FAILED
    assert result.reason is FailureReason.START_FAILED
    assert "'no-such-agent-program' not found on PATH" in result.message


def test_missing_relative_program(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "", command=("bin/agent",))
    result = run_attempt(spec).result

    assert result.reason is FailureReason.START_FAILED
    assert str(tmp_path / "bin" / "agent") in result.message


def test_relative_program_resolves_against_workdir(tmp_path: Path) -> None:
    # The test runs from the repository root: only resolution against workdir finds it.
    script = tmp_path / "bin" / "agent.sh"
    script.parent.mkdir()
    script.write_text('#!/bin/sh\necho \'{"type": "output", "pin": "x", "value": "sh"}\'\n')
    script.chmod(0o755)
    spec = make_spec(tmp_path, "", command=("bin/agent.sh",))

    assert run_attempt(spec).result.outputs == {"x": "sh"}


def test_program_not_executable(tmp_path: Path) -> None:
    (tmp_path / "agent.sh").write_text("#!/bin/sh\n")
    spec = make_spec(tmp_path, "", command=("./agent.sh",))
    result = run_attempt(spec).result

    assert result.reason is FailureReason.START_FAILED
    assert "permission denied" in result.message


def test_missing_interpreter_on_shebang_line(tmp_path: Path) -> None:
    script = tmp_path / "agent"
    script.write_text("#!/no/such/interpreter\n")
    script.chmod(0o755)
    spec = make_spec(tmp_path, "", command=("./agent",))
    result = run_attempt(spec).result

    assert result.reason is FailureReason.START_FAILED
    assert "interpreter" in result.message


def test_missing_workdir(tmp_path: Path) -> None:
    spec = replace(make_spec(tmp_path, ""), workdir=tmp_path / "gone")
    result = run_attempt(spec).result

    assert result.reason is FailureReason.START_FAILED
    assert "working directory" in result.message


def test_empty_command(tmp_path: Path) -> None:
    result = run_attempt(make_spec(tmp_path, "", command=())).result

    assert result.reason is FailureReason.START_FAILED
    assert "no command" in result.message


def test_on_event_failure_propagates_and_stops_the_agent(tmp_path: Path) -> None:
    # A failing callback is a bug in MentatLab, not in the agent: it is raised, not hidden.
    spec = make_spec(
        tmp_path,
        EMIT
        + """
import os, time
emit(type="output", pin="pid", value=os.getpid())
time.sleep(30)
""",
    )
    pids: list[int] = []

    async def explode(event: AgentEvent, cancel: asyncio.Event) -> None:
        assert isinstance(event, OutputEvent)
        pids.append(event.value)
        raise LookupError("sink is broken")

    with pytest.raises(LookupError, match="sink is broken"):
        run_attempt(spec, on_event=explode)
    assert not Path(f"/proc/{pids[0]}").exists()  # killed and reaped
