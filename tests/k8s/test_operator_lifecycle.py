"""The operator on the real control plane: evictions, pod garbage collection, FlowRun expiry.

Pods run real agents on the fake kubelet's node; the Eviction API, the garbage collector and
the API server's deletion rules are Kubernetes' own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Pod
from operator_harness import FLAKY, SLEEPY, Operated, flow_of, make_agent, operated

QUICK = """\
import json, sys
json.load(sys.stdin)
print(json.dumps({"type": "output", "pin": "result", "value": "quick"}))
"""
RETRY_FAST: dict[str, Any] = {"limit": 1, "backoff": {"initialSeconds": 0.1}}


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    """Until ``check()`` returns true."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"{check.__name__} never held"
        await asyncio.sleep(0.2)


async def exists(env: Operated, flowrun: str) -> bool:
    try:
        await env.flowrun(flowrun)
    except ApiError as exc:
        if exc.status.code == 404:
            return False
        raise
    return True


async def started(env: Operated, count: int) -> list[str]:
    """The pods the fake kubelet has started, once there are ``count``."""

    async def enough() -> bool:
        return len(env.cluster.kubelet.started_pods) >= count

    await eventually(enough)
    return list(env.cluster.kubelet.started_pods)


def test_an_evicted_pod_is_reported_and_retried_as_a_new_pod(tmp_path: Path) -> None:
    image, cogpak = make_agent(tmp_path / "sleepy", "t.sleepy", SLEEPY, retries=RETRY_FAST)

    async def scenario() -> None:
        async with operated(tmp_path / "home", {image: cogpak}) as env:
            await env.register(cogpak)
            name = await env.submit(flow_of([{"id": "nap", "type": "t.sleepy"}]))
            await env.wait_for_node(name, "nap", "Running")
            first = (await env.flowrun(name))["status"]["nodes"]["nap"]["podName"]
            assert await started(env, 1) == [first]  # its agent runs
            # The Eviction API (as kubectl drain uses it): the API server marks the pod with a
            # DisruptionTarget condition, then deletes it; the kubelet stops the agent.
            eviction = Pod.Eviction(metadata=ObjectMeta(name=first, namespace=env.namespace))
            await env.cluster.client.create(eviction, name=first, namespace=env.namespace)
            await env.wait_for_attempt(name, "nap", 2)
            second = (await env.flowrun(name))["status"]["nodes"]["nap"]["podName"]
            assert second != first
            await env.wait_for_pods({second: "Running"})  # the evicted pod is gone for good
            (cogpak / "release").touch()
            status = (await env.wait_for(name, {"Succeeded", "Failed"}))["status"]
            assert status["phase"] == "Succeeded", status
            assert status["nodes"]["nap"]["attempts"] == 2
            attempts = env.store.get_attempts(status["runId"], "nap")
            assert [(a.attempt, a.status.value, a.error_reason) for a in attempts] == [
                (1, "failed", "evicted"),
                (2, "succeeded", None),
            ]
            assert "EvictionByEvictionAPI" in (attempts[0].error_message or "")
            # The node went back to pending (to be retried) the moment its pod was evicted.
            changes = [
                (event.attempt, event.data["status"], event.data.get("error", {}).get("reason"))
                for event in env.store.read_events(status["runId"])
                if event.type == "node.status" and event.node == "nap"
            ]
            assert changes == [
                (1, "running", None),
                (1, "pending", "evicted"),
                (2, "running", None),
                (2, "succeeded", None),
            ]
            assert env.cluster.kubelet.started_pods == [first, second]
            await env.wait_for_pods({})

    asyncio.run(scenario())


@pytest.mark.parametrize("policy", ["OnPodCompletion", "OnRunCompletion", "Never"])
def test_pod_gc_decides_when_finished_pods_go(tmp_path: Path, policy: str) -> None:
    flaky_image, flaky = make_agent(tmp_path / "flaky", "t.flaky", FLAKY, retries=RETRY_FAST)
    sleepy_image, sleepy = make_agent(tmp_path / "sleepy", "t.sleepy", SLEEPY)

    async def scenario() -> None:
        async with operated(tmp_path / "home", {flaky_image: flaky, sleepy_image: sleepy}) as env:
            await env.register(flaky, sleepy)
            flow = flow_of(
                [{"id": "first", "type": "t.flaky"}, {"id": "then", "type": "t.sleepy"}],
                [("first.result", "then.text")],
            )
            name = await env.submit(flow, podGC=policy)
            await env.wait_for_node(name, "then", "Running")
            # first: attempt 1 (exit 3) and attempt 2; then: attempt 1
            failed, succeeded, running = await started(env, 3)
            # The kubelet reports Running a moment after it started the agent.
            if policy == "OnPodCompletion":  # each pod goes as soon as its attempt has ended
                await env.wait_for_pods({running: "Running"})
            else:
                await env.wait_for_pods(
                    {failed: "Failed", succeeded: "Succeeded", running: "Running"}
                )
            (sleepy / "release").touch()
            status = (await env.wait_for(name, {"Succeeded", "Failed"}))["status"]
            assert status["phase"] == "Succeeded", status

            if policy == "Never":
                kept = {failed: "Failed", succeeded: "Succeeded", running: "Succeeded"}
                await env.wait_for_pods(kept)
                await asyncio.sleep(3)  # the operator is done with the run: still all there
                assert await env.pod_phases() == kept
            else:
                await env.wait_for_pods({})

    asyncio.run(scenario())


def test_a_finished_flowrun_is_deleted_after_its_ttl_with_its_pods(tmp_path: Path) -> None:
    image, cogpak = make_agent(tmp_path / "quick", "t.quick", QUICK)
    ttl = 4

    async def scenario() -> None:
        async with operated(tmp_path / "home", {image: cogpak}) as env:
            await env.register(cogpak)
            name = await env.submit(
                flow_of([{"id": "q", "type": "t.quick"}]),
                ttlSecondsAfterFinished=ttl,
                podGC="Never",
            )
            status = (await env.wait_for(name, {"Succeeded", "Failed"}))["status"]
            assert status["phase"] == "Succeeded", status
            finished = datetime.strptime(status["finishedAt"], "%Y-%m-%dT%H:%M:%SZ")
            finished = finished.replace(tzinfo=UTC)
            assert list(await env.pod_phases()) == [status["nodes"]["q"]["podName"]]

            async def flowrun_gone() -> bool:
                return not await exists(env, name)

            await eventually(flowrun_gone, timeout=ttl + 30)
            waited = (datetime.now(UTC) - finished).total_seconds()
            assert waited >= ttl - 1, waited  # finishedAt has whole seconds
            # The kept pod is owned by the FlowRun: the garbage collector removes it.
            await env.wait_for_pods({})
            assert env.store.get_run(status["runId"]).status.value == "succeeded"

    asyncio.run(scenario())


def test_an_invalid_flowrun_expires_too(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with operated(tmp_path / "home") as env:
            flow = flow_of([{"id": "x", "type": "nobody.knows"}])
            # Long enough for the test to read the refusal before the FlowRun goes.
            name = await env.submit(flow, ttlSecondsAfterFinished=5)
            status = (await env.wait_for(name, {"Failed"}))["status"]
            assert status["finishedAt"]

            async def flowrun_gone() -> bool:
                return not await exists(env, name)

            await eventually(flowrun_gone)

    asyncio.run(scenario())
