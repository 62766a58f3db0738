"""The server dying or stopping mid-run: no run is ever left running, no event is lost."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import psutil
from api_harness import Server, agent_pid, sse_events, ticker_flow, wait_until

from mentatlab.model.run import RunStatus


def _gone(pid: int, within: float = 15) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_kill_9_mid_run_then_restart_marks_the_run_interrupted(
    server_factory: Any, agents_dir: Path, db: str | None
) -> None:
    server: Server = server_factory(db=db)
    with server.client() as client:
        run_id = client.create_run(ticker_flow(steps=600, interval=0.05)).id
        before = []
        for event in client.follow_events(run_id):
            before.append(event)
            if len(before) >= 8:
                break
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    assert _gone(agent_pid(agents_dir)), "the agent outlived the server"

    server.start()  # same store: it finds the dead server's run
    with server.client() as client:
        record = client.get_run(run_id)
        replay = list(client.follow_events(run_id))  # ends: the run is over
    assert record.status is RunStatus.FAILED
    assert record.error is not None and record.error.reason == "interrupted"
    assert record.nodes["tick"].status == "failed"
    assert record.nodes["after"].status == "skipped"
    seqs = [event.seq for event in replay]
    assert seqs == list(range(1, len(seqs) + 1))
    assert replay[: len(before)] == before  # what was written before the kill is intact
    assert replay[-1].data["status"] == "failed"
    assert replay[-1].data["error"]["reason"] == "interrupted"


def test_sigterm_cancels_runs_in_flight_and_ends_their_streams(
    server_factory: object, agents_dir: object
) -> None:
    server: Server = server_factory("--workers", "1")  # type: ignore[operator]
    with server.client() as client, server.http(server.admin_key) as http:
        running = client.create_run(ticker_flow(steps=600, interval=0.05)).id
        wait_until(lambda: client.get_run(running).status is RunStatus.RUNNING)
        queued = client.create_run(ticker_flow(steps=600, interval=0.05)).id
        with http.stream("GET", f"/api/v1/runs/{running}/events") as stream:
            lines = stream.iter_lines()
            assert next(lines).startswith("id: ")
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            # the open stream still gets the run's final events, then ends
            events = [e for e in sse_events(lines) if "comment" not in e]
        assert events[-1]["data"]["data"]["status"] == "cancelled"
    assert server.process.wait(timeout=60) == -signal.SIGTERM
    server.process = None
    assert _gone(agent_pid(agents_dir))  # type: ignore[arg-type]
    server.start()
    with server.client() as client:
        assert client.get_run(running).status is RunStatus.CANCELLED
        assert client.get_run(queued).status is RunStatus.CANCELLED
        assert client.get_run(running).nodes["tick"].status == "cancelled"
