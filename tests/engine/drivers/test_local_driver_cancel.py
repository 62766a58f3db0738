"""Cancelling an attempt stops the agent and everything it started."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from driver_helpers import in_process_table, make_spec, process_gone, run_attempt

from mentatlab.engine.drivers.base import AttemptOutcome, ExecutionLimits, FailureReason
from mentatlab.engine.drivers.local import LocalProcessDriver
from mentatlab.model.protocol import AgentEvent, OutputEvent

# The agent starts a grandchild, reports both pids, then waits.
FAMILY = """
import json, os, subprocess, sys, time
{prelude}
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(json.dumps({{"type": "output", "pin": "pids", "value": [os.getpid(), child.pid]}}),
      flush=True)
time.sleep(60)
"""


async def _cancel_on_pids(event: AgentEvent, cancel: asyncio.Event) -> None:
    if isinstance(event, OutputEvent) and event.pin == "pids":
        cancel.set()


def _pids(events: list[AgentEvent]) -> list[int]:
    for event in events:
        if isinstance(event, OutputEvent) and event.pin == "pids":
            return list(event.value)
    raise AssertionError("the agent did not report its pids")


def test_cancel_stops_the_agent_and_its_children(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, FAMILY.format(prelude=""))
    run = run_attempt(spec, on_event=_cancel_on_pids)

    assert run.result.outcome is AttemptOutcome.CANCELLED
    assert run.result.reason is FailureReason.CANCELLED
    assert run.seconds < 3
    agent, grandchild = _pids(run.events)
    assert not in_process_table(agent)  # dead and reaped
    assert process_gone(grandchild)


def test_cancel_escalates_to_sigkill(tmp_path: Path) -> None:
    prelude = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)"
    spec = make_spec(
        tmp_path,
        FAMILY.format(prelude=prelude),  # the grandchild inherits the ignored SIGTERM
        limits=ExecutionLimits(timeout_seconds=20, kill_grace_seconds=0.3),
    )
    run = run_attempt(spec, on_event=_cancel_on_pids)

    assert run.result.outcome is AttemptOutcome.CANCELLED
    assert 0.3 <= run.seconds < 3
    agent, grandchild = _pids(run.events)
    assert not in_process_table(agent)
    assert process_gone(grandchild)


def test_cancel_lets_the_agent_report_on_sigterm(tmp_path: Path) -> None:
    prelude = """
import signal
def stop(signum, frame):
    print(json.dumps({"type": "checkpoint", "state": "saved"}), flush=True)
    print(json.dumps({"type": "error", "code": "cancelled", "message": "stopped"}), flush=True)
    sys.exit(143)
signal.signal(signal.SIGTERM, stop)
"""
    spec = make_spec(tmp_path, FAMILY.format(prelude=prelude))
    run = run_attempt(spec, on_event=_cancel_on_pids)

    assert run.result.outcome is AttemptOutcome.CANCELLED
    assert run.result.last_checkpoint == "saved"
    assert run.result.exit_code == 143


def test_cancel_set_before_start(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "import time\ntime.sleep(30)\n")

    async def main() -> AttemptOutcome:
        cancel = asyncio.Event()
        cancel.set()

        async def ignore(event: AgentEvent) -> None:
            pass

        result = await LocalProcessDriver().run_attempt(spec, on_event=ignore, cancel=cancel)
        return result.outcome

    assert asyncio.run(main()) is AttemptOutcome.CANCELLED


def test_cancelling_the_driver_task_kills_the_agent(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, FAMILY.format(prelude=""))
    events: list[AgentEvent] = []

    async def main() -> None:
        reported = asyncio.Event()

        async def collect(event: AgentEvent) -> None:
            events.append(event)
            reported.set()

        task = asyncio.create_task(
            LocalProcessDriver().run_attempt(spec, on_event=collect, cancel=asyncio.Event())
        )
        await asyncio.wait_for(reported.wait(), timeout=10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    asyncio.run(main())

    assert time.monotonic() - started < 5
    agent, grandchild = _pids(events)
    assert not in_process_table(agent)
    assert process_gone(grandchild)
