"""Time, heartbeat, memory, CPU and output limits of the local driver."""

from __future__ import annotations

import asyncio
import signal
import tracemalloc
from pathlib import Path

from driver_helpers import in_process_table, make_spec, run_attempt

from mentatlab.engine.drivers.base import AttemptOutcome, ExecutionLimits, FailureReason
from mentatlab.model.protocol import AgentEvent, OutputEvent

MiB = 1024 * 1024

REPORT_PID_THEN_SLEEP = """
import json, os, time
print(json.dumps({"type": "output", "pin": "pid", "value": os.getpid()}), flush=True)
time.sleep(30)
"""


def test_wall_clock_timeout(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        REPORT_PID_THEN_SLEEP,
        limits=ExecutionLimits(timeout_seconds=0.5, kill_grace_seconds=2),
    )
    run = run_attempt(spec)
    result = run.result

    assert result.outcome is AttemptOutcome.FAILED
    assert result.reason is FailureReason.TIMEOUT
    assert result.signal == signal.SIGTERM  # it died of the polite signal
    assert result.retryable is True
    assert "0.5 s" in result.message
    assert 0.5 <= run.seconds < 2
    [pid_event] = run.events
    assert isinstance(pid_event, OutputEvent)
    assert not in_process_table(pid_event.value)


