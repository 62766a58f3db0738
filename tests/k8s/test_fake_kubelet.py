"""The fake kubelet on its own: a hand-made pod on its Node runs, reports and logs like a kubelet's.

Requires the control plane (see k8s_cluster.py). No MentatLab driver is involved: the pod is
created directly and observed through plain API calls, so a driver bug cannot hide a kubelet bug.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

from fake_kubelet import FAKE_KUBELET_LABEL, FAKE_KUBELET_VALUE, FakeKubelet
from k8s_cluster import Cluster, cluster, cogpak
from lightkube import ApiError, KubeConfig
from lightkube.resources.core_v1 import Node, Pod, Secret
from msgspec import structs

from mentatlab.engine.drivers.kubernetes.connections import cluster_client

AGENT = """
    import sys
    data = sys.stdin.read()
    print("got " + data.strip(), flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    sys.exit(int(data.strip() or 0))
"""


async def make_pod(c: Cluster, name: str, stdin: str, *, node_name: str | None = None) -> None:
    """A pod of the agent with ``stdin``; scheduled to the cluster's kubelet, or bound to
    ``node_name`` directly."""
    placement = (
        {"nodeName": node_name}
        if node_name
        else {"nodeSelector": {FAKE_KUBELET_LABEL: FAKE_KUBELET_VALUE}}
    )
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
                    **placement,
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


class ApiProxy:
    """A TCP relay to the API server that can be cut: every connection dropped, new ones
    refused, until it is restored on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in self._links:
            writer.transport.abort()
        await server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self._links.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._links.difference_update((writer, up_writer))


@contextlib.asynccontextmanager
async def kubelet_behind_proxy(
    c: Cluster, image: Path
) -> AsyncIterator[tuple[FakeKubelet, ApiProxy]]:
    config = KubeConfig.from_file(os.environ["KUBECONFIG"]).get()
    assert config is not None
    server = urlsplit(config.cluster.server)
    assert server.hostname is not None and server.port is not None
    proxy = ApiProxy(server.hostname, server.port)
    await proxy.start()
    proxied = config._replace(
        cluster=structs.replace(config.cluster, server=f"https://127.0.0.1:{proxy.port}")
    )
    client = cluster_client(proxied)
    try:
        async with FakeKubelet(client, images={"test/exit:1": image}) as kubelet:
            yield kubelet, proxy
    finally:
        await client.close()
        await proxy.cut()


def test_pod_status_reaches_the_api_server_after_an_outage(tmp_path: Path) -> None:
    """A kubelet keeps retrying its status updates: an agent that ends while the API server
    cannot be reached still has its pod Succeeded once it can."""
    go = tmp_path / "go"
    source = f"""
        import pathlib, sys, time
        sys.stdin.read()
        while not pathlib.Path({str(go)!r}).exists():
            time.sleep(0.05)
    """

    async def scenario() -> None:
        async with (
            cluster({}) as c,
            kubelet_behind_proxy(c, cogpak(tmp_path / "wait", source)) as (kubelet, proxy),
        ):
            await make_pod(c, "patient", "", node_name=kubelet.node_name)
            await wait_phase(c, "patient", {"Running"})
            await proxy.cut()
            go.touch()  # the agent ends now: its final status finds no API server
            await asyncio.sleep(2)
            pod = await c.client.get(Pod, "patient", namespace=c.namespace)
            assert pod.status is not None and pod.status.phase == "Running"
            await proxy.start()
            done = await wait_phase(c, "patient", {"Succeeded", "Failed"})
            assert done.status is not None and done.status.phase == "Succeeded"

    asyncio.run(scenario())
