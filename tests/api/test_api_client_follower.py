"""How the client decodes event streams and decides to resume or stop, without a server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from mentatlab.client import ApiError, ReconnectPolicy
from mentatlab.client._calls import EventFollower
from mentatlab.model.api import Problem
from mentatlab.model.run import RunRecord, RunStatus


def _lines(seq: int, status: str | None = None) -> list[str]:
    event = {
        "run_id": "r1",
        "seq": seq,
        "ts": datetime.now(UTC).isoformat(),
        "type": "run.status" if status else "log",
        "data": {"status": status} if status else {"message": "x"},
    }
    text = json.dumps(event)
    half = text.index('"seq"')
    # a data field split over two lines is joined with a newline, whitespace to JSON
    return [f"id: {seq}", "event: x", f"data: {text[:half]}", f"data:{text[half:]}", ""]


def _record(status: RunStatus) -> RunRecord:
    return RunRecord(id="r1", status=status, created_at=datetime.now(UTC))


def _follower() -> EventFollower:
    return EventFollower("r1", ReconnectPolicy(max_attempts=2, initial_delay=0.1))


def test_events_are_decoded_once_and_in_order_across_streams() -> None:
    follower = _follower()
    first = [e.seq for line in [": ping", *_lines(1), *_lines(2)] for e in follower.feed(line)]
    # a resumed stream that repeats what was seen, as after a reconnect
    again = [line for seq in (1, 2, 3) for line in _lines(seq)] + _lines(4, "succeeded")
    second = [e.seq for line in again for e in follower.feed(line)]
    assert first == [1, 2] and second == [3, 4]
    assert follower.finished and follower.last_seq == 4


def test_a_half_received_event_is_dropped_on_reconnect() -> None:
    follower = _follower()
    for line in _lines(1)[:3]:
        assert list(follower.feed(line)) == []
    request = follower.request(httpx.Client(base_url="http://x"))
    assert "last-event-id" not in request.headers
    assert [e.seq for line in _lines(1) for e in follower.feed(line)] == [1]
    request = follower.request(httpx.Client(base_url="http://x"))
    assert request.headers["last-event-id"] == "1"


def test_dropped_connections_back_off_until_attempts_run_out() -> None:
    follower = _follower()
    error = httpx.ReadError("reset")
    assert follower.retry_delay(error) == pytest.approx(0.1)
    assert follower.retry_delay(error) == pytest.approx(0.2)
    with pytest.raises(httpx.ReadError):
        follower.retry_delay(error)


def test_client_errors_are_not_retried() -> None:
    problem = Problem(title="Not Found", status=404, detail="no run", instance="/x")
    with pytest.raises(ApiError):
        _follower().retry_delay(ApiError(problem))
    unavailable = Problem(title="Service Unavailable", status=503, detail="x", instance="/x")
    assert _follower().retry_delay(ApiError(unavailable)) > 0


def test_a_stream_ending_early_on_a_finished_run_is_drained_once() -> None:
    follower = _follower()
    assert follower.ended(_record(RunStatus.RUNNING)) == pytest.approx(0.1)  # server stopping
    assert follower.ended(_record(RunStatus.SUCCEEDED)) == 0  # one more stream, at once
    assert not follower.finished
    assert follower.ended(_record(RunStatus.SUCCEEDED)) is None  # it brought nothing new
    assert follower.finished
