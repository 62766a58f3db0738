"""The local driver relays what an agent writes as protocol v1 events, in order."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from driver_helpers import make_spec, process_gone, run_attempt

from mentatlab.engine.drivers.base import AttemptOutcome
from mentatlab.model.protocol import (
    CheckpointEvent,
    ErrorEvent,
    HeartbeatEvent,
    LogEvent,
    MetricEvent,
    OutputEvent,
    ProgressEvent,
)

EMIT = """
import json, sys
def emit(**event):
    print(json.dumps(event), flush=True)
"""


def test_every_event_type_is_relayed_in_order(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        EMIT
        + """
emit(type="log", level="debug", message="starting")
emit(type="progress", percent=10, message="loading")
emit(type="heartbeat")
emit(type="metric", name="tokens", value=42, unit="count")
emit(type="checkpoint", state={"step": 1})
emit(type="output", pin="answer", value="draft")
emit(type="checkpoint", state={"step": 2})
emit(type="output", pin="answer", value={"final": True})
emit(type="output", pin="other", value=None)
emit(type="progress", percent=100)
""",
    )
    run = run_attempt(spec)

    assert run.events == [
        LogEvent(level="debug", message="starting"),
        ProgressEvent(percent=10, message="loading"),
        HeartbeatEvent(),
        MetricEvent(name="tokens", value=42, unit="count"),
        CheckpointEvent(state={"step": 1}),
        OutputEvent(pin="answer", value="draft"),
        CheckpointEvent(state={"step": 2}),
        OutputEvent(pin="answer", value={"final": True}),
        OutputEvent(pin="other", value=None),
        ProgressEvent(percent=100),
    ]
    result = run.result
    assert result.outcome is AttemptOutcome.SUCCEEDED
    assert result.reason is None
    assert result.exit_code == 0
    assert result.outputs == {"answer": {"final": True}, "other": None}  # last write wins
    assert result.last_checkpoint == {"step": 2}


def test_agent_receives_envelope_and_environment(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        EMIT
        + """
import os
envelope = json.load(sys.stdin)
emit(type="output", pin="envelope", value=envelope)
emit(type="output", pin="env", value={k: v for k, v in os.environ.items()
     if k.startswith(("MENTAT_", "PYTHONUNBUFFERED", "EXTRA"))})
emit(type="output", pin="cwd", value=os.getcwd())
emit(type="output", pin="executable", value=sys.executable)
""",
        inputs={"text": "héllo", "n": [1, 2]},
        params={"mode": "fast"},
        resume={"step": 3},
        env={"EXTRA_SETTING": "on"},
    )
    outputs = run_attempt(spec).result.outputs

    assert outputs["envelope"] == {
        "protocol": "mentatlab.agent/v1",
        "run": {"id": "run-1", "node": "node-a", "attempt": 1},
        "inputs": {"text": "héllo", "n": [1, 2]},
        "params": {"mode": "fast"},
        "resume": {"step": 3},
    }
    assert outputs["env"] == {
        "MENTAT_PROTOCOL": "mentatlab.agent/v1",
        "MENTAT_RUN_ID": "run-1",
        "MENTAT_NODE_ID": "node-a",
        "MENTAT_ATTEMPT": "1",
        "PYTHONUNBUFFERED": "1",
        "EXTRA_SETTING": "on",
    }
    assert outputs["cwd"] == str(tmp_path)
    # "python" is the interpreter running MentatLab, so agents can import the SDK.
    assert outputs["executable"] == sys.executable


def test_envelope_is_one_line_then_eof(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        EMIT
        + """
raw = sys.stdin.buffer.read()
emit(type="output", pin="lines", value=raw.decode().split("\\n"))
""",
        inputs={"text": "two\nlines"},
    )
    lines = run_attempt(spec).result.outputs["lines"]

    assert len(lines) == 2
    assert lines[1] == ""
    assert json.loads(lines[0])["inputs"] == {"text": "two\nlines"}


def test_python3_alias_also_means_the_running_interpreter(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        EMIT + 'emit(type="output", pin="exe", value=sys.executable)\n',
        command=("python3", "agent.py"),
    )
    assert run_attempt(spec).result.outputs == {"exe": sys.executable}


def test_text_stdout_is_info_and_stderr_is_warning(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        EMIT
        + """
print("plain text", flush=True)
print("", flush=True)
print("[1, 2]", flush=True)
print("oops on stderr", file=sys.stderr, flush=True)
""",
    )
    run = run_attempt(spec)

    assert run.result.outcome is AttemptOutcome.SUCCEEDED
    assert run.logs("info") == ["plain text", "[1, 2]"]  # blank lines are not events
    assert run.logs("warning") == ["oops on stderr"]


def test_unknown_event_type_is_a_debug_log(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        EMIT
        + """