def test_timeout_kills_an_agent_ignoring_sigterm(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(30)
""",
        limits=ExecutionLimits(timeout_seconds=0.5, kill_grace_seconds=0.5),
    )
    run = run_attempt(spec)

    assert run.result.reason is FailureReason.TIMEOUT
    assert run.result.signal == signal.SIGKILL
    assert 1.0 <= run.seconds < 3


def test_heartbeat_timeout(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        """
import json, time
print(json.dumps({"type": "heartbeat"}), flush=True)
time.sleep(30)
""",
        limits=ExecutionLimits(
            timeout_seconds=20, heartbeat_timeout_seconds=0.5, kill_grace_seconds=1
        ),
    )
    run = run_attempt(spec)

    assert run.result.reason is FailureReason.HEARTBEAT_TIMEOUT
    assert "0.5 s" in run.result.message
    assert run.seconds < 2


def test_heartbeating_agent_outlives_the_heartbeat_timeout(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        """
import json, time
for _ in range(12):
    print(json.dumps({"type": "heartbeat"}), flush=True)
    time.sleep(0.1)
print(json.dumps({"type": "output", "pin": "done", "value": True}), flush=True)
""",
        limits=ExecutionLimits(
            timeout_seconds=20, heartbeat_timeout_seconds=0.5, kill_grace_seconds=1
        ),
    )
    run = run_attempt(spec)

    assert run.result.outcome is AttemptOutcome.SUCCEEDED
    assert run.seconds > 1.0  # lived twice the heartbeat timeout
    assert run.result.outputs == {"done": True}


def test_stderr_does_not_count_as_heartbeat(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        """
import sys, time
for _ in range(30):
    print("busy", file=sys.stderr, flush=True)
    time.sleep(0.1)
""",
        limits=ExecutionLimits(
            timeout_seconds=20, heartbeat_timeout_seconds=0.5, kill_grace_seconds=1
        ),
    )
    assert run_attempt(spec).result.reason is FailureReason.HEARTBEAT_TIMEOUT


MEMORY_LIMITS = ExecutionLimits(timeout_seconds=20, memory_bytes=256 * MiB, kill_grace_seconds=1)


def test_memory_limit_stops_a_big_allocation(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "block = bytearray(1024 ** 3)\n", limits=MEMORY_LIMITS)
    result = run_attempt(spec).result

    assert result.reason is FailureReason.EXIT_CODE
    assert "MemoryError" in result.message
    assert "memory 256 MiB" in result.message


def test_memory_limit_leaves_room_for_a_normal_agent(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        """
import json, threading
block = bytearray(100 * 1024 ** 2)
threads = [threading.Thread(target=lambda: bytearray(10 ** 6)) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"type": "output", "pin": "ok", "value": len(block)}))
""",
        limits=MEMORY_LIMITS,
    )
    result = run_attempt(spec).result

    assert result.outcome is AttemptOutcome.SUCCEEDED, result.message
    assert result.outputs == {"ok": 100 * MiB}


def test_cpu_limit(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        "while True:\n    pass\n",
        limits=ExecutionLimits(timeout_seconds=20, cpu_seconds=1, kill_grace_seconds=1),
    )
    run = run_attempt(spec)
    result = run.result

    assert result.reason is FailureReason.SIGNAL
    assert result.signal == signal.SIGXCPU
    assert "SIGXCPU" in result.message
    assert "CPU 1 s" in result.message
    assert run.seconds < 5


def _flood(
    tmp_path: Path, source: str, limits: ExecutionLimits
) -> tuple[FailureReason | None, str, int, float]:
    spec = make_spec(tmp_path, source, limits=limits)
    tracemalloc.start()
    try:
        run = run_attempt(spec, keep_events=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return run.result.reason, run.result.message, peak, run.seconds


def test_one_huge_line_is_stopped_with_bounded_memory(tmp_path: Path) -> None:
    reason, message, peak, seconds = _flood(
        tmp_path,
        "import sys\nsys.stdout.write('x' * 100_000_000)\nsys.stdout.flush()\n",
        ExecutionLimits(timeout_seconds=20, max_line_bytes=1 * MiB, kill_grace_seconds=1),
    )

    assert reason is FailureReason.OUTPUT_LIMIT
    assert "line longer than 1048576 bytes" in message
    assert peak < 8 * MiB  # the 100 MB line never sat in MentatLab's memory
    assert seconds < 5


def test_endless_output_is_stopped_with_bounded_memory(tmp_path: Path) -> None:
    reason, message, peak, seconds = _flood(
        tmp_path,
        "import sys\nline = 'y' * 999 + '\\n'\nwhile True:\n    sys.stderr.write(line)\n"
        "    sys.stdout.write(line)\n",
        ExecutionLimits(timeout_seconds=20, max_output_bytes=4 * MiB, kill_grace_seconds=1),
    )

    assert reason is FailureReason.OUTPUT_LIMIT
    assert "more than 4194304 bytes" in message
    assert peak < 8 * MiB
    assert seconds < 5


def test_output_limit_counts_stdout_and_stderr_together(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        "import sys\nsys.stdout.write('a' * 600 + '\\n')\nsys.stderr.write('b' * 600 + '\\n')\n",
        limits=ExecutionLimits(timeout_seconds=20, max_output_bytes=1000),
    )
    assert run_attempt(spec).result.reason is FailureReason.OUTPUT_LIMIT


def test_output_within_limits_is_not_flooding(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        "import sys\nsys.stdout.write('a' * 999 + '\\n')\n",
        limits=ExecutionLimits(timeout_seconds=20, max_output_bytes=1000, max_line_bytes=999),
    )
    assert run_attempt(spec).result.outcome is AttemptOutcome.SUCCEEDED


def test_output_limit_hit_by_the_last_output_before_exit(tmp_path: Path) -> None:
    # A slow consumer of the first event keeps the driver from reading on until the agent
    # has exited: the limit is only noticed while draining, and still fails the attempt.
    spec = make_spec(
        tmp_path,
        "import os, time\nos.write(1, b'first\\n')\ntime.sleep(0.2)\n"
        "os.write(1, b'a' * 3000 + b'\\n')\n",
        limits=ExecutionLimits(timeout_seconds=20, max_output_bytes=2000),
    )

    async def slow(event: AgentEvent, cancel: asyncio.Event) -> None:
        await asyncio.sleep(0.5)

    run = run_attempt(spec, on_event=slow)

    assert run.result.reason is FailureReason.OUTPUT_LIMIT
    assert run.result.exit_code == 0
