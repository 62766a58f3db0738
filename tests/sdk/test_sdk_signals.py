"""Stopping an SDK agent: SIGTERM/SIGINT mid-run end it cleanly with a ``cancelled`` error."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import envelope, parse_events, write_agent

Start = Callable[[str], subprocess.Popen[bytes]]

SYNC = """
@agent
def main(ctx: Context) -> None:
    try:
        ctx.log("started")
        while True:
            try:
                time.sleep(0.01)
            except Exception:
                pass  # must not swallow the stop
    finally:
        ctx.log("cleaned up")
"""

ASYNC = """
@agent
async def main(ctx: Context) -> None:
    try:
        ctx.log("started")
        await asyncio.sleep(60)
    finally:
        ctx.log("cleaned up")
"""

COOPERATIVE = """
@agent
def main(ctx: Context) -> dict[str, object]:
    try:
        ctx.log("started")
        time.sleep(60)
    except Cancelled:
        pass  # swallowing the stop still ends the attempt as cancelled
    return {"cancelled_flag": ctx.cancelled}
"""

BUSY_WRITER = """
@agent(heartbeat=0.001)
def main(ctx: Context) -> None:
    ctx.log("started")
    while True:
        ctx.progress(50, "x" * 20000)
"""


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start an agent and return once its handler has logged "started"."""
    procs: list[subprocess.Popen[bytes]] = []

    def run(body: str) -> subprocess.Popen[bytes]:
        script = write_agent(tmp_path, body)
        stdin = tmp_path / "envelope.json"
        stdin.write_text(json.dumps(envelope()))
        with stdin.open("rb") as data:
            proc = subprocess.Popen(
                [sys.executable, str(script)],
                stdin=data,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                bufsize=0,
            )
        procs.append(proc)
        assert proc.stdout is not None
        # Heartbeats may come first; bufsize=0 so that nothing after this line is read ahead.
        line = json.loads(proc.stdout.readline())
        while line == {"type": "heartbeat"}:
            line = json.loads(proc.stdout.readline())
        assert line == {"type": "log", "level": "info", "message": "started"}
        return proc

    yield run
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def stop(proc: subprocess.Popen[bytes], signum: int) -> tuple[int, bytes]:
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=15)
    return proc.returncode, out


def cancelled(name: str) -> dict[str, object]:
    return {
        "type": "error",
        "code": "cancelled",
        "message": f"stopped by {name}",
        "retryable": True,
    }


@pytest.mark.parametrize("body", [SYNC, ASYNC], ids=["sync", "async"])
def test_sigterm_runs_finally_emits_cancelled_and_exits_143(start: Start, body: str) -> None:
    proc = start(body)
    code, out = stop(proc, signal.SIGTERM)
    assert code == 143
    assert parse_events(out) == [
        {"type": "log", "level": "info", "message": "cleaned up"},
        cancelled("SIGTERM"),
    ]


def test_sigint_exits_130(start: Start) -> None:
    proc = start(SYNC)
    code, out = stop(proc, signal.SIGINT)
    assert code == 130
    assert parse_events(out)[-1] == cancelled("SIGINT")


def test_a_handler_that_swallows_the_stop_is_still_cancelled(start: Start) -> None:
    proc = start(COOPERATIVE)
    code, out = stop(proc, signal.SIGTERM)
    assert code == 143
    assert parse_events(out) == [
        {"type": "output", "pin": "cancelled_flag", "value": True},
        cancelled("SIGTERM"),
    ]


def test_sigterm_during_a_flood_of_writes_never_cuts_a_line(start: Start) -> None:
    proc = start(BUSY_WRITER)
    code, out = stop(proc, signal.SIGTERM)
    assert code == 143
    events = parse_events(out)  # fails on any partial or interleaved line
    assert events[-1] == cancelled("SIGTERM")
    assert {event["type"] for event in events[:-1]} <= {"progress", "heartbeat"}
