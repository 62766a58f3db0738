"""The operator on the real control plane: FlowRuns run as pods and report back."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from lightkube.resources.core_v1 import Pod
from operator_harness import FLAKY, REPO, SLEEPY, example, flow_of, make_agent, operated

from mentatlab.model.run import RunStatus
from mentatlab.operator.resources import AgentResource


def test_flowrun_runs_the_demo_flow_as_pods(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with operated(tmp_path) as env:
            await env.register(
                *(REPO / "agents" / n for n in ("keywords", "summarize", "sentiment"))
            )
            name = await env.submit(example("hello.flow.yaml"))
            obj = await env.wait_for(name, {"Succeeded", "Failed"})
            status = obj["status"]
            assert status["phase"] == "Succeeded", status
            assert status["progress"] == "5/5"
            mood = status["nodes"]["mood"]
            assert mood["outputs"]["label"] == "positive" and mood["outputs"]["score"] > 0.5
            conditions = {c["type"]: c["status"] for c in status["conditions"]}
            assert conditions == {"Ready": "True", "Succeeded": "True", "Failed": "False"}
            record = env.store.get_run(status["runId"])  # the same event log as a local run
            assert record.status is RunStatus.SUCCEEDED
            assert record.outputs["report"]["sentiment"] == "positive"
            started = env.cluster.kubelet.started_pods
            assert len(started) == 3 and mood["podName"] in started  # one pod per agent node
            # podGC OnRunCompletion (the default): deleted once the run has finished
            await env.wait_for_pods({})
            await env.events(name, reasons={"Started", "NodeRunning", "NodeSucceeded", "Succeeded"})

    asyncio.run(scenario())


def test_failed_attempts_retry_as_new_pods(tmp_path: Path) -> None:
    image, cogpak = make_agent(
        tmp_path / "flaky",
        "t.flaky",
        FLAKY,
        retries={"limit": 2, "backoff": {"initialSeconds": 0.1}},
    )

    async def scenario() -> None:
        async with operated(tmp_path / "home", {image: cogpak}) as env:
            await env.register(cogpak)
            name = await env.submit(flow_of([{"id": "f", "type": "t.flaky"}]))
            status = (await env.wait_for(name, {"Succeeded", "Failed"}))["status"]
            assert status["phase"] == "Succeeded", status
            assert status["nodes"]["f"]["attempts"] == 2
            assert len(env.cluster.kubelet.started_pods) == 2  # one pod per attempt
            attempts = env.store.get_attempts(status["runId"], "f")
            assert [(a.attempt, a.status.value) for a in attempts] == [
                (1, "failed"),
                (2, "succeeded"),
            ]
            assert attempts[0].exit_code == 3

    asyncio.run(scenario())


def test_pods_carry_resources_security_context_labels_and_owner(tmp_path: Path) -> None:
    image, cogpak = make_agent(
        tmp_path / "sleepy",
        "t.sleepy",
        SLEEPY,
        resources={
            "requests": {"cpu": "250m", "memory": "64Mi"},
            "limits": {"cpu": "1", "memory": "256Mi", "gpu": 1},
            "timeoutSeconds": 300,
        },
    )

    async def scenario() -> None:
        async with operated(tmp_path / "home", {image: cogpak}) as env:
            await env.register(cogpak)
            name = await env.submit(flow_of([{"id": "nap", "type": "t.sleepy"}]))
            pod = None
            for _ in range(300):
                pods = await env.pods()
                if pods:
                    pod = pods[0]
                    break
                await asyncio.sleep(0.1)
            assert pod is not None and pod.spec is not None and pod.metadata is not None
            flowrun = await env.flowrun(name)
            owner = pod.metadata.ownerReferences[0]
            assert (owner.kind, owner.name, owner.uid) == (
                "FlowRun",
                name,
                flowrun["metadata"]["uid"],
            )
            labels = pod.metadata.labels or {}
            assert labels["mentatlab.io/flowrun"] == name
            assert labels["mentatlab.io/node"] == "nap"
            assert labels["app.kubernetes.io/managed-by"] == "mentatlab-operator"
            container = pod.spec.containers[0]
            assert container.image == image
            resources = container.resources
            assert resources is not None and resources.limits is not None
            assert resources.limits["nvidia.com/gpu"] == "1"
            assert resources.limits["memory"] == "256Mi"
            assert resources.requests is not None and resources.requests["cpu"] == "250m"
            assert pod.spec.activeDeadlineSeconds == 300
            pod_security = pod.spec.securityContext
            assert pod_security is not None and pod_security.runAsNonRoot is True
            assert pod_security.seccompProfile is not None
            assert pod_security.seccompProfile.type == "RuntimeDefault"
            security = container.securityContext
            assert security is not None and security.allowPrivilegeEscalation is False
            assert security.readOnlyRootFilesystem is True
            assert security.capabilities is not None and security.capabilities.drop == ["ALL"]
            spec_text = str(pod.to_dict())
            assert "envelope" in spec_text and '"inputs"' not in spec_text

    asyncio.run(scenario())


def test_cancel_stops_the_pods_and_cancels_the_run(tmp_path: Path) -> None:
    image, cogpak = make_agent(tmp_path / "sleepy", "t.sleepy", SLEEPY)

    async def scenario() -> None:
        async with operated(tmp_path / "home", {image: cogpak}) as env:
            await env.register(cogpak)
            flow = flow_of(
                [{"id": "nap", "type": "t.sleepy"}, {"id": "after", "type": "t.sleepy"}],
                [("nap.result", "after.text")],
            )
            name = await env.submit(flow)
            await env.wait_for_node(name, "nap", "Running")
            await env.patch_spec(name, {"cancel": True})
            status = (await env.wait_for(name, {"Cancelled", "Failed", "Succeeded"}))["status"]
            assert status["phase"] == "Cancelled", status
            assert status["nodes"]["nap"]["phase"] == "Cancelled"
            assert status["nodes"]["after"]["phase"] == "Cancelled"
            for _ in range(100):
                if not await env.pods():
                    break
                await asyncio.sleep(0.1)
            assert await env.pods() == []

    asyncio.run(scenario())


def test_invalid_flowrun_fails_with_a_condition_and_no_pods(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with operated(tmp_path / "home") as env:
            name = await env.submit(flow_of([{"id": "x", "type": "nobody.knows"}]))
            status = (await env.wait_for(name, {"Failed"}))["status"]
            ready = next(c for c in status["conditions"] if c["type"] == "Ready")
            assert ready["reason"] == "Invalid"
            assert "nobody.knows" in status["message"]
            assert env.cluster.kubelet.started_pods == [] and await env.pods() == []

    asyncio.run(scenario())


def test_mentatctl_k8s_submit_creates_everything_and_waits(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with operated(tmp_path / "home") as env:
            process = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).with_name("mentatctl")),
                "k8s",
                "submit",
                "examples/hello.flow.yaml",
                "-n",
                env.namespace,
                "--wait",
                "--timeout",
                "120",
                cwd=REPO,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await process.communicate()
            text = out.decode()
            assert process.returncode == 0, text + err.decode()
            assert "mood succeeded" in text and "Succeeded" in text
            agents = [
                a async for a in env.cluster.client.list(AgentResource, namespace=env.namespace)
            ]
            assert {a.metadata.name for a in agents if a.metadata} == {
                "mentatlab.keywords-1.0.0",
                "mentatlab.summarize-1.0.0",
                "mentatlab.sentiment-1.0.0",
            }

    asyncio.run(scenario())


def test_submit_of_an_invalid_flow_creates_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.flow.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: Flow\nmeta: {id: x, name: x}\n"
        "graph: {nodes: [{id: a, type: nobody.knows}], edges: []}\n"
    )
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("mentatctl")),
            "k8s",
            "submit",
            str(bad),
            "-n",
            "default",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "flow.agent-ref" in result.stderr and "not submitted" in result.stderr
    assert "Traceback" not in result.stderr


NAP = """\
import json, sys, time
json.load(sys.stdin)
time.sleep(1.5)
print(json.dumps({"type": "output", "pin": "result", "value": "done"}))
"""


def test_max_parallel_bounds_running_pods_and_kubectl_shows_progress(tmp_path: Path) -> None:
    image, cogpak = make_agent(tmp_path / "nap", "t.nap", NAP)

    async def scenario() -> None:
        async with operated(tmp_path / "home", {image: cogpak}) as env:
            await env.register(cogpak)
            flow = flow_of([{"id": f"n{i}", "type": "t.nap"} for i in range(4)])
            name = await env.submit(flow, maxParallel=2)
            status = (await env.wait_for(name, {"Succeeded", "Failed"}))["status"]
            assert status["phase"] == "Succeeded", status
            running, peak = 0, 0
            for event in env.store.read_events(status["runId"]):
                if event.type == "node.status" and event.node is not None:
                    if event.data["status"] == "running":
                        running += 1
                    elif event.data["status"] == "succeeded":
                        running -= 1
                    peak = max(peak, running)
            assert peak == 2
            shown = subprocess.run(
                ["kubectl", "get", "flowruns", "-n", env.namespace, name],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            assert shown[:4] == ["NAME", "FLOW", "PHASE", "PROGRESS"]
            assert "Succeeded" in shown and "4/4" in shown

    asyncio.run(scenario())


def test_a_100_node_flowrun_completes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with operated(tmp_path / "home") as env:
            await env.register(REPO / "agents" / "echo")
            nodes = [{"id": "src", "type": "ui.prompt", "outputs": {"text": "hi"}}]
            nodes += [
                {"id": f"e{i}", "type": "mentatlab.echo", "params": {"prompt": str(i)}}
                for i in range(98)
            ]
            nodes.append({"id": "join", "type": "ui.console"})
            edges = [("src.text", f"e{i}.text") for i in range(98)]
            edges += [(f"e{i}.result", f"join.r{i}") for i in range(98)]
            name = await env.submit(flow_of(nodes, edges), podGC="OnPodCompletion")
            status = (await env.wait_for(name, {"Succeeded", "Failed"}, timeout=600))["status"]
            assert status["phase"] == "Succeeded", status.get("message")
            assert status["progress"] == "100/100"
            record = env.store.get_run(status["runId"])
            assert record.outputs["join"]["r97"] == "97: hi"
            assert len(env.cluster.kubelet.started_pods) == 98

    asyncio.run(scenario())


def test_a_pod_deleted_mid_run_is_reported_and_retried(tmp_path: Path) -> None:
    image, cogpak = make_agent(
        tmp_path / "sleepy",
        "t.sleepy",
        SLEEPY,
        retries={"limit": 1, "backoff": {"initialSeconds": 0.1}},
    )

    async def scenario() -> None:
        async with operated(tmp_path / "home", {image: cogpak}) as env:
            await env.register(cogpak)
            name = await env.submit(flow_of([{"id": "nap", "type": "t.sleepy"}]))
            await env.wait_for_node(name, "nap", "Running")
            first = (await env.flowrun(name))["status"]["nodes"]["nap"]["podName"]
            await env.cluster.client.delete(Pod, first, namespace=env.namespace)
            await env.wait_for_attempt(name, "nap", 2)
            (cogpak / "release").touch()
            status = (await env.wait_for(name, {"Succeeded", "Failed"}))["status"]
            assert status["phase"] == "Succeeded", status
            attempts = env.store.get_attempts(status["runId"], "nap")
            assert [(a.attempt, a.status.value) for a in attempts] == [
                (1, "failed"),
                (2, "succeeded"),
            ]
            assert attempts[0].error_reason == "pod_deleted"
            assert len(env.cluster.kubelet.started_pods) == 2

    asyncio.run(scenario())
