"""Runs through a real server: submit, follow, list, get, cancel — as the CLI sees them too."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
from api_harness import (
    MENTATCTL,
    REPO,
    Keys,
    Server,
    hello_flow,
    quick_flow,
    ticker_flow,
    wait_until,
)

from mentatlab.client import ApiError
from mentatlab.model.run import EventType, RunStatus
from mentatlab.store import open_store


def _stored_record(server: Server, run_id: str) -> dict[str, object]:
    """The record as `mentatctl runs get --output json` prints it from the server's store."""
    if server.db is not None:  # the CLI reads PostgreSQL stores only through a server
        with open_store(url=server.db) as store:
            return store.get_run(run_id).model_dump(mode="json")
    env = {**os.environ, "MENTATLAB_HOME": str(server.home)}
    result = subprocess.run(
        [MENTATCTL, "runs", "get", run_id, "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    record: dict[str, object] = json.loads(result.stdout)
    return record


def test_hello_flow_runs_on_the_server_and_streams_every_event(
    server_factory: Any, db: str | None
) -> None:
    server: Server = server_factory(db=db)
    with server.client() as admin:
        keys = Keys(
            admin=server.admin_key,
            write=admin.create_key("writer", ["write"]).key,
            read=admin.create_key("reader", ["read"]).key,
        )
    with server.client(keys.write) as client:
        created = client.create_run(hello_flow())
        assert created.status is RunStatus.QUEUED
        events = list(client.follow_events(created.id))
        record = client.get_run(created.id)
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    assert events[0].type is EventType.RUN_STATUS and events[0].data["status"] == "running"
    assert events[-1].data["status"] == "succeeded"
    assert record.status is RunStatus.SUCCEEDED
    assert record.outputs["report"]["sentiment"] == "positive"
    # GET /runs/{id} is the record `mentatctl runs get --output json` prints from the store
    with server.http(keys.read) as http:
        raw = http.get(f"/api/v1/runs/{created.id}").json()
    assert raw == _stored_record(server, created.id)
    assert raw == record.model_dump(mode="json")


def test_runs_are_listed_newest_first_a_page_at_a_time(server: Server, keys: Keys) -> None:
    with server.client(keys.write) as client:
        ids = [client.create_run(quick_flow(f"t.quick{i}")).id for i in range(3)]
        for run_id in ids:
            wait_until(lambda r=run_id: client.get_run(r).status is RunStatus.SUCCEEDED)
        listed = [record.id for record in client.list_runs(page_size=2)]
        assert listed == ids[::-1]
        succeeded = list(client.list_runs(status=RunStatus.SUCCEEDED, page_size=1))
        assert [record.id for record in succeeded] == ids[::-1]
        assert list(client.list_runs(status=RunStatus.FAILED)) == []
    with server.http(keys.read) as http:
        first = http.get("/api/v1/runs", params={"limit": 2}).json()
        assert [item["id"] for item in first["items"]] == ids[:0:-1]
        second = http.get("/api/v1/runs", params={"limit": 2, "cursor": first["next_cursor"]})
        assert [item["id"] for item in second.json()["items"]] == ids[:1]
        assert second.json()["next_cursor"] is None


def test_run_inputs_reach_the_flow(server: Server, keys: Keys) -> None:
    flow = quick_flow()
    flow["graph"]["nodes"][1] = {"id": "show", "type": "ui.console"}
    flow["graph"]["nodes"].append({"id": "echo", "type": "mentatlab.echo"})
    flow["graph"]["edges"].append({"from": "echo.result", "to": "show.echoed"})
    with server.client(keys.write) as client:
        created = client.create_run(flow, {"echo.text": "from the request"})
        list(client.follow_events(created.id))
        record = client.get_run(created.id)
    assert record.status is RunStatus.SUCCEEDED, record.error
    assert record.inputs == {"echo.text": "from the request"}
    assert record.outputs["show"]["echoed"] == "from the request"


def test_cancel_stops_a_running_run(server: Server, keys: Keys) -> None:
    with server.client(keys.write) as client:
        created = client.create_run(ticker_flow(steps=600, interval=0.1))
        wait_until(
            lambda: client.get_run(created.id).nodes["tick"].progress is not None,
            message="the agent to report progress",
        )
        assert client.cancel_run(created.id).id == created.id
        events = list(client.follow_events(created.id))
        record = client.get_run(created.id)
        assert events[-1].data["status"] == "cancelled"
        assert record.status is RunStatus.CANCELLED
        assert record.nodes["tick"].status == "cancelled"
        with pytest.raises(ApiError) as finished:
            client.cancel_run(created.id)
    assert finished.value.status == 409
    assert finished.value.problem.type == "urn:mentatlab:problem:run-finished"


def test_runs_beyond_the_worker_pool_wait_queued(
    server_factory: object, agents_dir: object
) -> None:
    server: Server = server_factory("--workers", "1")  # type: ignore[operator]
    with server.client() as client:
        first = client.create_run(ticker_flow(steps=600, interval=0.1))
        wait_until(lambda: client.get_run(first.id).status is RunStatus.RUNNING)
        second = client.create_run(quick_flow())
        with server.http(server.admin_key) as http:
            metrics = http.get("/metrics").text
        assert "mentatlab_runs_queued 1.0" in metrics
        assert client.get_run(second.id).status is RunStatus.QUEUED
        # cancelled while queued: it ends at once, without waiting for the worker
        client.cancel_run(second.id)
        wait_until(lambda: client.get_run(second.id).status is RunStatus.CANCELLED)
        assert client.get_run(first.id).status is RunStatus.RUNNING
        client.cancel_run(first.id)
        wait_until(lambda: client.get_run(first.id).status is RunStatus.CANCELLED)
        third = client.create_run(quick_flow())
        wait_until(lambda: client.get_run(third.id).status is RunStatus.SUCCEEDED)
