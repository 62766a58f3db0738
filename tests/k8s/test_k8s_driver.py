"""KubernetesDriver against a real API server, with agents run by the fake kubelet.

Every test here runs real agent code: the fake kubelet (``fake_kubelet.py``) starts the
agent of each pod as a local process and reports its status through the API server, and
the driver reads its log through ``pods/log``. Requires ``make k8s-up`` (see k8s_cluster.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from k8s_cluster import Cluster, cluster, cogpak, run
from lightkube import ApiError
from lightkube.resources.core_v1 import Pod, Secret

from mentatlab.engine.drivers.base import AttemptOutcome, ExecutionLimits, FailureReason
from mentatlab.model.protocol import AgentEvent, LogEvent, OutputEvent, ProgressEvent

ECHO = """
    import json, os, sys
    envelope = json.load(sys.stdin)
    print(json.dumps({"type": "progress", "percent": 50, "message": "halfway"}), flush=True)
    print("plain text is a log line", flush=True)
    print(json.dumps({"type": "output", "pin": "result", "value": {
        "text": envelope["inputs"]["text"].upper(),
        "node": os.environ["MENTAT_NODE_ID"],
        "attempt": envelope["run"]["attempt"],
        "token": os.environ.get("API_TOKEN"),
        "home": os.environ.get("HOME"),
    }}), flush=True)
"""

SLOW = """
    import json, sys, time
    print(json.dumps({"type": "log", "message": "started"}), flush=True)
    time.sleep(4)
    print(json.dumps({"type": "output", "pin": "result", "value": "done"}), flush=True)
"""

HANG = """
    import json, time
    print(json.dumps({"type": "log", "message": "started"}), flush=True)
    time.sleep(600)