emit(type="telemetry.v2", data=1)
emit(type="output", pin="x", value=1)
""",
    )
    run = run_attempt(spec)

    assert run.result.outcome is AttemptOutcome.SUCCEEDED
    assert run.result.outputs == {"x": 1}
    [debug] = run.logs("debug")
    assert "telemetry.v2" in debug


def test_invalid_event_fields_are_a_warning_and_the_agent_goes_on(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        EMIT
        + """
emit(type="progress", percent=150)
emit(type="output", value=1)
emit(type="error", message="bad", retryable="no")
emit(no_type=True)
emit(type="output", pin="x", value="after")
""",
    )
    run = run_attempt(spec)

    # The invalid error event is not an error event: the attempt succeeds.
    assert run.result.outcome is AttemptOutcome.SUCCEEDED
    assert run.result.outputs == {"x": "after"}
    warnings = run.logs("warning")
    assert len(warnings) == 4
    assert "percent" in warnings[0]
    assert "less than or equal to 100" in warnings[0]
    assert "pin" in warnings[1]
    assert "retryable" in warnings[2]
    assert "type" in warnings[3]


def test_invalid_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        """
import sys
sys.stdout.buffer.write(b"bad \\xff\\xfe bytes\\n")
sys.stdout.buffer.write(b'{"type": "output", "pin": "x", "value": "caf\\xc3\\xa9 \\xff"}\\n')
sys.stderr.buffer.write(b"err \\xc3\\n")
""",
    )
    run = run_attempt(spec)

    assert run.result.outcome is AttemptOutcome.SUCCEEDED
    assert run.logs("info") == ["bad \ufffd\ufffd bytes"]
    assert run.result.outputs == {"x": "café \ufffd"}
    assert run.logs("warning") == ["err \ufffd"]


def test_last_line_without_newline_and_crlf(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        """
import sys
sys.stdout.write('{"type": "output", "pin": "a", "value": 1}\\r\\n')
sys.stdout.write('{"type": "output", "pin": "b", "value": 2}')
""",
    )
    assert run_attempt(spec).result.outputs == {"a": 1, "b": 2}


def test_agent_that_never_reads_stdin(tmp_path: Path) -> None:
    # The envelope is far larger than a pipe buffer: writing it must not block or crash.
    spec = make_spec(
        tmp_path,
        EMIT + 'emit(type="output", pin="x", value="ignored stdin")\n',
        inputs={"big": "x" * 2_000_000},
    )
    run = run_attempt(spec)

    assert run.result.outcome is AttemptOutcome.SUCCEEDED
    assert run.result.outputs == {"x": "ignored stdin"}


def test_agent_that_closes_stdout_early(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        EMIT
        + """
import os, time
emit(type="output", pin="x", value=1)
sys.stdout.close()
os.close(1)
time.sleep(0.3)
print("still alive", file=sys.stderr, flush=True)
""",
    )
    run = run_attempt(spec)

    assert run.result.outcome is AttemptOutcome.SUCCEEDED
    assert run.result.outputs == {"x": 1}
    assert run.logs("warning") == ["still alive"]


def test_exit_does_not_wait_for_a_grandchild_holding_stdout(tmp_path: Path) -> None:
    # The agent exits at once, but a process it started keeps the stdout pipe open.
    spec = make_spec(
        tmp_path,
        EMIT
        + """
import subprocess
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
emit(type="output", pin="child", value=child.pid)
""",
    )
    run = run_attempt(spec)

    assert run.result.outcome is AttemptOutcome.SUCCEEDED
    assert run.seconds < 5
    assert process_gone(run.result.outputs["child"])  # what the agent left behind is killed


def test_error_event_is_relayed(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        EMIT + 'emit(type="error", code="bad_input", message="no text", retryable=False)\n',
    )
    run = run_attempt(spec)

    assert run.events == [ErrorEvent(code="bad_input", message="no text", retryable=False)]


def test_lines_read_together_are_handed_over_together_in_order(tmp_path: Path) -> None:
    # One write of 300 lines: the driver passes on what one read returns without waiting for
    # each event to be taken (so the run store can keep them in one transaction).
    spec = make_spec(
        tmp_path,
        """
import json, sys
lines = [json.dumps({"type": "metric", "name": "i", "value": i}) for i in range(300)]
sys.stdout.write("\\n".join(lines) + "\\n")
""",
    )
    in_flight = 0
    most_in_flight = 0

    async def take(event: object, cancel: asyncio.Event) -> None:
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        await asyncio.sleep(0)  # a sink storing the event
        in_flight -= 1

    run = run_attempt(spec, on_event=take)

    assert run.result.outcome is AttemptOutcome.SUCCEEDED
    assert [e.value for e in run.events if isinstance(e, MetricEvent)] == list(range(300))
    assert most_in_flight > 1
