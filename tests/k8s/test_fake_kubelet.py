"""The fake kubelet on its own: a hand-made pod on its Node runs, reports and logs like a kubelet's.

Requires the control plane (see k8s_cluster.py). No MentatLab driver is involved: the pod is
created directly and observed through plain API calls, so a driver bug cannot hide a kubelet bug.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from fake_kubelet import FAKE_KUBELET_LABEL, FAKE_KUBELET_VALUE
from k8s_cluster import Cluster, cluster, cogpak
from lightkube import ApiError
from lightkube.resources.core_v1 import Node, Pod, Secret

AGENT = """
    import sys
    data = sys.stdin.read()
    print("got " + data.strip(), flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    sys.exit(int(data.strip() or 0))
"""


async def make_pod(c: Cluster, name: str, stdin: str) -> None:
    await c.client.create(
        Secret.from_dict(
            {
                "metadata": {"name": name, "namespace": c.namespace},
                "data": {"envelope.json": base64.b64encode(stdin.encode()).decode()},
            }
        )
    )
    await c.client.create(
        Pod.from_dict(
            {
                "metadata": {"name": name, "namespace": c.namespace},
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": {FAKE_KUBELET_LABEL: FAKE_KUBELET_VALUE},
                    "tolerations": [t.to_dict() for t in c.kubelet.tolerations],
                    "containers": [
                        {
                            "name": "agent",
                            "image": "test/exit:1",
                            "command": ["/bin/sh", "-c", "ignored by the fake kubelet", "sh"],
                            "args": ["python", "agent.py"],
                        }
                    ],
                    "volumes": [{"name": "input", "secret": {"secretName": name}}],
                },
            }
        )
    )


async def wait_phase(c: Cluster, name: str, phases: set[str]) -> Pod:
    async with asyncio.timeout(60):
        while True:
            pod = await c.client.get(Pod, name, namespace=c.namespace)
            if pod.status is not None and pod.status.phase in phases:
                return pod
            await asyncio.sleep(0.2)


def test_node_is_ready_and_kept_from_ordinary_pods(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster({}) as c:
            node = await c.client.get(Node, c.kubelet.node_name)
            assert node.metadata is not None and node.metadata.labels is not None
            assert node.metadata.labels[FAKE_KUBELET_LABEL] == FAKE_KUBELET_VALUE
            assert "kwok.x-k8s.io/node" not in (node.metadata.annotations or {})
            assert node.spec is not None and node.spec.taints is not None
            assert [t.key for t in node.spec.taints] == [FAKE_KUBELET_LABEL]
            assert node.status is not None and node.status.conditions is not None
            ready = next(x for x in node.status.conditions if x.type == "Ready")
            assert ready.status == "True"

    asyncio.run(scenario())


def test_pod_runs_reports_exit_code_and_serves_its_log(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with cluster({"test/exit:1": cogpak(tmp_path / "exit", AGENT)}) as c:
            await make_pod(c, "ok", "0")
            await make_pod(c, "bad", "4")
            ok = await wait_phase(c, "ok", {"Succeeded", "Failed"})
            bad = await wait_phase(c, "bad", {"Succeeded", "Failed"})
            assert ok.status is not None and ok.status.phase == "Succeeded"
            assert bad.status is not None and bad.status.phase == "Failed"
            statuses = bad.status.containerStatuses or []
            assert statuses[0].state is not None and statuses[0].state.terminated is not None
            assert statuses[0].state.terminated.exitCode == 4
            # Through the API server's pods/log proxy, as kubectl logs would read it.
            lines = [line async for line in c.client.log("bad", namespace=c.namespace)]
            assert lines == ["got 4\n", "to stderr\n"]

    asyncio.run(scenario())


def test_deleting_a_pod_stops_its_agent_and_removes_it(tmp_path: Path) -> None:
    source = """
        import sys, time
        sys.stdin.read()
        print("up", flush=True)
        time.sleep(600)
    """

    async def scenario() -> None:
        async with cluster({"test/exit:1": cogpak(tmp_path / "sleep", source)}) as c:
            await make_pod(c, "sleeper", "")
            await wait_phase(c, "sleeper", {"Running"})
            await c.client.delete(Pod, "sleeper", namespace=c.namespace, grace_period=1)
            async with asyncio.timeout(30):
                while True:
                    try:
                        await c.client.get(Pod, "sleeper", namespace=c.namespace)
                    except ApiError as exc:
                        assert exc.status.code == 404
                        break
                    await asyncio.sleep(0.2)

    asyncio.run(scenario())