"""


async def exists(c: Cluster, kind: type[Pod] | type[Secret], name: str) -> bool:
    try:
        await c.client.get(kind, name, namespace=c.namespace)
    except ApiError as exc:
        assert exc.status.code == 404
        return False
    return True


def test_success_with_outputs_events_env_and_cleanup(tmp_path: Path) -> None:
    async def scenario() -> None:
        images = {"test/echo:1": cogpak(tmp_path / "echo", ECHO)}
        async with cluster(images) as c:
            await c.client.create(
                Secret.from_dict(
                    {
                        "metadata": {"name": "llm", "namespace": c.namespace},
                        "stringData": {"token": "tok-123"},
                    }
                )
            )
            c.manifest(
                env=[
                    {
                        "name": "API_TOKEN",
                        "valueFrom": {"secretKeyRef": {"name": "llm", "key": "token"}},
                    }
                ]
            )
            spec = c.spec("test/echo:1", inputs={"text": "hello"})
            outcome = await run(c.driver(), spec)
            assert outcome.result.outcome is AttemptOutcome.SUCCEEDED, outcome.result
            assert outcome.result.outputs == {
                "result": {
                    "text": "HELLO",
                    "node": "work[0]",
                    "attempt": 1,
                    "token": "tok-123",
                    "home": "/tmp",
                }
            }
            kinds = [type(e) for e in outcome.events]
            assert kinds == [ProgressEvent, LogEvent, OutputEvent]
            assert outcome.events[1] == LogEvent(level="info", message="plain text is a log line")
            name = c.pod_name(spec)
            assert c.kubelet.started_pods == [name]
            assert not await exists(c, Pod, name)  # GC policy "delete"
            assert not await exists(c, Secret, name)  # the envelope never outlives the attempt

    asyncio.run(scenario())


def test_failure_reports_exit_code_and_last_lines(tmp_path: Path) -> None:
    source = """
        import sys
        print("something went wrong", file=sys.stderr, flush=True)
        sys.exit(3)
    """

    async def scenario() -> None:
        async with cluster({"test/fail:1": cogpak(tmp_path / "fail", source)}) as c:
            outcome = await run(c.driver(), c.spec("test/fail:1"))
            result = outcome.result
            assert result.outcome is AttemptOutcome.FAILED
            assert result.reason is FailureReason.EXIT_CODE
            assert result.exit_code == 3
            assert "something went wrong" in result.message

    asyncio.run(scenario())


def test_oom_killed(tmp_path: Path) -> None:
    source = """
        import json, time
        print(json.dumps({"type": "log", "message": "allocating"}), flush=True)
        hog = b"x" * (300 * 2**20)
        time.sleep(30)
    """

    async def scenario() -> None:
        async with cluster({"test/hog:1": cogpak(tmp_path / "hog", source)}) as c:
            c.manifest(resources={"limits": {"memory": "100Mi"}})
            outcome = await run(c.driver(), c.spec("test/hog:1"))
            assert outcome.result.reason is FailureReason.OOM_KILLED, outcome.result
            assert outcome.result.exit_code == 137

    asyncio.run(scenario())


def test_deadline_exceeded_is_a_timeout(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster({"test/hang:1": cogpak(tmp_path / "hang", HANG)}) as c:
            spec = c.spec(
                "test/hang:1", limits=ExecutionLimits(timeout_seconds=2, kill_grace_seconds=1)
            )
            outcome = await run(c.driver(), spec)
            assert outcome.result.reason is FailureReason.TIMEOUT, outcome.result
            assert "activeDeadlineSeconds" in outcome.result.message

    asyncio.run(scenario())


def test_pod_deleted_mid_run_fails_retryably(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster({"test/hang:1": cogpak(tmp_path / "hang", HANG)}) as c:
            driver = c.driver()
            spec = c.spec("test/hang:1")
            name = c.pod_name(spec)

            async def delete_on_start(event: AgentEvent) -> None:
                await c.client.delete(Pod, name, namespace=c.namespace)

            outcome = await run(driver, spec, on_event=delete_on_start)
            assert outcome.result.outcome is AttemptOutcome.FAILED
            assert outcome.result.reason is FailureReason.POD_DELETED, outcome.result
            assert outcome.result.retryable
            assert not await exists(c, Pod, name)

    asyncio.run(scenario())


def test_cancel_deletes_the_pod(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster({"test/hang:1": cogpak(tmp_path / "hang", HANG)}) as c:
            driver = c.driver()
            spec = c.spec("test/hang:1")
            name = c.pod_name(spec)
            cancel = asyncio.Event()

            async def cancel_on_start(event: AgentEvent) -> None:
                cancel.set()

            outcome = await run(driver, spec, cancel=cancel, on_event=cancel_on_start)
            assert outcome.result.outcome is AttemptOutcome.CANCELLED, outcome.result
            assert not await exists(c, Pod, name)
            assert not await exists(c, Secret, name)

    asyncio.run(scenario())


def test_a_restarted_driver_adopts_the_running_pod(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster({"test/slow:1": cogpak(tmp_path / "slow", SLOW)}) as c:
            spec = c.spec("test/slow:1")
            first = c.driver()
            name = c.pod_name(spec)
            started = asyncio.Event()

            async def on_start(event: AgentEvent) -> None:
                started.set()

            task = asyncio.create_task(run(first, spec, on_event=on_start))
            await asyncio.wait_for(started.wait(), 60)
            task.cancel()  # the operator stops: its pods must keep running
            await asyncio.gather(task, return_exceptions=True)
            assert await exists(c, Pod, name)

            outcome = await run(c.driver(), spec)  # a new operator process, same attempt
            assert outcome.result.outcome is AttemptOutcome.SUCCEEDED, outcome.result
            assert outcome.result.outputs == {"result": "done"}
            assert c.kubelet.started_pods == [name], "adopted, not started twice"

    asyncio.run(scenario())


def test_an_image_that_cannot_be_pulled(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster({}) as c:
            outcome = await run(c.driver(), c.spec("test/missing:1"))
            assert outcome.result.reason is FailureReason.IMAGE_PULL, outcome.result
            assert "test/missing:1" in outcome.result.message

    asyncio.run(scenario())
